"""A warning when a commit held phones' answers past their retransmission timer.

Why: every 200 OK waits for its row's commit, so a database or a disk that stalls for
a second makes the phones retransmit their REGISTER (SIP's T1 is 0.5 s), and an
operator would otherwise see only the retransmissions, or nothing at all. One line
names the cause. At most one line every ``interval`` seconds, counting the slow
commits since the last line, so a disk that stays slow does not flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("pbx.phones")

#: Seconds a commit may take before phones waiting for it retransmit (SIP's T1).
SLOW_S = 0.5
#: Seconds between two warnings at most.
INTERVAL_S = 10.0


class SlowCommits:
    """Counts commits that took ``threshold`` seconds or more, and says so in the log."""

    def __init__(
        self,
        threshold: float = SLOW_S,
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.interval = interval
        self._clock = clock
        #: Slow commits since start-up (for tests and diagnosis).
        self.count = 0
        self._unsaid = 0
        self._said_at: float | None = None

    def observe(self, phones: int, seconds: float) -> None:
        """Note one commit of ``phones`` rows that took ``seconds``."""
        if seconds < self.threshold:
            return
        self.count += 1
        self._unsaid += 1
        now = self._clock()
        if self._said_at is not None and now - self._said_at < self.interval:
            return
        others = (
            f" ({self._unsaid - 1} more slow commits since the last warning)"
            if self._unsaid > 1
            else ""
        )
        log.warning(
            "a commit of %d phones took %.2f s and their 200 OKs waited for it (phones "
            "retransmit after %.1f s): the database or its disk was slow%s",
            phones,
            seconds,
            self.threshold,
            others,
        )
        self._said_at = now
        self._unsaid = 0
