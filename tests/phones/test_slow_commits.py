"""A commit that holds phones' answers past SIP's T1 is named in the log, at most once
per interval; against a real SQLite file whose lock another connection holds."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx.phones.slow_commits import SlowCommits
from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import Sighting

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fast_commits_are_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    slow = SlowCommits(clock=Clock())
    with caplog.at_level(logging.WARNING, logger="pbx.phones"):
        slow.observe(90, 0.49)
    assert slow.count == 0 and caplog.messages == []


def test_one_warning_per_interval_with_the_count_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    slow = SlowCommits(threshold=0.5, interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pbx.phones"):
        slow.observe(90, 1.72)
        clock.now += 3
        slow.observe(80, 0.6)
        clock.now += 3
        slow.observe(70, 0.7)
        assert len(caplog.messages) == 1
        clock.now += 5  # 11 s after the first warning
        slow.observe(60, 0.8)
    assert slow.count == 4
    first, second = caplog.messages
    assert "a commit of 90 phones took 1.72 s" in first and "more slow" not in first
    assert "a commit of 60 phones took 0.80 s" in second
    assert "(2 more slow commits since the last warning)" in second


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_commit_held_by_another_writer_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    path = tmp_path / "pbx.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    store = SqlPhoneStore(url)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        with caplog.at_level(logging.WARNING, logger="pbx.phones"):
            await store.record([Sighting("100", "10.0.0.1", None, None, None, T0)])
            assert store.slow_commits.count == 0  # an uncontended commit is fast

            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock 0.8 s
            release = threading.Timer(0.8, other.execute, ("COMMIT",))
            release.start()
            await store.record([Sighting("101", "10.0.0.2", None, None, None, T0)])
            release.join()
        assert store.slow_commits.count == 1
        assert any("a commit of 1 phones took 0.8" in m for m in caplog.messages)
        assert await store.count() == 2  # it waited, and it was written
    finally:
        other.close()
        await store.close()
