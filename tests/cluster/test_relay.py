"""The two ends of group commit across processes, on a real socketpair in one loop:
a worker's answers wait for the main process's ``committed``, and the main process
says ``committed`` only once the rows are in the database (a real SQLite file)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pbx.cluster.supervisor import Cluster, WorkerHandle
from pbx.cluster.wire import Link, open_link
from pbx.cluster.worker import CommitRelay
from pbx.config import Settings
from pbx.phones.tracker import Tracker, sightings_of
from pbx.sip.registrar import Registrar
from tests.phones.test_tracker import opener, registered, wait_for
from tests.sip.test_registrar import Phone, make_registrar


async def _pair(
    on_near: Callable[[tuple[Any, ...]], None] = lambda m: None,
) -> tuple[Link, Link, list[tuple[Any, ...]]]:
    """Two linked ends; what arrives at the far one is collected."""
    a, b = socket.socketpair()
    received: list[tuple[Any, ...]] = []
    near = await open_link(a, on_near, lambda: None)
    far = await open_link(b, received.append, lambda: None)
    return near, far, received


async def _relay() -> tuple[CommitRelay, Registrar, Link, list[tuple[Any, ...]], Link]:
    """A relay on one end of a link; the far end collects what it sends, and the
    ``committed`` answers sent back reach the relay."""
    registrar = make_registrar()
    holder: list[CommitRelay] = []
    near, far, received = await _pair(lambda m: holder[0].committed(m[1]))
    holder.append(CommitRelay(near, registrar))
    return holder[0], registrar, far, received, near


def test_worker_answers_wait_for_committed_and_live_bindings_travel_with_them() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        relay, registrar, far, received, near = await _relay()
        phone = Phone(registrar, host="192.0.2.7", port=5062)
        result = phone.register(loop.time(), expires=600)
        assert result.status == 200
        waiter = relay.submit(tuple(result.events))
        assert waiter is not None
        await wait_for(lambda: bool(received))
        ((kind, sequence, sightings, live),) = received
        assert kind == "batch"
        assert [s.extension for s in sightings] == [phone.user]
        expires = live[phone.user]["192.0.2.7"]
        assert abs(expires - (time.time() + 600)) < 5
        await asyncio.sleep(0.05)
        assert not waiter.done(), "an answer went out before its row was committed"
        far.send(("committed", sequence))
        await wait_for(waiter.done)

        relay.heartbeat()
        await wait_for(lambda: len(received) == 2)
        assert received[1] == ("beat", 1, 0, 0)  # bindings, passed on, taken over

        # A refused REGISTER carries no sighting: nothing to wait for.
        assert relay.submit(()) is None
        near.close()
        far.close()

    asyncio.run(main())


def test_one_batch_in_flight_the_next_fills_meanwhile() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        relay, registrar, far, received, near = await _relay()
        phones = [
            Phone(registrar, host="192.0.2.7", port=5062 + n, call_id=f"call-{n}") for n in range(4)
        ]
        first = relay.submit(tuple(phones[0].register(loop.time()).events))
        await wait_for(lambda: len(received) == 1)
        later = [relay.submit(tuple(p.register(loop.time()).events)) for p in phones[1:]]
        await asyncio.sleep(0.05)
        assert len(received) == 1, "a second batch went out while the first was in flight"
        assert len({id(w) for w in later}) == 1, "the waiting phones share one future"
        far.send(("committed", received[0][1]))
        assert first is not None
        await wait_for(first.done)
        await wait_for(lambda: len(received) == 2)
        assert [s.contact_uri for s in received[1][2]] == [p.contact for p in phones[1:]]
        assert later[0] is not None and not later[0].done()
        near.close()
        far.close()

    asyncio.run(main())


def test_main_process_acks_only_committed_rows(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "pbx.db"
        url = f"sqlite:///{path}"
        tracker = Tracker(opener(url))
        await tracker.start()
        near, far, received = await _pair()
        cluster = Cluster(Settings(), tracker)
        handle = WorkerHandle(0, None, asyncio.get_running_loop().create_future(), link=near)
        events = tuple(registered(str(1000 + n), "192.0.2.9") for n in range(5))
        # Another connection holds the write lock (within the busy timeout): the commit
        # waits, and so must the acknowledgement.
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            cluster.on_message(handle, ("batch", 1, sightings_of(events, datetime.now(UTC)), {}))
            await asyncio.sleep(0.3)
            assert received == [], "acknowledged before the rows were committed"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await wait_for(lambda: bool(received))
        assert received == [("committed", 1)]
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM registered_phones").fetchone() == (5,)
        await tracker.close()
        near.close()
        far.close()

    asyncio.run(main())
