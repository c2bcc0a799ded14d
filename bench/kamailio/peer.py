"""Prepare and start Kamailio with the bench's accounts.

Why a fresh SQLite file per run: usrloc with db_mode=2 preloads the ``location`` table
at start-up, so a file left from an earlier run would change what is measured. The
tables come from the schema files the Debian package ships, so they match the module
versions Kamailio checks in the ``version`` table.
"""

from __future__ import annotations

import glob
import shutil
import sqlite3
import subprocess
from pathlib import Path

from bench import procs
from bench.users import REALM, Account

HERE = Path(__file__).resolve().parent
SCHEMA = Path("/usr/share/kamailio/db_sqlite")
PG_SCHEMA = Path("/usr/share/kamailio/postgres")
WORKERS = 4
"""UDP workers (``children`` in kamailio.cfg) of the write-back peer."""
WRITE_BACK = 2
"""usrloc ``db_mode``: bindings in memory, written to SQLite every 10 s (the peer)."""
WRITE_THROUGH = 1
"""usrloc ``db_mode``: each binding written to SQLite before its 200 OK, as pbx does."""


def modules_dir() -> str:
    """Where Debian put the modules (the multiarch triplet varies)."""
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules"))
    if not found:
        raise RuntimeError("Kamailio modules not found: run scripts/install-bench-deps.sh")
    return found[0] + "/"


def make_database(path: Path, users: list[Account]) -> str:
    """A SQLite file with version, subscriber (plain-text passwords) and location;
    returns its ``db_url``."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")  # readers (auth_db) never wait for usrloc
        for name in ("standard", "auth_db", "usrloc"):
            db.executescript((SCHEMA / f"{name}-create.sql").read_text())
        db.executemany(
            "INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
            [(u.number, REALM, u.password) for u in users],
        )
    db.close()
    return f"sqlite://{path.resolve()}"


def make_pg_database(server: str, users: list[Account]) -> str:
    """The same tables in a database ``kamailio`` of a running PostgreSQL server
    (``server``: a SQLAlchemy URL of any database on it, trust auth); returns the
    ``db_url`` Kamailio connects with."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    user = url.username or "postgres"
    where = f"host={url.host} port={url.port} user={user}"
    with psycopg.connect(f"{where} dbname={url.database}", autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS kamailio")
        admin.execute("CREATE DATABASE kamailio")
    with psycopg.connect(f"{where} dbname=kamailio") as db:
        for name in ("standard", "auth_db", "usrloc"):
            db.execute((PG_SCHEMA / f"{name}-create.sql").read_text().encode())
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO subscriber (username, domain, password) VALUES (%s, %s, %s)",
                [(u.number, REALM, u.password) for u in users],
            )
    return f"postgres://{user}@{url.host}:{url.port}/kamailio"


def config_text(db_url: str, port: int, modules: str, db_mode: int, workers: int) -> str:
    """kamailio.cfg with the port, database, realm, module path, usrloc mode and
    number of UDP workers filled in; the database module follows the URL's scheme."""
    text = (HERE / "kamailio.cfg").read_text()
    for key, value in {
        "@PORT@": str(port),
        "@DB_URL@": db_url,
        "@DB_MODULE@": "db_postgres.so" if db_url.startswith("postgres:") else "db_sqlite.so",
        "@REALM@": REALM,
        "@MODULES@": modules,
        "@DB_MODE@": str(db_mode),
        "@CHILDREN@": str(workers),
    }.items():
        text = text.replace(key, value)
    return text


def command(config: Path, runtime: Path) -> list[str]:
    """Foreground Kamailio (-DD: the main process stays ours, workers are its children)."""
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    return [
        binary, "-f", str(config), "-DD", "-E",
        "-M", "64",  # private memory per process, MB: FIELD-NOTES
        "-m", "256",  # shared memory, MB: 10,000+ contacts and nonce arrays
        "-Y", str(runtime), "-P", str(runtime / "kamailio.pid"),
    ]  # fmt: skip


def check_config(config: Path, runtime: Path) -> None:
    """``kamailio -c``: fail early, with Kamailio's own words, on a bad configuration."""
    proc = subprocess.run(
        [*command(config, runtime), "-c"], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kamailio -c failed:\n{proc.stdout}{proc.stderr}")


def prepare(
    folder: Path, users: list[Account], db_mode: int = WRITE_BACK, postgres: str | None = None
) -> tuple[list[str], int]:
    """Database, configuration and command line; returns (command, port).

    With ``postgres`` (a server's URL) the tables go there, else into a SQLite file.
    Write-through on SQLite runs one worker: Kamailio 5.6's db_sqlite sets no busy
    timeout, so with four workers every write that met another's lock failed at once
    ("database is locked", a 500 to the phone: 37% of the registrations at 1,000/s on
    11-29). PostgreSQL takes the four workers' writes side by side.
    """
    folder.mkdir(parents=True, exist_ok=True)
    runtime = folder / "run"
    runtime.mkdir(exist_ok=True)
    port = procs.free_port()
    if postgres is not None:
        db_url, workers = make_pg_database(postgres, users), WORKERS
    else:
        db_url = make_database(folder / "kamailio.sqlite", users)
        workers = WORKERS if db_mode == WRITE_BACK else 1
    config = folder / "kamailio.cfg"
    config.write_text(config_text(db_url, port, modules_dir(), db_mode, workers))
    check_config(config, runtime)
    return command(config, runtime), port
