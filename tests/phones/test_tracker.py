"""The tracker: registrar events -> committed rows, group commit, memory fallback and
write-back, against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import PhoneStore, Sighting
from pbx.phones.tracker import BUSY_BATCH, TrackedStore, Tracker, sighting_from
from pbx.sip.events import Registered, Source


def registered(
    extension: str,
    ip: str,
    *,
    mac: str | None = None,
    user_agent: str | None = "TestPhone/1.0",
    contact: str | None = None,
) -> Registered:
    contact = contact or f"<sip:{extension}@{ip}:5060>"
    if mac:
        contact += f";mac={mac}"
    headers: tuple[tuple[str, str], ...] = (("contact", contact),)
    if user_agent:
        headers += (("user-agent", user_agent),)
    return Registered(
        extension=extension,
        source=Source(ip, 5060, "udp"),
        user_agent=user_agent,
        contacts=(contact,),
        at=0.0,
        headers=headers,
    )


def opener(url: str) -> Callable[[], Awaitable[PhoneStore]]:
    async def open_store() -> PhoneStore:
        await asyncio.get_running_loop().run_in_executor(None, upgrade_to_head, url)
        store = SqlPhoneStore(url)
        await store.count()
        return store

    return open_store


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_sighting_takes_source_ip_contact_as_sent_and_mac() -> None:
    from datetime import UTC, datetime

    event = registered("1001", "127.0.0.5", mac="00-15-65-12-34-56", user_agent="Yealink")
    sighting = sighting_from(event, datetime(2026, 1, 1, tzinfo=UTC))
    assert sighting == Sighting(
        extension="1001",
        ip_address="127.0.0.5",
        mac_address="001565123456",
        user_agent="Yealink",
        contact_uri="<sip:1001@127.0.0.5:5060>;mac=00-15-65-12-34-56",
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_group_commit_and_boot_cleanup(tmp_path: Path, caplog: Any) -> None:
    url = f"sqlite:///{tmp_path / 'pbx.db'}"

    async def main() -> None:
        # A previous run left a row: the boot cleanup removes it.
        first = Tracker(opener(url))
        await first.start()
        await asyncio.wait_for(first.submit((registered("9999", "127.0.0.9"),)) or _done(), 10)
        await first.close()

        caplog.set_level(logging.INFO, logger="pbx.phones")
        tracker = Tracker(opener(url))
        await tracker.start()
        assert "boot cleanup: removed 1 rows" in caplog.text
        waiters = [tracker.submit((registered(str(1000 + i), "127.0.0.2"),)) for i in range(300)]
        await asyncio.wait_for(asyncio.gather(*[w for w in waiters if w is not None]), 20)
        assert tracker.state == "connected"
        # 300 registrations submitted in one go share a handful of transactions.
        assert tracker.committed == 300
        assert tracker.batches <= 3
        rows = await TrackedStore(tracker).list()
        assert sorted(r.extension_number for r in rows) == [str(1000 + i) for i in range(300)]
        await tracker.close()

    asyncio.run(main())


async def _done() -> None:
    return None


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_commit_delay_fills_batches_under_load_only(tmp_path: Path, delay: float) -> None:
    """After a commit that carried several phones, the next one waits ``commit_delay``
    for more; after a small commit, nothing waits."""
    url = f"sqlite:///{tmp_path / 'pbx.db'}"

    async def main() -> None:
        tracker = Tracker(opener(url), commit_delay=delay)
        await tracker.start()
        lone = tracker.submit((registered("1000", "127.0.0.2"),))
        assert lone is not None
        await asyncio.wait_for(lone, 10)
        # Several in one go: one busy batch, which marks the tracker as under load.
        burst = [
            tracker.submit((registered(str(1001 + i), "127.0.0.2"),)) for i in range(BUSY_BATCH)
        ]
        await asyncio.wait_for(asyncio.gather(*[w for w in burst if w is not None]), 10)
        assert tracker.batches == 2
        # One phone, then (once the writer has woken) another: with a delay the second
        # joins the first one's batch, without one it needs a commit of its own.
        first = tracker.submit((registered("1100", "127.0.0.2"),))
        for _ in range(5):
            await asyncio.sleep(0)
        second = tracker.submit((registered("1101", "127.0.0.2"),))
        await asyncio.wait_for(asyncio.gather(*[w for w in (first, second) if w]), 10)
        assert tracker.committed == 3 + BUSY_BATCH
        assert tracker.batches == (3 if delay else 4)
        # That batch carried two: not busy, so the next lone phone does not wait.
        third = tracker.submit((registered("1102", "127.0.0.2"),))
        for _ in range(5):
            await asyncio.sleep(0)
        fourth = tracker.submit((registered("1103", "127.0.0.2"),))
        await asyncio.wait_for(asyncio.gather(*[w for w in (third, fourth) if w]), 10)
        assert tracker.batches == (5 if delay else 6)
        await tracker.close()

    asyncio.run(main())


def test_database_missing_at_startup_then_appearing(tmp_path: Path) -> None:
    """A SQLite file in a folder that does not exist yet cannot be opened; tracking goes
    on in memory and is written back once the folder (the 'database') appears."""
    folder = tmp_path / "later"
    url = f"sqlite:///{folder / 'pbx.db'}"

    async def main() -> None:
        tracker = Tracker(opener(url), retry_initial=0.05, retry_max=0.2)
        await tracker.start()
        assert tracker.state == "fallback"
        waiter = tracker.submit((registered("1001", "127.0.0.2", mac="001565aabbcc"),))
        assert waiter is not None
        await asyncio.wait_for(waiter, 5)  # answered although no database is there
        view = TrackedStore(tracker)
        assert [r.extension_number for r in await view.list()] == ["1001"]
        assert tracker.pending == 1
        folder.mkdir()
        await wait_for(lambda: tracker.state == "connected")
        assert tracker.pending == 0
        rows = await view.list()
        assert [(r.extension_number, r.mac_address) for r in rows] == [("1001", "001565aabbcc")]
        await tracker.close()

    asyncio.run(main())


@pytest.mark.postgres
def test_postgres_lost_and_restored_without_duplicates(postgres_cluster: Any) -> None:
    """Stop the real PostgreSQL server mid-run: registrations are still answered and
    tracked in memory; after the restart they are written back exactly once."""
    url = postgres_cluster.url

    async def main() -> None:
        tracker = Tracker(opener(url), retry_initial=0.1, retry_max=0.5)
        await tracker.start()
        assert tracker.state == "connected"
        view = TrackedStore(tracker)
        await asyncio.wait_for(
            tracker.submit((registered("2001", "127.0.0.2", mac="001565000001"),)) or _done(), 10
        )
        await asyncio.get_running_loop().run_in_executor(None, postgres_cluster.stop)
        try:
            for i in range(2, 6):
                event = registered(f"200{i}", f"127.0.0.{i}", mac=f"00156500000{i}")
                waiter = tracker.submit((event,))
                assert waiter is not None
                await asyncio.wait_for(waiter, 15)
            # The phone on 2001 re-registers from a new IP during the outage.
            again = registered("2001", "127.0.0.77", mac="001565000001")
            await asyncio.wait_for(tracker.submit((again,)) or _done(), 15)
            assert tracker.state == "fallback"
            health_rows = await view.list()
            assert {r.extension_number for r in health_rows} >= {"2002", "2005"}
        finally:
            await asyncio.get_running_loop().run_in_executor(None, postgres_cluster.start)
        await wait_for(lambda: tracker.state == "connected", timeout=30)
        rows = await view.list()
        by_ext = {r.extension_number: r for r in rows}
        assert len(rows) == 5 == len(by_ext)  # no duplicates
        assert by_ext["2001"].ip_address == "127.0.0.77"  # kept its row, moved IP
        assert by_ext["2003"].mac_address == "001565000003"
        await tracker.close()

    asyncio.run(main())
