"""The Date header value of a 200 OK, from the wall clock the sans-IO core never reads.

Why a class in a compiled module and not a closure in ``app.py``: it runs once per
200 OK, and an interpreted closure there cost about 2% of a SIP worker's samples
(bench/HISTORY.md, "Session of 2026-11-28 from 10:10 UTC").
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable


class DateHeader:
    """``Date`` values (RFC 1123, GMT), formatted once per second of ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        second = int(self._clock())
        if second != self._second:
            self._second = second
            self._value = email.utils.formatdate(second, usegmt=True)
        return self._value
