#!/usr/bin/env python3
"""Check that the configured database works for pbx; exit 0 when healthy.

    .venv/bin/python scripts/verify_database.py --config config.yml
    .venv/bin/python scripts/verify_database.py --url postgresql+psycopg://u:p@host:5432/db

It reads only the ``database:`` mapping of the config file, with PyYAML, on
purpose: it must still work when another part of the configuration is broken.
``PBX_DATABASE__<KEY>`` variables (``PBX_DATABASE__PASSWORD`` ...) override the file,
as they do for pbx itself. A SQLite ``path`` is relative to the config file's folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import URL

from pbx.phones.verify import verify

ENV_PREFIX = "PBX_DATABASE__"
DEFAULTS: dict[str, dict[str, Any]] = {
    "sqlite": {"path": "pbx.db"},
    "postgresql": {"host": "localhost", "port": 5432, "name": "pbx_system", "user": "pbx_user"},
}


def database_url(config: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The SQLAlchemy URL of the ``database:`` section, with environment overrides."""
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config}: expected a mapping at the top level")
    section = data.get("database") or {}
    if not isinstance(section, dict):
        raise ValueError(f"{config}: 'database' must be a mapping")
    db = {str(k).lower(): v for k, v in section.items()}
    for name, value in environ.items():
        if name.upper().startswith(ENV_PREFIX):
            db[name[len(ENV_PREFIX) :].lower()] = value
    kind = str(db.get("type", "sqlite")).lower()
    if kind not in DEFAULTS:
        raise ValueError(f"database.type must be sqlite or postgresql, not {kind!r}")
    db = {**DEFAULTS[kind], **db}
    if kind == "sqlite":
        path = str(db["path"])
        if path == ":memory:":
            return "sqlite:///:memory:"
        location = Path(path).expanduser()
        if not location.is_absolute():
            location = config.resolve().parent / location
        return f"sqlite:///{location}"
    if db.get("password") is None:
        raise ValueError("database.password is missing: set PBX_DATABASE__PASSWORD")
    url = URL.create(
        "postgresql+psycopg",
        username=str(db["user"]),
        password=str(db["password"]),
        host=str(db["host"]),
        port=int(db["port"]),
        database=str(db["name"]),
    )
    return url.render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="pbx config.yml (its database: section)")
    source.add_argument("--url", help="a SQLAlchemy URL instead of a config file")
    args = parser.parse_args(argv)
    if args.url:
        url = args.url
    else:
        try:
            url = database_url(args.config)
        except (OSError, ValueError, yaml.YAMLError) as e:
            print(f"FAIL  config                   {e}", file=sys.stdout)
            return 1
    return verify(url, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
