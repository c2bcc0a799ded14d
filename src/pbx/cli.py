"""The ``pbx`` command: serve, check-config, verify-database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pbx.config import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx", description="SIP registrar and phone inventory")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("serve", "run the registrar (SIP) and the HTTP API"),
        ("check-config", "validate a configuration file and exit"),
        ("verify-database", "diagnose the configured database"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", type=Path, default=Path("config.yml"), help="config.yml path")
    return parser


def _load(path: Path) -> Settings | None:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"pbx: invalid configuration: {exc}", file=sys.stderr)
        return None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (it is a dependency on Linux), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(main)
    else:
        uvloop.run(main)


def configure_logging(level: str) -> None:
    """Log lines to stderr, for ``pbx`` and for its SIP worker processes alike."""
    # The documented logging optimisations: no caller, thread or process lookups per
    # record (a line per registration event is logged on the SIP path).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin it loads at INFO; one line from us says enough.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a bad configuration)."""
    args = _parser().parse_args(argv)
    settings = _load(args.config)
    if settings is None:
        return 2
    if args.command == "check-config":
        print(f"{args.config}: OK ({len(settings.extensions)} extensions)")
        return 0
    configure_logging(settings.logging.level)
    if args.command == "verify-database":
        from pbx.phones.verify import verify

        url = settings.database.url(args.config.resolve().parent)
        return int(verify(url, sys.stdout))
    from pbx.app import ServiceFailed, serve

    try:
        _run_loop(serve(settings, args.config))
    except OSError as exc:
        print(f"pbx: cannot start: {exc}", file=sys.stderr)
        return 1
    except ServiceFailed as exc:
        print(f"pbx: stopped: {exc}", file=sys.stderr)
        return 1
    return 0
