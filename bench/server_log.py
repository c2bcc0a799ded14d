"""What a server said during a rung: pbx's stall warnings, counted by kind.

Why: a rung that retransmits with no datagram dropped had answers held past sipp's
500 ms timer. pbx names the cause in its log (``pbx.stalls``): a commit the answers
waited for, an event loop that woke late, a garbage collection. The rung's line says
how often and for how long, so a stalled database or disk is told apart from a
paused or overloaded process, and both from a full CPU, in the results themselves
(until 2026-11-29 the bench's logs went with its temporary folder).
"""

from __future__ import annotations

import re
from pathlib import Path

#: Each kind of stall pbx warns of, by the words of its warning (seconds captured).
KINDS = {
    "commit": re.compile(r"a commit of \d+ phones took ([0-9.]+) s"),
    "loop": re.compile(r"the event loop of .+? woke ([0-9.]+) s late"),
    "collection": re.compile(r"a garbage collection \(generation \d\) paused .+? for ([0-9.]+) s"),
}
#: A rate-limited warning counts the stalls of its kind it did not log.
UNSAID = re.compile(r"\((\d+) more since the last warning\)")


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


def stalls(text: str) -> dict[str, list[float]]:
    """{kind: [stalls, the longest logged one in seconds]} for the kinds in ``text``."""
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        for kind, pattern in KINDS.items():
            match = pattern.search(line)
            if match is None:
                continue
            unsaid = UNSAID.search(line)
            count, longest = found.setdefault(kind, [0, 0.0])
            found[kind] = [
                count + 1 + (int(unsaid.group(1)) if unsaid else 0),
                max(longest, float(match.group(1))),
            ]
    return found
