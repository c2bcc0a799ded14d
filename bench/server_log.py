"""What a server said during a rung: pbx's slow-commit warnings, counted.

Why: a rung that retransmits with no datagram dropped had answers held past sipp's
500 ms timer. pbx names that cause in its log when it was a commit
(``pbx.phones.slow_commits``), and the rung's line now says how often and for how
long, so a stalled database or disk is told apart from a full CPU in the results
themselves (until 2026-11-29 the bench's logs went with its temporary folder).
"""

from __future__ import annotations

import re
from pathlib import Path

#: pbx's warning; when rate-limited it counts the slow commits it did not log.
SLOW = re.compile(r"a commit of \d+ phones took ([0-9.]+) s(?:.*?\((\d+) more slow commits)?")


class LogTail:
    """The part of a log file written after this object was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_text(self) -> str:
        """What was appended since (nothing if the file is gone)."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


def slow_commits(text: str) -> tuple[int, float]:
    """(slow commits, the longest logged one in seconds) in ``text``."""
    count, longest = 0, 0.0
    for match in SLOW.finditer(text):
        count += 1 + int(match.group(2) or 0)
        longest = max(longest, float(match.group(1)))
    return count, longest
