"""The sans-IO SIP core (standard library only); compiled by ``make core`` (see
``pbx``)."""
