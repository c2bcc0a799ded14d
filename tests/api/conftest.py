"""Fixtures for the API tests: real stores (memory, SQLite file), a fixed clock,
seeded phones, a TestClient and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pbx.api.app import create_app
from pbx.api.status import StaticStatus
from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import PhoneStore, Sighting

#: The clock of every StaticStatus in these tests.
NOW = datetime(2026, 11, 27, 16, 30, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 27, 16, 0, 0, tzinfo=UTC)

#: The users' table columns, in table order: the first keys of every phone object.
SEED_KEYS = [
    "id",
    "mac_address",
    "extension_number",
    "user_agent",
    "ip_address",
    "first_registered",
    "last_registered",
    "contact_uri",
]
PHONE_KEYS = [*SEED_KEYS, "registered", "expires_at"]


def seed(store: PhoneStore, sightings: Sequence[Sighting]) -> None:
    """Record sightings through the store's public API, in one batch."""
    asyncio.run(store.record(sightings))


def sighting(
    ext: str, ip: str, mac: str | None, at: datetime, ua: str | None = "Test/1.0"
) -> Sighting:
    host = f"[{ip}]" if ":" in ip else ip
    return Sighting(ext, ip, mac, ua, f"sip:{ext}@{host}:5060", at)


@dataclass(frozen=True)
class Phones:
    """The seeded inventory, named so tests read as prose.

    Listing order (newest last_registered first): polycom, grandstream, cisco, softphone.
    Live bindings at NOW: polycom and softphone; grandstream's has expired; cisco has none.
    """

    polycom: Sighting  # 1001, MAC, registered twice (first != last)
    grandstream: Sighting  # 1001 too, another MAC and IP
    cisco: Sighting  # 1003, fractional-second timestamp
    softphone: Sighting  # 1002, IPv6, no MAC

    @property
    def in_order(self) -> list[Sighting]:
        return [self.polycom, self.grandstream, self.cisco, self.softphone]


PHONES = Phones(
    polycom=sighting(
        "1001",
        "192.0.2.10",
        "0004f28e5a79",
        T0 + timedelta(minutes=1),
        "PolycomVVX-VVX_411-UA/5.9.5.0614_0004f28e5a79",
    ),
    grandstream=sighting(
        "1001", "192.0.2.11", "c074adca6f20", T0 + timedelta(seconds=30), "Grandstream HT802"
    ),
    cisco=sighting(
        "1003", "192.0.2.13", "001565123456", T0 + timedelta(seconds=20, microseconds=500000)
    ),
    softphone=sighting("1002", "2001:db8::12", None, T0 + timedelta(seconds=10), None),
)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; tests get copies (Alembic once, not per test)."""
    path = tmp_path_factory.mktemp("template") / "pbx.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["memory", "sqlite"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path
) -> Iterator[PhoneStore]:
    """An empty store of each kind the API may be given."""
    s: PhoneStore
    if request.param == "memory":
        s = MemoryPhoneStore()
    else:
        path = tmp_path / "pbx.db"
        shutil.copyfile(migrated_sqlite, path)
        s = SqlPhoneStore(f"sqlite:///{path}")
    yield s
    asyncio.run(s.close())


@pytest.fixture
def status() -> StaticStatus:
    return StaticStatus(
        sip={"status": "up", "transports": ["udp", "tcp"]},
        database={"status": "connected", "type": "sqlite", "pending": 0},
        clock=lambda: NOW,
    )


@pytest.fixture
def seeded(store: PhoneStore, status: StaticStatus) -> Phones:
    """PHONES recorded (polycom twice, the first time at T0) with their bindings."""
    first = sighting("1001", "192.0.2.10", "0004f28e5a79", T0, PHONES.polycom.user_agent)
    seed(store, [first, PHONES.softphone, PHONES.cisco, PHONES.grandstream, PHONES.polycom])
    status.bind("1001", "192.0.2.10", NOW + timedelta(minutes=5))
    status.bind("1002", "2001:db8::12", NOW + timedelta(seconds=90, microseconds=250000))
    status.bind("1001", "192.0.2.11", NOW - timedelta(seconds=1))
    return PHONES


@pytest.fixture
def app(store: PhoneStore, status: StaticStatus) -> FastAPI:
    return create_app(store, status)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 (free port) in a thread; yield its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def broken_store(tmp_path: Path) -> Iterator[PhoneStore]:
    """A real SQLite store whose database was never migrated: every read fails."""
    s = SqlPhoneStore(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    yield s
    asyncio.run(s.close())


@pytest.fixture
def broken_client(broken_store: PhoneStore, status: StaticStatus) -> Iterator[TestClient]:
    with TestClient(create_app(broken_store, status), raise_server_exceptions=False) as c:
        yield c
