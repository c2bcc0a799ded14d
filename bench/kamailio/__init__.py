"""Kamailio 5.6 as the peer registrar: its configuration and database."""
