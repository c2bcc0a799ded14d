"""``GET /api/registered-phones`` with a large inventory: streaming against one big list.

The table is seeded directly through the store (``SqlPhoneStore.record`` with
``Sighting``s), pbx is started with ``tracking.clear_on_boot: false`` so it keeps
them, and the listing is read over HTTP on loopback while the pbx process's resident
memory is sampled every 10 ms. The comparison, building the whole answer in memory
(``json.dumps`` of ``store.list()``), runs in a fresh Python process of its own
(``python -m bench.api_scale in-memory URL``) so that its peak RSS is its own.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import procs, servers
from bench.users import accounts
from pbx.phones.store import Sighting

BATCH = 5000


def sightings(start: int, count: int, now: datetime) -> list[Sighting]:
    """``count`` distinct phones (extension, IP, MAC all different), newest first."""
    out: list[Sighting] = []
    for i in range(start, start + count):
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        out.append(
            Sighting(
                str(200000 + i),
                ip,
                f"0004f2{i:06x}",
                "Polycom/VVX-411 UA/6.4.3.5018",
                f"sip:{200000 + i}@{ip}:5060",
                now - timedelta(seconds=i),
            )
        )
    return out


async def seed(url: str, count: int) -> int:
    """Create the schema and record ``count`` phones in batches; returns the row count."""
    from pbx.phones.sql import SqlPhoneStore, upgrade_to_head

    upgrade_to_head(url)
    store = SqlPhoneStore(url)
    try:
        now = datetime.now(UTC)
        for start in range(0, count, BATCH):
            await store.record(sightings(start, min(BATCH, count - start), now))
        return await store.count()
    finally:
        await store.close()


class RssSampler:
    """Peak VmRSS (KiB) of one process, sampled every 10 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, procs.status_kib(self.pid, "VmRSS"))
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"pbx API on port {port} did not come up")


def fetch_listing(pid: int, port: int) -> dict[str, float]:
    """Time to first and last byte, bytes, rows and pbx's RSS around one listing."""
    rss_before = procs.status_kib(pid, "VmRSS")
    with RssSampler(pid) as rss:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("GET", "/api/registered-phones")
        response = conn.getresponse()
        first = response.read(1)
        first_byte = time.perf_counter() - started
        chunks = [first]
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
        last_byte = time.perf_counter() - started
        conn.close()
    body = b"".join(chunks)
    return {
        "status": float(response.status),
        "first_byte_s": first_byte,
        "last_byte_s": last_byte,
        "bytes": float(len(body)),
        "rows": float(len(json.loads(body))),
        "rss_before_mib": rss_before / 1024,
        "rss_peak_mib": rss.peak / 1024,
        "rss_growth_mib": (rss.peak - rss_before) / 1024,
    }


async def _in_memory(url: str) -> dict[str, float]:
    from pbx.api.schemas import phone_json
    from pbx.phones.sql import SqlPhoneStore

    store = SqlPhoneStore(url)
    try:
        await store.count()  # connections open, imports done: this is the baseline
        before = procs.status_kib(os.getpid(), "VmRSS")
        started = time.perf_counter()
        rows = await store.list()
        body = json.dumps([phone_json(r, None) for r in rows], ensure_ascii=False).encode()
        took = time.perf_counter() - started
        peak = procs.status_kib(os.getpid(), "VmHWM")
        return {
            "seconds": took,
            "bytes": float(len(body)),
            "rows": float(len(rows)),
            "rss_before_mib": before / 1024,
            "rss_peak_mib": peak / 1024,
            "rss_growth_mib": (peak - before) / 1024,
        }
    finally:
        await store.close()


def in_memory(url: str) -> dict[str, float]:
    """Run the whole-list measurement in a fresh process and return its figures."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.api_scale", "in-memory", url],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=servers.REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"in-memory listing failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(folder: Path, count: int, database: dict[str, object], url: str) -> dict[str, object]:
    """Seed ``count`` phones, stream them from a running pbx, and build them in memory."""
    folder.mkdir(parents=True, exist_ok=True)
    seeded = asyncio.run(seed(url, count))
    api_port = procs.free_port()
    with servers.pbx(
        "pbx",
        folder,
        accounts(1),
        database,
        api_port=api_port,
        clear_on_boot=False,
    ) as system:
        _wait_http(api_port)
        fetch_listing(system.pid, api_port)  # warm-up: imports, first connection, caches
        streamed = fetch_listing(system.pid, api_port)
        hwm = procs.status_kib(system.pid, "VmHWM") / 1024
    return {
        "phones": seeded,
        "stream": {**streamed, "process_vmhwm_mib": hwm},
        "in_memory": in_memory(url),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "in-memory":
        print(json.dumps(asyncio.run(_in_memory(sys.argv[2]))))
    else:
        sys.exit("usage: python -m bench.api_scale in-memory URL")
