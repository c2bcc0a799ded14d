"""Which database driver the phone store should use, chosen by measurement.

    .venv/bin/python -m bench.drivers            # about 2 minutes
    .venv/bin/python -m bench.drivers --quick    # about 20 seconds, one short run
    .venv/bin/python -m bench.drivers --postgres-url postgresql://...  # existing server (wiped)

Needs ``aiosqlite`` and ``asyncpg`` in the venv (``.venv/bin/pip install aiosqlite asyncpg``);
they are bench-only and not project dependencies. A missing one is skipped.

A decision record (2026-11-27): it chose the drivers the store keeps, sqlite3 and
psycopg 3 on the writer thread, and measures the store's write as it was then. The
store has since moved to one multi-row upsert per batch (SQLite: in ``BEGIN
IMMEDIATE``; PostgreSQL: one ``unnest`` statement of binary arrays in autocommit,
``SqlPhoneStore._upsert_postgres`` says why); ``bench/store_write.py`` measures that.
The drivers were compared on the shape below, which is why it stays as it was.

Every variant runs the statements of ``SqlPhoneStore``'s upsert fast path of the time,
in the same transaction shape (``BEGIN [IMMEDIATE]``, on PostgreSQL ``LOCK TABLE``, ``SAVEPOINT``,
one executemany of ``_HotPath.upsert_mac``, ``RELEASE``, ``COMMIT``), from the event
loop the server uses (uvloop), on the raw DBAPI/async driver so that only the driver
and the way it is reached from the loop differ:

* ``sqlite3 executor``: sqlite3 on one dedicated thread via ``run_in_executor``
  (what the store did then, minus SQLAlchemy);
* ``aiosqlite``: the same sqlite3 behind aiosqlite's own thread, one hop per call;
* ``psycopg executor``: psycopg 3 sync on one dedicated thread (what the store did then);
* ``psycopg async``: ``psycopg.AsyncConnection`` on the loop;
* ``asyncpg``: asyncpg on the loop (``$n`` placeholders, nested transaction = savepoint).

``store (...)`` rows are ``SqlPhoneStore.record()`` itself, SQLAlchemy and the
Sighting-to-parameters conversion included, as a reference.

Two measurements per variant and run:

* latency: wall time of one committed batch of 1, 10 or 500 upserts, as seen by the
  awaiting coroutine; 2,000 phones with MACs, first inserted, then refreshed (new
  ``last_registered``, one in ten with a new IP); the median of each run;
* loop cost: batches are written back to back for a fixed time while a ticker task
  sleeps 1 ms at a time. Reported: CPU time of the loop thread (``time.thread_time``)
  and of all other threads of this process per batch, and the ticker's lateness
  (loop lag). The PostgreSQL server's CPU is not counted (another process).

Runs are repeated (variant order rotated each run) and every cell shows the median of
the per-run figures with their min-max range, because this 2-core machine may be
shared with other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pbx.phones.sql import BUSY_TIMEOUT_MS, SqlPhoneStore, _HotPath, upgrade_to_head
from pbx.phones.store import Sighting

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"
PHONES = 2000
SIZES = (1, 10, 500)
LOAD_SIZES = (10, 500)
TICK = 0.001
LOCK = "LOCK TABLE registered_phones IN SHARE ROW EXCLUSIVE MODE"

Params = list[tuple[Any, ...]]


# -- workload ------------------------------------------------------------------------------


def sightings(round_: int) -> list[Sighting]:
    """2,000 phones with MACs on 2,000 extensions; round n > 0 refreshes them, moving
    one in ten to a new IP (the same workload as ``bench/store_write.py``)."""
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=round_)
    out = []
    for i in range(PHONES):
        moved = round_ and i % 10 == round_ % 10
        ip = f"10.{(i >> 8) & 255}.{i & 255}.{(round_ if moved else 0) % 250 + 1}"
        ext = str(1000 + i)
        out.append(
            Sighting(ext, ip, f"0004f2{i:06x}", "Polycom VVX 411", f"sip:{ext}@{ip}:5060", at)
        )
    return out


class Workload:
    """Rounds of sightings, converted once, outside every timing, to each driver's input."""

    def __init__(self) -> None:
        self._rounds: dict[int, list[Sighting]] = {}
        self._params: dict[tuple[bool, int], Params] = {}

    def sightings(self, round_: int) -> list[Sighting]:
        if round_ not in self._rounds:
            self._rounds[round_] = sightings(round_)
        return self._rounds[round_]

    def params(self, sqlite: bool, round_: int) -> Params:
        key = (sqlite, round_)
        if key not in self._params:
            hot = _HotPath(sqlite=sqlite)
            self._params[key] = [hot.sighting_params(s) for s in self.sightings(round_)]
        return self._params[key]


# -- the variants --------------------------------------------------------------------------


class Variant(Protocol):
    """One way of writing a committed batch from the loop."""

    name: str
    sqlite: bool

    async def open(self) -> None: ...
    async def reset(self) -> None: ...
    async def batch(self, round_: int, start: int, stop: int) -> None: ...
    async def close(self) -> None: ...


UPSERT_SQLITE = _HotPath(sqlite=True).upsert_mac
UPSERT_PG = _HotPath(sqlite=False).upsert_mac


def _dollar(sql: str) -> str:
    """psycopg's ``%s`` placeholders as asyncpg's ``$1, $2, ...``."""
    n = iter(range(1, 1000))
    return re.sub(r"%s", lambda _: f"${next(n)}", sql)


UPSERT_ASYNCPG = _dollar(UPSERT_PG)


@dataclass
class _Base:
    name: str
    target: str  # a file path (SQLite) or a libpq URL (PostgreSQL)
    work: Workload
    sqlite: bool = False

    def rows(self, round_: int, start: int, stop: int) -> Params:
        return self.work.params(self.sqlite, round_)[start:stop]


@dataclass
class _OnOneThread(_Base):
    """A sync driver on one dedicated thread: one ``run_in_executor`` hop per call."""

    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def _call(self, fn: Callable[..., None], *args: Any) -> Awaitable[None]:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _open(self) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def _batch(self, rows: Params) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        self._pool = ThreadPoolExecutor(1)  # a fresh one per run: close() shuts it down
        await self._call(self._open)

    async def reset(self) -> None:
        await self._call(self._reset)

    async def batch(self, round_: int, start: int, stop: int) -> None:
        await self._call(self._batch, self.rows(round_, start, stop))

    async def close(self) -> None:
        await self._call(self._close)
        self._pool.shutdown()


@dataclass
class Sqlite3Executor(_OnOneThread):
    """sqlite3 on one dedicated thread, one ``run_in_executor`` hop per batch."""

    sqlite: bool = True
    _conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        self._conn = sqlite_connect(self.target)

    def _batch(self, rows: Params) -> None:
        assert self._conn is not None
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        c.execute("SAVEPOINT fast")
        c.executemany(UPSERT_SQLITE, rows)
        c.execute("RELEASE SAVEPOINT fast")
        c.execute("COMMIT")

    def _reset(self) -> None:
        assert self._conn is not None
        self._conn.execute("DELETE FROM registered_phones")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A connection set up as ``make_engine`` sets up the store's: WAL, NORMAL, autocommit."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


@dataclass
class AioSqlite(_Base):
    """aiosqlite: sqlite3 on aiosqlite's thread, one queue hop per statement."""

    sqlite: bool = True
    _db: Any = None

    async def open(self) -> None:
        import aiosqlite

        self._db = await aiosqlite.connect(
            self.target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={BUSY_TIMEOUT_MS}"):
            await self._db.execute(f"PRAGMA {pragma}")

    async def reset(self) -> None:
        await self._db.execute("DELETE FROM registered_phones")

    async def batch(self, round_: int, start: int, stop: int) -> None:
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("SAVEPOINT fast")
        await db.executemany(UPSERT_SQLITE, self.rows(round_, start, stop))
        await db.execute("RELEASE SAVEPOINT fast")
        await db.execute("COMMIT")

    async def close(self) -> None:
        await self._db.close()


@dataclass
class PsycopgExecutor(_OnOneThread):
    """psycopg 3 sync on one dedicated thread, one ``run_in_executor`` hop per batch."""

    _conn: Any = None

    def _open(self) -> None:
        import psycopg

        self._conn = psycopg.connect(self.target)

    def _batch(self, rows: Params) -> None:
        c = self._conn
        with c.cursor() as cur:
            cur.execute(LOCK)  # opens the transaction, as SQLAlchemy's begin does
            cur.execute("SAVEPOINT fast")
            cur.executemany(UPSERT_PG, rows)
            cur.execute("RELEASE SAVEPOINT fast")
        c.commit()

    def _reset(self) -> None:
        self._conn.execute("DELETE FROM registered_phones")
        self._conn.commit()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass
class PsycopgAsync(_Base):
    """psycopg 3 ``AsyncConnection`` on the loop."""

    _conn: Any = None

    async def open(self) -> None:
        import psycopg

        self._conn = await psycopg.AsyncConnection.connect(self.target)

    async def reset(self) -> None:
        await self._conn.execute("DELETE FROM registered_phones")
        await self._conn.commit()

    async def batch(self, round_: int, start: int, stop: int) -> None:
        c = self._conn
        async with c.cursor() as cur:
            await cur.execute(LOCK)
            await cur.execute("SAVEPOINT fast")
            await cur.executemany(UPSERT_PG, self.rows(round_, start, stop))
            await cur.execute("RELEASE SAVEPOINT fast")
        await c.commit()

    async def close(self) -> None:
        await self._conn.close()


@dataclass
class Asyncpg(_Base):
    """asyncpg on the loop; its nested transaction is the savepoint."""

    _conn: Any = None

    async def open(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self.target)

    async def reset(self) -> None:
        await self._conn.execute("DELETE FROM registered_phones")

    async def batch(self, round_: int, start: int, stop: int) -> None:
        c = self._conn
        async with c.transaction():
            await c.execute(LOCK)
            async with c.transaction():
                await c.executemany(UPSERT_ASYNCPG, self.rows(round_, start, stop))

    async def close(self) -> None:
        await self._conn.close()


@dataclass
class Store(_Base):
    """``SqlPhoneStore.record()`` as it is (SQLAlchemy, conversion in the writer thread)."""

    _store: SqlPhoneStore | None = None

    async def open(self) -> None:
        self._store = SqlPhoneStore(self.target)

    async def reset(self) -> None:
        assert self._store is not None
        await self._store.clear()

    async def batch(self, round_: int, start: int, stop: int) -> None:
        assert self._store is not None
        await self._store.record(self.work.sightings(round_)[start:stop])

    async def close(self) -> None:
        assert self._store is not None
        await self._store.close()


# -- measurements --------------------------------------------------------------------------


@dataclass
class Latency:
    """Median seconds per committed batch, for the first insert and for refreshes."""

    insert: float
    refresh: float


@dataclass
class LoopCost:
    """What writing batches back to back costs the loop, per committed batch."""

    batches_per_s: float
    loop_cpu: float  # seconds of loop-thread CPU per batch
    other_cpu: float  # seconds of CPU in every other thread of the process per batch
    loop_share: float  # loop-thread CPU / wall time
    lag_p50: float
    lag_p99: float
    lag_max: float


def samples_for(size: int, quick: bool) -> int:
    """Timed batches per phase: enough for a stable median, few enough for 3 minutes."""
    full = {1: 300, 10: 150, 500: 12}[size]
    return max(4, full // 3) if quick else full


async def latency(v: Variant, size: int, samples: int) -> Latency:
    """Insert 2,000 phones (the first ``samples`` batches timed), then refresh them."""
    await v.reset()
    inserts: list[float] = []
    timed = min(samples, PHONES // size)
    for k in range(timed):
        t = time.perf_counter()
        await v.batch(0, k * size, (k + 1) * size)
        inserts.append(time.perf_counter() - t)
    for start in range(timed * size, PHONES, 500):
        await v.batch(0, start, min(start + 500, PHONES))
    refreshes: list[float] = []
    round_ = 1
    while len(refreshes) < samples:
        for start in range(0, PHONES, size):
            t = time.perf_counter()
            await v.batch(round_, start, start + size)
            refreshes.append(time.perf_counter() - t)
            if len(refreshes) >= samples:
                break
        round_ += 1
    return Latency(statistics.median(inserts), statistics.median(refreshes))


async def ticker(stop: asyncio.Event, lags: list[float]) -> None:
    """Sleep ``TICK`` at a time and record how late each wake-up is: SIP's view of the loop."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - t - TICK))


async def write_for(v: Variant | None, size: int, seconds: float, tick: bool) -> LoopCost:
    """Write batches of ``size`` back to back for ``seconds`` (``v`` None: no writes).

    With ``tick`` the ticker runs and only its lags are meaningful; without it the CPU
    figures are the writes' alone (the ticker's own wake-ups would otherwise be a large
    share of the loop's CPU when batches are slow).
    """
    stop = asyncio.Event()
    lags: list[float] = []
    batches = 0

    async def writer() -> None:
        nonlocal batches
        assert v is not None
        round_ = 1
        while True:
            for start in range(0, PHONES, size):
                await v.batch(round_, start, start + size)
                batches += 1
                if stop.is_set():
                    return
            round_ = round_ % 4 + 1  # four prepared rounds, each differs from the last

    tasks = []
    if tick:
        tasks.append(asyncio.create_task(ticker(stop, lags)))
    if v is not None:
        tasks.append(asyncio.create_task(writer()))
    wall0, loop0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - wall0
    loop_cpu = time.thread_time() - loop0
    other_cpu = max(0.0, time.process_time() - proc0 - loop_cpu)
    lags.sort()
    per = max(batches, 1)
    return LoopCost(
        batches_per_s=batches / wall,
        loop_cpu=loop_cpu / per,
        other_cpu=other_cpu / per,
        loop_share=loop_cpu / wall,
        lag_p50=lags[len(lags) // 2] if lags else 0.0,
        lag_p99=lags[int(len(lags) * 0.99)] if lags else 0.0,
        lag_max=lags[-1] if lags else 0.0,
    )


async def loop_cost(v: Variant | None, size: int, seconds: float) -> LoopCost:
    """CPU figures from a run without the ticker, lag figures from one with it."""
    cpu = await write_for(v, size, seconds, tick=False) if v is not None else None
    lag = await write_for(v, size, seconds, tick=True)
    if cpu is None:
        return lag
    return LoopCost(
        cpu.batches_per_s,
        cpu.loop_cpu,
        cpu.other_cpu,
        cpu.loop_share,
        lag.lag_p50,
        lag.lag_p99,
        lag.lag_max,
    )


@dataclass
class Results:
    """Per-run figures, keyed by (variant, size)."""

    latency: dict[tuple[str, int], list[Latency]] = field(default_factory=dict)
    cost: dict[tuple[str, int], list[LoopCost]] = field(default_factory=dict)


async def measure_all(
    variants: Sequence[Variant], runs: int, quick: bool, load_seconds: float
) -> Results:
    """Every variant, every size, ``runs`` times, the order rotated each run."""
    res = Results()
    for run in range(runs):
        order = list(variants[run % len(variants) :]) + list(variants[: run % len(variants)])
        idle = await loop_cost(None, 1, load_seconds)
        res.cost.setdefault(("idle loop (ticker only)", 0), []).append(idle)
        for v in order:
            await v.open()
            try:
                for size in SIZES:
                    lat = await latency(v, size, samples_for(size, quick))
                    res.latency.setdefault((v.name, size), []).append(lat)
                for size in LOAD_SIZES:
                    cost = await loop_cost(v, size, load_seconds)
                    res.cost.setdefault((v.name, size), []).append(cost)
            finally:
                await v.close()
            print(f"run {run + 1}/{runs}: {v.name} done", file=sys.stderr, flush=True)
    return res


# -- report --------------------------------------------------------------------------------


def cell(values: Sequence[float], scale: float, digits: int = 2) -> str:
    """Median of the runs, with the min-max range when there are several runs."""
    med = statistics.median(values) * scale
    if len(values) < 2:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f})"


def report(res: Results, names: Sequence[str], runs: int) -> str:
    """Two markdown tables: latency per batch, and the loop's cost under continuous writes."""
    out = [
        f"Latency: ms per committed batch, median of each run; median of {runs} run(s) "
        "(min–max of the runs).",
        "",
        "| variant | " + " | ".join(f"{s} insert | {s} refresh" for s in SIZES) + " |",
        "|---|" + "---:|" * (2 * len(SIZES)),
    ]
    for name in names:
        row = [name]
        for size in SIZES:
            lats = res.latency.get((name, size), [])
            if not lats:
                row += ["–", "–"]
                continue
            row.append(cell([x.insert for x in lats], 1e3))
            row.append(cell([x.refresh for x in lats], 1e3))
        out.append("| " + " | ".join(row) + " |")
    out += [
        "",
        "Loop cost while batches of refreshes are written back to back: CPU per committed "
        "batch in the loop thread and in all other threads of the process, share of a core "
        "the loop thread used (measured without the ticker); then, in a second phase with the "
        f"same writes, lag = lateness of a ticker task's {TICK * 1e3:g} ms sleeps.",
        "",
        "| variant | batch | batches/s | loop CPU µs/batch | other threads µs/batch "
        "| loop busy % | lag p50 ms | lag p99 ms | lag max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ["idle loop (ticker only)", *names]:
        for size in (0,) if name.startswith("idle") else LOAD_SIZES:
            cs = res.cost.get((name, size), [])
            if not cs:
                continue
            out.append(
                "| "
                + " | ".join(
                    [
                        name,
                        str(size) if size else "–",
                        cell([c.batches_per_s for c in cs], 1, 0) if size else "–",
                        cell([c.loop_cpu for c in cs], 1e6, 0) if size else "–",
                        cell([c.other_cpu for c in cs], 1e6, 0) if size else "–",
                        cell([c.loop_share for c in cs], 100, 0) if size else "–",
                        cell([c.lag_p50 for c in cs], 1e3),
                        cell([c.lag_p99 for c in cs], 1e3),
                        cell([c.lag_max for c in cs], 1e3),
                    ]
                )
                + " |"
            )
    return "\n".join(out)


# -- PostgreSQL and main -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A throw-away cluster from ``scripts/pg-test-cluster.sh``, stopped and removed on exit."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pbx-bench-drivers-pg-"))
        self.port = _free_port()
        self.url = ""

    def __enter__(self) -> Cluster:
        try:
            self.url = subprocess.run(
                [str(CLUSTER_SCRIPT), "start", str(self.folder), str(self.port)],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout.strip()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(
            [str(CLUSTER_SCRIPT), "stop", str(self.folder), str(self.port)],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def available(module: str) -> bool:
    """Whether an optional bench-only driver is installed (else its rows are skipped)."""
    try:
        __import__(module)
    except ImportError:
        print(
            f"{module} is not installed: skipped (.venv/bin/pip install {module})", file=sys.stderr
        )
        return False
    return True


def variants(tmp: Path, pg_url: str | None, work: Workload) -> Iterator[Variant]:
    """Every variant that can run here, each SQLite one on its own migrated file."""

    def sqlite_file(name: str) -> str:
        path = tmp / f"{name}.db"
        upgrade_to_head(f"sqlite:///{path}")
        return str(path)

    yield Sqlite3Executor("sqlite3 executor", sqlite_file("sqlite3"), work)
    if available("aiosqlite"):
        yield AioSqlite("aiosqlite", sqlite_file("aiosqlite"), work)
    yield Store("store (SQLite)", f"sqlite:///{sqlite_file('store')}", work)
    if pg_url is None:
        return
    upgrade_to_head(pg_url)
    libpq = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    yield PsycopgExecutor("psycopg executor", libpq, work)
    yield PsycopgAsync("psycopg async", libpq, work)
    if available("asyncpg"):
        yield Asyncpg("asyncpg", libpq, work)
    yield Store("store (PostgreSQL)", pg_url, work)


def run(pg_url: str | None, args: argparse.Namespace) -> str:
    """Measure everything on a uvloop loop (as ``pbx serve`` runs) and return the report."""
    work = Workload()
    for r in range(5):  # every round the measurements use, converted before any timing
        for sqlite in (True, False):
            work.params(sqlite, r)
    runs = 1 if args.quick else args.runs
    seconds = 0.5 if args.quick else args.load_seconds
    with tempfile.TemporaryDirectory(prefix="pbx-bench-drivers-") as tmp:
        vs = list(variants(Path(tmp), pg_url, work))
        try:
            import uvloop

            res = uvloop.run(measure_all(vs, runs, args.quick, seconds))
            loop_name = "uvloop"
        except ImportError:
            res = asyncio.run(measure_all(vs, runs, args.quick, seconds))
            loop_name = "asyncio"
    load = os.getloadavg()
    head = (
        f"{loop_name}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n\n"
    )
    return head + report(res, [v.name for v in vs], runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run (about 20 s)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--load-seconds", type=float, default=1.0, help="per load measurement")
    parser.add_argument("--postgres-url", help="an existing server instead (its table is wiped)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    t = time.perf_counter()
    if args.no_postgres or args.postgres_url:
        text = run(args.postgres_url, args)
    else:
        with Cluster() as cluster:
            text = run(cluster.url, args)
    print(text)
    print(f"\n(total {time.perf_counter() - t:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
