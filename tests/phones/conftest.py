"""Stores for the shared suite: memory, a real SQLite file, a real PostgreSQL.

PostgreSQL isolation: each test that needs an empty schema gets its own database
(``fresh_postgres_db``, CREATE/DROP DATABASE: about 50 ms); the store suite shares
one migrated database per session and truncates it before each test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import PhoneStore

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _create_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"pbx_t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(db_url: str) -> None:
    url = make_url(db_url)
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    url = _create_database(postgres_url)
    yield url
    _drop_database(url)


@pytest.fixture(scope="session")
def migrated_postgres_db(postgres_url: str) -> Iterator[str]:
    """One database at the newest revision, shared by the store suite."""
    url = _create_database(postgres_url)
    upgrade_to_head(url)
    yield url
    _drop_database(url)


def sql_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the given backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'pbx.db'}"
        upgrade_to_head(url)
        return url
    url = str(request.getfixturevalue("migrated_postgres_db"))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE registered_phones RESTART IDENTITY"))
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PhoneStore]:
    """An empty store of each kind."""
    backend: str = request.param
    s: PhoneStore
    if backend == "memory":
        s = MemoryPhoneStore()
    else:
        s = SqlPhoneStore(sql_url(backend, request, tmp_path))
    yield s
    asyncio.run(s.close())


@pytest.fixture(params=SQL_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty SQLite file or PostgreSQL database."""
    return sql_url(request.param, request, tmp_path)
