"""The systems under test, each started on 127.0.0.1 and stopped however a step ends.

``System`` is what the ladders need: where to send SIP and which process tree to
measure. pbx runs as ``pbx serve --config FILE`` (the operator's command), Kamailio in
the foreground with its workers as children, PostgreSQL as a throw-away cluster from
scripts/pg-test-cluster.sh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.kamailio import peer
from bench.users import Account, pbx_config

REPO = Path(__file__).resolve().parents[1]
PG_SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"
PBX_SQLITE = "pbx (SQLite)"
PBX_POSTGRES = "pbx (PostgreSQL)"
KAMAILIO = "Kamailio 5.6"
KAMAILIO_DURABLE = "Kamailio 5.6, write-through SQLite"
KAMAILIO_DURABLE_PG = "Kamailio 5.6, write-through PostgreSQL"
BARE = "bare uvloop loop (reference)"
BARE_COMMIT = "bare loop + SQLite commit (reference)"
#: Every system the bench can run, by the name its rows and folders carry.
NAMES = (
    PBX_SQLITE,
    PBX_POSTGRES,
    KAMAILIO,
    KAMAILIO_DURABLE,
    KAMAILIO_DURABLE_PG,
    BARE,
    BARE_COMMIT,
)


@dataclass(frozen=True)
class System:
    """A running registrar: its name in the table, SIP address and measured process."""

    name: str
    host: str
    port: int
    pid: int
    log: Path
    also: tuple[int, ...] = ()
    """Other process trees whose CPU counts as the system's (pbx's PostgreSQL server)."""


def pbx_binary() -> str:
    """The venv's ``pbx`` script, next to the Python running the harness."""
    candidate = Path(sys.executable).with_name("pbx")
    return str(candidate) if candidate.exists() else shutil.which("pbx") or "pbx"


@contextlib.contextmanager
def pbx(
    name: str,
    folder: Path,
    users: list[Account],
    database: dict[str, object],
    *,
    api_port: int | None = None,
    clear_on_boot: bool = True,
    also: tuple[int, ...] = (),
    workers: int = 1,
) -> Iterator[System]:
    """``pbx serve`` with these accounts and database, until the block ends (its SIP
    worker processes count as pbx: CPU is measured over the whole process tree)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    config = pbx_config(
        folder / "config.yml",
        sip_port=port,
        database=database,
        users=users,
        api_port=api_port,
        clear_on_boot=clear_on_boot,
        workers=workers,
    )
    log = folder / "pbx.log"
    with procs.running([pbx_binary(), "serve", "--config", str(config)], log, cwd=folder) as proc:
        procs.wait_sip_ready(proc, "127.0.0.1", port, log)
        yield System(name, "127.0.0.1", port, proc.pid, log, also)


@contextlib.contextmanager
def kamailio(
    folder: Path,
    users: list[Account],
    *,
    durable: bool = False,
    postgres: tuple[str, int] | None = None,
) -> Iterator[System]:
    """Kamailio 5.6 with the same accounts: usrloc db_mode=2 on SQLite, the peer, or
    with ``durable`` db_mode=1, each binding in the database before its 200 OK (pbx's
    promise), on SQLite or on ``postgres`` (URL and postmaster pid of a running
    server, whose CPU then counts as Kamailio's, as it does for pbx)."""
    db_mode = peer.WRITE_THROUGH if durable else peer.WRITE_BACK
    command, port = peer.prepare(folder, users, db_mode, postgres[0] if postgres else None)
    name = (KAMAILIO_DURABLE_PG if postgres else KAMAILIO_DURABLE) if durable else KAMAILIO
    also = (postgres[1],) if postgres else ()
    log = folder / "kamailio.log"
    with procs.running(command, log, cwd=folder) as proc:
        procs.wait_sip_ready(proc, "127.0.0.1", port, log)
        yield System(name, "127.0.0.1", port, proc.pid, log, also)


@contextlib.contextmanager
def bare(
    folder: Path, users: list[Account], name: str = BARE, *, commit: bool = False
) -> Iterator[System]:
    """The bare uvloop reference loop (``bench/bare.py``) with the same accounts; with
    ``commit``, each 200 held until its row is committed to a SQLite file."""
    folder.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    log = folder / "bare.log"
    command = [sys.executable, "-m", "bench.bare", "--port", str(port), "--users", str(len(users))]
    if commit:
        command += ["--commit", str(folder / "bare.db")]
    with procs.running(command, log, cwd=REPO) as proc:
        procs.wait_sip_ready(proc, "127.0.0.1", port, log)
        yield System(name, "127.0.0.1", port, proc.pid, log)


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    """A throw-away PostgreSQL cluster; yields its SQLAlchemy URL and postmaster pid,
    and removes it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="pbx-bench-pg-"))
    port = procs.free_port()
    args = [str(PG_SCRIPT), "start", str(folder), str(port)]
    # fsync on: a 200 OK from pbx on PostgreSQL must mean a durable row, as on SQLite.
    env = {**os.environ, "PG_DURABLE": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"cannot start PostgreSQL:\n{proc.stderr}")
        postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        yield proc.stdout.strip(), postmaster
    finally:
        subprocess.run(
            [str(PG_SCRIPT), "stop", str(folder), str(port)], capture_output=True, timeout=60
        )
        shutil.rmtree(folder, ignore_errors=True)


def pg_settings(url: str) -> dict[str, object]:
    """pbx's ``database`` section for the cluster's URL (trust auth: any password)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "type": "postgresql",
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "name": parsed.database or "pbx_test",
        "user": parsed.username or "postgres",
        "password": "bench",
    }
