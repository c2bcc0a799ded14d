"""SQLite's WAL checkpoints on a thread of their own, once a second, off the commit path.

Why: by default the connection whose commit takes the WAL past 1,000 pages runs the
checkpoint inside that commit: it copies the pages back into the database file and
calls fsync twice. For pbx that connection is the writer, so every phone waiting for
that commit waited for both fsyncs. On a shared virtual disk one fsync sometimes takes
a second (measured on the bench machine, idle: 350 ms and 1.1 s), the answers waiting
on it come back after the phones' 500 ms retransmission timer, and under load the
checkpoint came every tenth of a second (each batch writes its pages anew).

Here the writer's connection never checkpoints (``wal_autocheckpoint=0``, set by the
store) and this thread runs a PASSIVE checkpoint once a second when anything was
written: it never blocks the writer (WAL lets them run side by side), a hot page is
copied back once a second instead of once per 1,000 pages written, and with
``synchronous=NORMAL`` a committed row reaches the disk within about a second at any
rate (a power cut loses at most that; at a low rate the automatic checkpoint could
wait hours for its 1,000 pages).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger("pbx.phones")

#: Seconds between checkpoints while rows are being written.
CHECKPOINT_INTERVAL = 1.0


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
