"""``verify-database``: is the configured database usable by pbx, and if not, what to do.

One line per check, ``OK`` or ``FAIL`` with the fix to try (or ``SKIP`` when an
earlier failure makes the check meaningless); exit status 0 when healthy. Only the
driver of the configured backend is checked, so a SQLite install never needs
psycopg. Nothing is changed: SQLite files are never created, and the write test
runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, func, inspect, make_url, select
from sqlalchemy.engine import URL

from pbx.phones.models import registered_phones as T
from pbx.phones.sql import current_revision, head_revision, make_engine

DRIVERS = {"sqlite": "sqlite3", "postgresql": "psycopg"}
LATER = [
    "migrations",
    "table registered_phones",
    "unique (mac, extension)",
    "unique (ip, extension)",
    "row counts",
    "write/read round trip",
]


class CheckFailed(Exception):
    """A check's verdict: ``detail`` says what is wrong, ``fix`` what to try."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


@dataclass
class _Report:
    out: TextIO
    failures: int = 0

    def line(self, status: str, name: str, text: str) -> None:
        self.out.write(f"{status:<5} {name:<24} {text}\n")

    def run(self, name: str, check: Callable[[], str]) -> bool:
        try:
            detail = check()
        except CheckFailed as e:
            self.failures += 1
            self.line("FAIL", name, f"{e.detail} -> fix: {e.fix}")
            return False
        except Exception as e:  # a check must report, never crash the report
            self.failures += 1
            self.line("FAIL", name, f"{type(e).__name__}: {_first_line(e)} -> fix: see the error")
            return False
        self.line("OK", name, detail)
        return True

    def skip(self, name: str, why: str) -> None:
        self.line("SKIP", name, why)


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def verify(url: str, out: TextIO) -> int:
    """Check the database at ``url`` and print the report; 0 healthy, 1 otherwise."""
    report = _Report(out)
    try:
        parsed = make_url(url)
    except Exception as e:
        report.line(
            "FAIL",
            "url",
            f"{_first_line(e)} -> fix: give sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/NAME",
        )
        return 1
    out.write(f"Checking {parsed.render_as_string(hide_password=True)}\n")
    backend = parsed.get_backend_name()
    if not report.run("driver", lambda: _driver(backend)):
        return _skip_rest(report, ["connection", *LATER], "the driver is missing")
    engine = make_engine(url)
    try:
        conn: Connection | None = None

        def connect() -> str:
            nonlocal conn
            conn = _connect(engine, parsed)
            return _server(conn)

        if not report.run("connection", connect) or conn is None:
            return _skip_rest(report, LATER, "no connection")
        with conn:
            _connected_checks(report, conn)
    finally:
        engine.dispose()
    verdict = "healthy" if report.failures == 0 else f"{report.failures} problem(s)"
    out.write(f"Result: {verdict}\n")
    return 0 if report.failures == 0 else 1


def _connected_checks(report: _Report, conn: Connection) -> None:
    report.run("migrations", lambda: _migrations(conn))
    table_ok = report.run("table registered_phones", lambda: _columns(conn))
    names = [
        ("unique (mac, extension)", ("mac_address", "extension_number")),
        ("unique (ip, extension)", ("ip_address", "extension_number")),
    ]
    for name, cols in names:
        if table_ok:
            report.run(name, functools.partial(_unique, conn, cols))
        else:
            report.skip(name, "no usable table")
    if table_ok:
        report.run("row counts", lambda: _counts(conn))
        report.run("write/read round trip", lambda: _round_trip(conn))
    else:
        report.skip("row counts", "no usable table")
        report.skip("write/read round trip", "no usable table")


def _skip_rest(report: _Report, names: list[str], why: str) -> int:
    for name in names:
        report.skip(name, why)
    report.out.write(f"Result: {report.failures} problem(s)\n")
    return 1


def _driver(backend: str) -> str:
    module = DRIVERS.get(backend)
    if module is None:
        raise CheckFailed(
            f"unsupported database type {backend!r}", "set database.type to sqlite or postgresql"
        )
    try:
        mod: Any = importlib.import_module(module)
    except ImportError as e:
        package = "psycopg[binary]" if module == "psycopg" else "a Python built with sqlite3"
        raise CheckFailed(f"cannot import {module}: {e}", f"install {package}") from e
    version = getattr(mod, "sqlite_version", None) or getattr(mod, "__version__", "?")
    return f"{module} {version}"


def _connect(engine: Engine, url: URL) -> Connection:
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        real_file = path and path != ":memory:" and not path.startswith("file:")
        if real_file and not Path(path).exists():
            raise CheckFailed(
                f"database file {path} does not exist",
                "start pbx once (it creates and migrates the file), or fix "
                "database.path (relative to the config file's folder)",
            )
    try:
        return engine.connect()
    except Exception as e:
        if url.get_backend_name() == "sqlite":
            fix = "check the file's permissions and that its folder is writable"
        else:
            fix = (
                f"is PostgreSQL running and listening on {url.host}:{url.port or 5432}? "
                "check database.host/port/name/user/password and pg_hba.conf"
            )
        raise CheckFailed(_first_line(e), fix) from e


def _server(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        version = str(conn.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
        return f"PostgreSQL {version}"
    mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
    return f"SQLite file, journal_mode={mode}"


def _migrations(conn: Connection) -> str:
    current, head = current_revision(conn), head_revision()
    if current != head:
        raise CheckFailed(
            f"database at revision {current or 'none'}, code expects {head}",
            "start pbx (it migrates at start-up) or run: .venv/bin/alembic "
            "-c migrations/alembic.ini -x url=URL upgrade head",
        )
    return f"at head ({head})"


def _columns(conn: Connection) -> str:
    insp = inspect(conn)
    if not insp.has_table(T.name):
        raise CheckFailed(
            "table registered_phones is missing", "start pbx once or run the migrations (see above)"
        )
    found = {c["name"]: c for c in insp.get_columns(T.name)}
    problems = []
    for col in T.columns:
        got = found.get(col.name)
        if got is None:
            problems.append(f"{col.name} missing")
            continue
        want_type = col.type.compile(dialect=conn.dialect)
        got_type = got["type"].compile(dialect=conn.dialect)
        if col.name != "id" and want_type != got_type:
            problems.append(f"{col.name} is {got_type}, expected {want_type}")
        if not col.primary_key and bool(got["nullable"]) != bool(col.nullable):
            problems.append(f"{col.name} {'allows' if got['nullable'] else 'refuses'} NULL")
    if problems:
        raise CheckFailed(
            "; ".join(problems), "the table was changed by hand: restore the documented schema"
        )
    return f"{len(T.columns)} columns as documented"


def _unique(conn: Connection, columns: tuple[str, str]) -> str:
    insp = inspect(conn)
    for u in insp.get_unique_constraints(T.name):
        if tuple(u["column_names"]) == columns:
            return f"present ({u['name'] or 'unnamed'})"
    for ix in insp.get_indexes(T.name):
        if ix["unique"] and tuple(ix["column_names"]) == columns:
            return f"present as unique index {ix['name']}"
    raise CheckFailed(
        f"no UNIQUE({', '.join(columns)})",
        "restore it, e.g. CREATE UNIQUE INDEX ON registered_phones "
        f"({', '.join(columns)}) after removing duplicates",
    )


def _counts(conn: Connection) -> str:
    total, with_mac, exts = conn.execute(
        select(
            func.count(), func.count(T.c.mac_address), func.count(T.c.extension_number.distinct())
        ).select_from(T)
    ).one()
    return f"{total} phones, {with_mac} with a MAC, {exts} extensions"


def _round_trip(conn: Connection) -> str:
    probe = {
        "extension_number": "__verify__",
        "ip_address": "verify-database",
        "user_agent": "pbx verify-database",
    }
    if conn.in_transaction():
        conn.rollback()  # end the read-only transaction the earlier checks began
    tx = conn.begin()
    try:
        new_id = conn.execute(T.insert().values(probe).returning(T.c.id)).scalar_one()
        got = conn.execute(select(T.c.user_agent).where(T.c.id == new_id)).scalar_one()
        if got != probe["user_agent"]:
            raise CheckFailed(f"read back {got!r}", "check for triggers rewriting rows")
    except CheckFailed:
        raise
    except Exception as e:
        raise CheckFailed(
            _first_line(e),
            "check that the file/user may INSERT into "
            "registered_phones (permissions, read-only mount, GRANT)",
        ) from e
    finally:
        tx.rollback()
    return "insert + select inside a rolled-back transaction"
