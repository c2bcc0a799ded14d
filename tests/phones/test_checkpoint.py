"""SQLite checkpoints run on the checkpointer's thread, never inside the writer's commits
(``pbx.phones.checkpoint``), against a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import Sighting

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "pbx.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    return url, path


def _wal_frames(path: Path) -> int:
    """Frames the WAL file holds: a 32-byte header, then frames of 24 bytes and a page.
    (Asking SQLite would run a checkpoint.) After a checkpoint has copied every frame
    back, the next write starts the WAL again at frame 1, so the file stops growing."""
    conn = sqlite3.connect(path)
    try:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - 32) // (24 + page)


async def test_the_writers_commits_do_not_checkpoint_below_the_bound(tmp_path: Path) -> None:
    """1,500 commits, each at least one WAL frame: with SQLite's default automatic
    checkpoint (every 1,000 pages) the WAL would have been restarted by the writer;
    below the writer's bound, with the checkpointer idle, it keeps every frame."""
    url, path = _db(tmp_path)
    store = SqlPhoneStore(url, checkpoint_interval=3600)
    try:
        for i in range(1500):  # a new time each: an unchanged row writes no page
            at = T0 + timedelta(seconds=i)
            await store.record([Sighting(str(100 + i % 50), "10.0.0.1", None, None, None, at)])
        assert _wal_frames(path) >= 1500
        assert store.checkpointer is not None and store.checkpointer.checkpoints == 0
    finally:
        await store.close()


async def test_the_wal_stays_bounded_while_the_checkpointer_runs_beside_the_writer(
    tmp_path: Path,
) -> None:
    """Commits back to back with the checkpointer copying all the while: a checkpoint
    beside the writer never lets the WAL start over, so without the writer's own bound
    it grows with every commit (1,200 frames here); with a bound of 200 pages it
    starts over."""
    url, path = _db(tmp_path)
    store = SqlPhoneStore(url, checkpoint_interval=0.001, wal_bound_pages=200)
    try:
        for i in range(1200):
            at = T0 + timedelta(seconds=i)
            await store.record([Sighting(str(100 + i % 50), "10.0.0.1", None, None, None, at)])
        assert _wal_frames(path) < 600
    finally:
        await store.close()


async def test_the_checkpointer_copies_the_wal_back_soon_after_writes(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    store = SqlPhoneStore(url, checkpoint_interval=0.05)
    try:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        await store.record([Sighting("100", "10.0.0.1", None, None, None, T0)])
        deadline = time.monotonic() + 10  # liveness, not speed: it normally takes 0.05 s
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert checkpointer.checkpoints >= 1 and checkpointer.frames >= 1
        # The row is in the database file itself: read it without the WAL.
        wal = path.with_name(path.name + "-wal")
        copy = tmp_path / "copy.db"
        copy.write_bytes(path.read_bytes())
        assert wal.exists()  # the store still has it open; the copy has no WAL
        rows = sqlite3.connect(copy).execute("SELECT extension_number FROM registered_phones")
        assert [r[0] for r in rows] == ["100"]
        # Idle (nothing written since): no more checkpoints.
        done = checkpointer.checkpoints
        await asyncio.sleep(0.3)
        assert checkpointer.checkpoints == done
    finally:
        await store.close()


async def test_close_stops_the_checkpointer_thread(tmp_path: Path) -> None:
    url, _ = _db(tmp_path)
    store = SqlPhoneStore(url, checkpoint_interval=0.05)
    await store.record([Sighting("100", "10.0.0.1", None, None, None, T0 + timedelta(1))])
    assert store.checkpointer is not None and store.checkpointer.running
    await store.close()
    assert not store.checkpointer.running
