"""Several SIP worker processes behind one port (``server.workers`` > 1)."""
