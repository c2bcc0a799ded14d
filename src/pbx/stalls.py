"""Warnings when pbx held answers for SIP's T1 (0.5 s) or more, and why.

Why: phones retransmit a REGISTER that has no answer after 0.5 s. Under load the
retransmissions are all an operator would see of a second's stall, whatever stalled:
a commit the 200 OKs waited for (the database or its disk), a process whose event
loop woke late (busy, or paused), or a garbage collection that long. Each of those
is timed where it happens and named in one WARNING line; at most one line per kind
every ``interval`` seconds, with the count of the others since, so a disk or a
machine that stays slow does not flood the log. The bench counts these lines in
each rung (``bench/server_log.py``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pbx.stalls")

#: Seconds after which phones retransmit a request that has no answer (SIP's T1).
T1_S = 0.5
#: Seconds between two warnings of one kind at most.
INTERVAL_S = 10.0


class Stalls:
    """Counts the stalls of one kind that lasted ``threshold`` seconds or more, and
    says so in the log: ``message`` is a %-format whose last placeholder takes the
    seconds and whose others take ``observe``'s ``args``."""

    def __init__(
        self,
        message: str,
        threshold: float = T1_S,
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.message = message
        self.threshold = threshold
        self.interval = interval
        self._clock = clock
        #: Stalls since start-up (for tests and diagnosis).
        self.count = 0
        self._unsaid = 0
        self._said_at: float | None = None

    def observe(self, seconds: float, *args: object) -> None:
        """Note one wait of ``seconds`` (cheap when it is short: one comparison)."""
        if seconds < self.threshold:
            return
        self.count += 1
        self._unsaid += 1
        now = self._clock()
        if self._said_at is not None and now - self._said_at < self.interval:
            return
        others = f" ({self._unsaid - 1} more since the last warning)" if self._unsaid > 1 else ""
        log.warning(
            self.message + " (phones retransmit after %.1f s)%s",
            *args,
            seconds,
            self.threshold,
            others,
        )
        self._said_at = now
        self._unsaid = 0


def slow_commits() -> Stalls:
    """For the store's writer: a commit whose phones' 200 OKs waited for it."""
    return Stalls(
        "a commit of %d phones took %.2f s and their 200 OKs waited for it: "
        "the database or its disk was slow"
    )


def late_wake_ups(process: str) -> Stalls:
    """For a process's periodic timer: its event loop woke that much after it was due,
    and every answer it had to send waited as long."""
    return Stalls(f"the event loop of {process} woke %.2f s late: it was busy or paused")


def watch_collections(process: str) -> Stalls:
    """Time every garbage collection of this process from now on."""
    stalls = Stalls(f"a garbage collection (generation %d) paused {process} for %.2f s")
    started = 0.0

    def timed(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            stalls.observe(time.perf_counter() - started, info["generation"])

    gc.callbacks.append(timed)
    return stalls
