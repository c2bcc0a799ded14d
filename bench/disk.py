"""How long the disk takes to make a small write durable (``fdatasync``), now.

Why in the bench: pbx on PostgreSQL answers 200 OK after the commit's WAL flush, and
on SQLite a checkpoint waits for two flushes; Kamailio's write-back waits for none.
On this shared virtual disk a flush usually takes a quarter of a millisecond and
sometimes a second (measured idle: 350 ms and 1.1 s), and answers held that long come
back after sipp's 500 ms retransmission timer: a rung then fails on retransmissions
with the machine idle. The run's conditions say what the disk did at its start and
end, so such a failure can be told from a slower registrar.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def probe(seconds: float = 3.0, folder: Path | None = None) -> str:
    """``fdatasync`` of an 8 KiB write every 5 ms for ``seconds``: p50, p99, max, in ms."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix="pbx-bench-disk-") as f:
        fd = f.fileno()
        block = b"\0" * 8192
        latencies: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            os.pwrite(fd, block, (len(latencies) % 256) * 8192)
            start = time.perf_counter()
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)
    latencies.sort()
    n = len(latencies)
    p50, p99, top = latencies[n // 2], latencies[min(n - 1, n * 99 // 100)], latencies[-1]
    return f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {top * 1e3:.1f} ms ({n} flushes)"


if __name__ == "__main__":
    print(probe())
