"""`make bench`: registration throughput of pbx against Kamailio 5.6 (see README.md)."""
