"""pbx: a SIP registrar that keeps an inventory of every phone that registers."""

__version__ = "0.1.0"
