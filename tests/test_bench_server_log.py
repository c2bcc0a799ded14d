"""The bench reads pbx's slow-commit warnings from its log, as pbx writes them.

The log lines are made by pbx's own ``SlowCommits`` through the format ``pbx serve``
logs with, so a change of the message that the bench would no longer recognise fails
here, not silently in a run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bench.ladder import Rung
from bench.server_log import LogTail, slow_commits

from pbx.phones.slow_commits import SlowCommits


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pbx_writes(path: Path, commits: list[tuple[float, float]]) -> None:
    """(clock, seconds) commits logged by SlowCommits into ``path``, pbx's format."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pbx.phones")
    logger.addHandler(handler)
    try:
        clock = Clock()
        slow = SlowCommits(clock=clock)
        for at, seconds in commits:
            clock.now = at
            slow.observe(90, seconds)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_counts_logged_and_rate_limited_slow_commits(tmp_path: Path) -> None:
    log = tmp_path / "pbx.log"
    log.write_text("2026-11-29 12:00:00 INFO pbx: ready\n")
    tail = LogTail(log)
    # 1.72 s logged; 0.6 and 0.9 s within 10 s, counted in the next line; 0.7 logged.
    _pbx_writes(log, [(0, 1.72), (2, 0.6), (4, 0.9), (12, 0.7), (13, 0.2)])
    assert slow_commits(tail.new_text()) == (4, 1.72)


def test_only_what_came_after_the_rung_began(tmp_path: Path) -> None:
    log = tmp_path / "pbx.log"
    _pbx_writes(log, [(0, 2.5)])
    tail = LogTail(log)
    assert slow_commits(tail.new_text()) == (0, 0.0)
    _pbx_writes(log, [(100, 0.8)])
    assert slow_commits(tail.new_text()) == (1, 0.8)
    assert slow_commits(LogTail(tmp_path / "gone.log").new_text()) == (0, 0.0)


def test_the_rung_line_says_so_only_when_there_were_some() -> None:
    rung = Rung(8000, False, "3.52% retransmitted", 160000, 160000, 0, 11248, 7577.0,
                142.0, 97.4, 20.0, 1720.0, 21.0, [0], 0.53, 0.0)  # fmt: skip
    assert "slow commits" not in rung.line()
    rung.slow_commits, rung.slowest_commit_s = 3, 1.72
    assert "11248 retrans, 0 dropped, 3 slow commits (longest 1.72 s), 7577/s" in rung.line()
