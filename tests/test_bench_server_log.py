"""The bench reads pbx's stall warnings from its log, as pbx writes them.

The log lines are made by pbx's own ``pbx.stalls`` through the format ``pbx serve``
logs with, so a change of a message that the bench would no longer recognise fails
here, not silently in a run.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from bench.ladder import Rung
from bench.server_log import LogTail, stalls

from pbx.stalls import Stalls, late_wake_ups, slow_commits, watch_collections


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pbx_writes(path: Path, kind: Stalls, waits: list[tuple[float, float]], *args: object) -> None:
    """(clock, seconds) waits logged by a ``Stalls`` like ``kind`` into ``path``, in
    pbx's format."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pbx.stalls")
    logger.addHandler(handler)
    try:
        clock = Clock()
        logged = Stalls(kind.message, clock=clock)
        for at, seconds in waits:
            clock.now = at
            logged.observe(seconds, *args)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_counts_logged_and_rate_limited_stalls_by_kind(tmp_path: Path) -> None:
    log = tmp_path / "pbx.log"
    log.write_text("2026-11-29 12:00:00 INFO pbx: ready\n")
    tail = LogTail(log)
    # 1.72 s logged; 0.6 and 0.9 s within 10 s, counted in the next line; 0.7 logged.
    _pbx_writes(log, slow_commits(), [(0, 1.72), (2, 0.6), (4, 0.9), (12, 0.7), (13, 0.2)], 90)
    _pbx_writes(log, late_wake_ups("SIP worker 1"), [(0, 0.93)])
    collections = watch_collections("SIP worker 0")
    gc.callbacks.pop()  # only its message is wanted here
    _pbx_writes(log, collections, [(0, 0.55)], 2)
    assert stalls(tail.new_text()) == {
        "commit": [4, 1.72],
        "loop": [1, 0.93],
        "collection": [1, 0.55],
    }


def test_only_what_came_after_the_rung_began(tmp_path: Path) -> None:
    log = tmp_path / "pbx.log"
    _pbx_writes(log, slow_commits(), [(0, 2.5)], 90)
    tail = LogTail(log)
    assert stalls(tail.new_text()) == {}
    _pbx_writes(log, slow_commits(), [(100, 0.8)], 90)
    assert stalls(tail.new_text()) == {"commit": [1, 0.8]}
    assert stalls(LogTail(tmp_path / "gone.log").new_text()) == {}


def test_the_rung_line_says_so_only_when_there_were_some() -> None:
    rung = Rung(8000, False, "3.52% retransmitted", 160000, 160000, 0, 11248, 7577.0,
                142.0, 97.4, 20.0, 1720.0, 21.0, [0], 0.53, 0.0)  # fmt: skip
    assert "stalls" not in rung.line()
    rung.stalls = {"loop": [1, 0.93], "commit": [3, 1.72]}
    assert (
        "11248 retrans, 0 dropped, stalls logged: commit 3 (longest 1.72 s), "
        "loop 1 (longest 0.93 s), 7577/s achieved"
    ) in rung.line()
    assert Rung.from_dict(rung.as_dict()) == rung
