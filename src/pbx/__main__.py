"""Allow ``python -m pbx``."""

from pbx.cli import main

# Guarded: SIP worker processes (spawned) import the parent's main module again.
if __name__ == "__main__":
    raise SystemExit(main())
