"""A real PostgreSQL for the tests that need one.

``postgres_url`` (session) is, in order: ``--postgres-url``, env
``PBX_TEST_POSTGRES_URL``, or a throw-away cluster started with
``scripts/pg-test-cluster.sh`` on a free port in a temporary folder and stopped at
the end. Without PostgreSQL binaries the fixture fails with the fix to apply; it
skips instead only when ``PBX_ALLOW_SKIP_POSTGRES=1`` and ``CI`` is not set, so a
CI run can never pass by silently skipping the database.

``postgres_cluster.stopped()`` stops the server for the duration of a ``with``
block (tests of the fallback to memory) and starts it again afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres-url",
        default=None,
        help="use this PostgreSQL (SQLAlchemy URL) instead of a throw-away cluster",
    )


@dataclass
class PostgresCluster:
    """The PostgreSQL the tests use; ``folder`` is None for an external server."""

    url: str
    folder: Path | None = None
    port: int | None = None

    def _script(self, action: str) -> None:
        if self.folder is None:
            pytest.skip(
                "the PostgreSQL server is external (PBX_TEST_POSTGRES_URL): cannot stop or start it"
            )
        subprocess.run(
            [str(CLUSTER_SCRIPT), action, str(self.folder), str(self.port)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected)."""
        self._script("stop")

    def start(self) -> None:
        """Start it again on the same port with the same data."""
        self._script("start")

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block and back up after it, even on failure."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _have_binaries() -> bool:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"], "initdb").exists()
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or bool(shutil.which("initdb"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_cluster(request: pytest.FixtureRequest) -> Iterator[PostgresCluster]:
    url = request.config.getoption("--postgres-url") or os.environ.get("PBX_TEST_POSTGRES_URL")
    if url:
        yield PostgresCluster(url=url)
        return
    if not _have_binaries():
        message = (
            "PostgreSQL binaries (initdb, pg_ctl) are missing: install them with "
            "`apt-get install -y postgresql`, or point PBX_TEST_POSTGRES_URL at a server"
        )
        if os.environ.get("PBX_ALLOW_SKIP_POSTGRES") == "1" and not os.environ.get("CI"):
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="pbx-pg-"))
    cluster = PostgresCluster(url="", folder=folder, port=_free_port())
    proc = subprocess.run(
        [str(CLUSTER_SCRIPT), "start", str(folder), str(cluster.port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"could not start a test PostgreSQL cluster:\n{proc.stderr}", pytrace=False)
    cluster.url = proc.stdout.strip()
    try:
        yield cluster
    finally:
        subprocess.run(
            [str(CLUSTER_SCRIPT), "stop", str(folder), str(cluster.port)],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL of a running PostgreSQL with an (initially empty) database."""
    return postgres_cluster.url
