"""Allow ``python -m pbx``."""

from pbx.cli import main

raise SystemExit(main())
