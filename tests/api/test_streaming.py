"""Listings stream: large inventories arrive complete, and the first rows leave the
server before the store has produced the last ones."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import httpx2
from fastapi.testclient import TestClient

from pbx.api.app import create_app
from pbx.api.status import StaticStatus
from pbx.api.stream import CHUNK_ROWS
from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.store import ALL, PhoneFilter, PhoneRecord, PhoneStore, Sighting
from tests.api.conftest import PHONE_KEYS, T0, seed, serving

LIST = "/api/registered-phones"


def many(n: int) -> list[Sighting]:
    """``n`` distinct phones, phone i registered at T0 + i seconds."""
    return [
        Sighting(
            extension=str(20000 + i),
            ip_address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            mac_address=f"02{i:010x}",
            user_agent=f"Bulk/1.0 \u00e9 #{i}",
            contact_uri=f"sip:{20000 + i}@10.0.0.1",
            at=T0 + timedelta(seconds=i),
        )
        for i in range(n)
    ]


def test_five_thousand_rows_arrive_complete_and_parse(
    client: TestClient, store: PhoneStore, status: StaticStatus
) -> None:
    n = 5000
    seed(store, many(n))
    status.bind("20042", "10.0.0.42", T0 + timedelta(days=1))
    response = client.get(LIST)
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == n
    assert len({row["id"] for row in rows}) == n
    assert all(list(row) == PHONE_KEYS for row in rows)
    # Newest first: phone n-1 registered last.
    assert [row["extension_number"] for row in rows[:3]] == ["24999", "24998", "24997"]
    assert rows[-1]["extension_number"] == "20000"
    assert rows[-1]["user_agent"] == "Bulk/1.0 \u00e9 #0"
    assert [row["extension_number"] for row in rows if row["registered"]] == ["20042"]
    live = client.get(LIST, params={"stale": "false"}).json()
    assert [row["ip_address"] for row in live] == ["10.0.0.42"]


class GatedStore:
    """A real ``PhoneStore`` (a ``MemoryPhoneStore`` underneath) whose listing stops
    after ``open_rows`` rows until ``gate`` is set, like a slow database page."""

    def __init__(self, inner: MemoryPhoneStore, open_rows: int) -> None:
        self.inner = inner
        self.open_rows = open_rows
        self.gate = threading.Event()

    async def record(self, sightings: Sequence[Sighting]) -> None:
        await self.inner.record(sightings)

    async def clear(self) -> int:
        return await self.inner.clear()

    async def list(self, filter: PhoneFilter = ALL) -> list[PhoneRecord]:
        return [r async for r in self.iter(filter)]

    async def iter(self, filter: PhoneFilter = ALL, batch: int = 500) -> AsyncIterator[PhoneRecord]:
        async for n, record in _enumerate(self.inner.iter(filter, batch)):
            if n == self.open_rows:
                await asyncio.to_thread(self.gate.wait, 60)
            yield record

    async def count(self) -> int:
        return await self.inner.count()

    async def close(self) -> None:
        await self.inner.close()


async def _enumerate(rows: AsyncIterator[PhoneRecord]) -> AsyncIterator[tuple[int, PhoneRecord]]:
    n = 0
    async for row in rows:
        yield n, row
        n += 1


def test_first_rows_are_sent_while_the_store_is_still_reading(status: StaticStatus) -> None:
    total = 3 * CHUNK_ROWS
    inner = MemoryPhoneStore()
    seed(inner, many(total))
    store = GatedStore(inner, open_rows=CHUNK_ROWS + 10)
    try:
        with (
            serving(create_app(store, status)) as url,
            httpx2.Client(timeout=30) as http,
            http.stream("GET", url + LIST) as response,
        ):
            assert response.status_code == 200
            # A streamed body: chunked transfer, no length known in advance.
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            chunks = response.iter_raw()
            received = b""
            while received.count(b'"extension_number"') < CHUNK_ROWS:
                received += next(chunks)
            # The store is still held at its gate: these rows were sent before
            # the listing was complete (a buffered response would time out here).
            assert not store.gate.is_set()
            assert received.startswith(b"[")
            store.gate.set()
            received += b"".join(chunks)
        rows = json.loads(received)
        assert len(rows) == total
        assert rows[0]["extension_number"] == str(20000 + total - 1)
    finally:
        store.gate.set()
