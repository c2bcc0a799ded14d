"""Stalls of T1 or more are named in the log, at most once per interval and kind:
the rate limit with a clock of our own, and each place pbx times for real (a commit
held by another writer of a real SQLite file, an event loop blocked, a collection)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pbx.app import build_endpoint, expiry_timer, watch_loop
from pbx.config import Settings
from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import Sighting
from pbx.stalls import Stalls, late_wake_ups, slow_commits, watch_collections

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_short_waits_are_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    stalls = Stalls("waited %.2f s", clock=Clock())
    with caplog.at_level(logging.WARNING, logger="pbx.stalls"):
        stalls.observe(0.49)
    assert stalls.count == 0 and caplog.messages == []


def test_one_warning_per_interval_with_the_count_between(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    stalls = Stalls(slow_commits().message, threshold=0.5, interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pbx.stalls"):
        stalls.observe(1.72, 90)
        clock.now += 3
        stalls.observe(0.6, 80)
        clock.now += 3
        stalls.observe(0.7, 70)
        assert len(caplog.messages) == 1
        clock.now += 5  # 11 s after the first warning
        stalls.observe(0.8, 60)
    assert stalls.count == 4
    first, second = caplog.messages
    assert first.startswith("a commit of 90 phones took 1.72 s and their 200 OKs waited")
    assert "(phones retransmit after 0.5 s)" in first and "more since" not in first
    assert second.startswith("a commit of 60 phones took 0.80 s")
    assert second.endswith("(2 more since the last warning)")


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
        with caplog.at_level(logging.WARNING, logger="pbx.stalls"):
            await store.record([Sighting("100", "10.0.0.1", None, None, None, T0)])
            assert store.slow_commits.count == 0  # an uncontended commit is fast

            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock 0.8 s
            release = threading.Timer(0.8, other.execute, ("COMMIT",))
            release.start()
            await store.record([Sighting("101", "10.0.0.2", None, None, None, T0)])
            release.join()
        assert store.slow_commits.count == 1
        assert any(m.startswith("a commit of 1 phones took 0.8") for m in caplog.messages)
        assert await store.count() == 2  # it waited, and it was written
    finally:
        other.close()
        await store.close()


def _expiry_timer(late: Stalls) -> Coroutine[Any, Any, None]:
    return expiry_timer(build_endpoint(Settings()), late=late)


@pytest.mark.parametrize(
    "timer",
    [
        pytest.param(_expiry_timer, id="expiry-timer"),
        pytest.param(watch_loop, id="watch-of-a-process-without-one"),
    ],
)
def test_a_blocked_event_loop_is_reported_by_its_timer(
    timer: Callable[[Stalls], Coroutine[Any, Any, None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both wake at least once a second (the expiry timer, with nothing to expire, at
    1 s; the watch of the cluster's main process, which has no expiry timer, every
    second); a loop blocked from 0.1 s to 1.6 s makes that wake-up 0.6 s late."""
    late = late_wake_ups("the test")

    async def scenario() -> None:
        task = asyncio.create_task(timer(late))
        await asyncio.sleep(0.1)
        assert late.count == 0
        time.sleep(1.5)  # the whole loop blocked, as a long pause would
        await asyncio.sleep(0.1)
        task.cancel()

    with caplog.at_level(logging.WARNING, logger="pbx.stalls"):
        asyncio.run(scenario())
    assert late.count == 1
    assert any(m.startswith("the event loop of the test woke 0.") for m in caplog.messages)


@pytest.fixture
def gc_callbacks() -> Iterator[None]:
    before = list(gc.callbacks)
    yield
    gc.callbacks[:] = before


@pytest.mark.usefixtures("gc_callbacks")
def test_collections_are_timed(caplog: pytest.LogCaptureFixture) -> None:
    stalls = watch_collections("the test")
    stalls.threshold = 0.0  # every collection counts: it is the timing that is tested
    with caplog.at_level(logging.WARNING, logger="pbx.stalls"):
        gc.collect()
    assert stalls.count >= 1
    assert any(
        m.startswith("a garbage collection (generation 2) paused the test for")
        for m in caplog.messages
    )
