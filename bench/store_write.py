#!/usr/bin/env python3
"""Cost of ``SqlPhoneStore.record()`` per batch size, on SQLite and PostgreSQL.

    .venv/bin/python bench/store_write.py                      # SQLite + throw-away PostgreSQL
    .venv/bin/python bench/store_write.py --postgres-url URL   # an existing server (it is wiped)
    .venv/bin/python bench/store_write.py --no-postgres

Workload: 2,000 phones with MACs on 2,000 extensions, first inserted, then refreshed
(new last_registered, one in ten with a new IP) in batches of 1, 10 and 500. Each
figure is the median wall time of one record() call, measured from the event loop
(thread hop included).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import Sighting

REPO = Path(__file__).resolve().parents[1]
PHONES = 2000
BATCHES = (1, 10, 500)


def sightings(round_: int) -> list[Sighting]:
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=round_)
    out = []
    for i in range(PHONES):
        moved = round_ and i % 10 == round_ % 10
        ip = f"10.{(i >> 8) & 255}.{i & 255}.{(round_ if moved else 0) % 250 + 1}"
        out.append(
            Sighting(
                str(1000 + i),
                ip,
                f"0004f2{i:06x}",
                "Polycom VVX 411",
                f"sip:{1000 + i}@{ip}:5060",
                at,
            )
        )
    return out


async def measure(url: str) -> dict[int, float]:
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM registered_phones"))
    engine.dispose()
    store = SqlPhoneStore(url)
    await store.record(sightings(0))  # steady state: every phone is known
    results: dict[int, float] = {}
    for n, size in enumerate(BATCHES, 1):
        work = sightings(n)
        times = []
        for i in range(0, PHONES, size):
            t = time.perf_counter()
            await store.record(work[i : i + size])
            times.append(time.perf_counter() - t)
            if len(times) >= 300:
                break
        results[size] = statistics.median(times)
    assert await store.count() == PHONES
    await store.close()
    return results


def start_cluster() -> tuple[str, Path, int]:
    folder = Path(tempfile.mkdtemp(prefix="pbx-bench-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    script = str(REPO / "scripts" / "pg-test-cluster.sh")
    url = subprocess.run(
        [script, "start", str(folder), str(port)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return url, folder, port


def report(name: str, results: dict[int, float]) -> None:
    for size, seconds in results.items():
        print(
            f"{name:<11} batch {size:>3}: {seconds * 1000:8.2f} ms per record()"
            f"  {seconds / size * 1e6:8.1f} µs per sighting"
            f"  {size / seconds:10,.0f} sightings/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", asyncio.run(measure(f"sqlite:///{tmp}/bench.db")))
    if args.no_postgres:
        return
    if args.postgres_url:
        report("PostgreSQL", asyncio.run(measure(args.postgres_url)))
        return
    url, folder, port = start_cluster()
    try:
        report("PostgreSQL", asyncio.run(measure(url)))
    finally:
        subprocess.run(
            [str(REPO / "scripts" / "pg-test-cluster.sh"), "stop", str(folder), str(port)],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
