"""SQLite's WAL checkpoints on a thread of their own, once a second, off the commit path.

Why: by default the connection whose commit takes the WAL past 1,000 pages runs the
checkpoint inside that commit: it copies the pages back into the database file and
calls fsync twice, and every phone waiting for that commit waits for both. On a shared
virtual disk one fsync sometimes takes a second (measured on the bench machine, idle:
350 ms and 1.1 s), and answers held that long come back after the phones' 500 ms
retransmission timer. At 8,000 registrations/s pbx writes about 2.5 MB of WAL a
second: a checkpoint in a commit every 1.6 s.

Here a thread runs a PASSIVE checkpoint once a second when anything was written: it
never blocks the writer (WAL lets them run side by side), and with
``synchronous=NORMAL`` a committed row reaches the disk within about a second at any
rate (at a low rate the automatic checkpoint could wait hours for its 1,000 pages).

A checkpoint that runs beside the writer cannot let the WAL start over: SQLite
rewinds it only when a write begins after a checkpoint has copied every frame, and
under load a commit always lands while the thread copies. So the writer keeps an
automatic checkpoint of its own, at ``WRITER_BOUND_PAGES`` (set by the store): it
bounds the WAL (about 40 MB), and since the thread has copied nearly everything by
then, it copies little, completes, and the next write rewinds the WAL. The commit
path still meets the disk's flushes, but about ten times less often than by
default (every 16 s at 8,000/s).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("pbx.phones")

#: Seconds between checkpoints while rows are being written.
CHECKPOINT_INTERVAL = 1.0
#: WAL pages after which the writer's own commit checkpoints (SQLite's default: 1,000).
WRITER_BOUND_PAGES = 10_000


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds after a write.

    ``written()`` is called by the writer after each commit (a flag, no lock: a lost
    race costs one checkpoint a second later). ``stop()`` joins the thread; closing
    the last connection then checkpoints what is left, as SQLite always does.
    """

    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
        self._dirty = False
        self._stop = threading.Event()
        #: Checkpoints run, and WAL frames they found (for tests and diagnosis).
        self.checkpoints = 0
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name="pbx-phones-checkpoint", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread is alive (until ``stop``)."""
        return self._thread.is_alive()

    def written(self) -> None:
        """Note that a commit added to the WAL."""
        self._dirty = True

    def stop(self) -> None:
        """Stop the thread (waits for a checkpoint in progress)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raw: Any = None
        try:
            while not self._stop.wait(self._interval):
                if not self._dirty:
                    continue
                self._dirty = False
                try:
                    if raw is None:
                        raw = self._engine.raw_connection()
                    cursor = raw.cursor()
                    # (busy, frames in the WAL, frames checkpointed); busy=1 only when
                    # another process holds a lock a PASSIVE checkpoint will not wait for.
                    _busy, frames, _done = cursor.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                    cursor.close()
                    self.checkpoints += 1
                    self.frames += max(0, frames)
                except Exception as exc:  # never let the thread die: try again later
                    log.warning("SQLite checkpoint failed (will retry): %s", exc)
                    self._dirty = True
                    if raw is not None:
                        raw.invalidate()
                        raw = None
        finally:
            if raw is not None:
                raw.close()
