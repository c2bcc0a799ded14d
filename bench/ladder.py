"""Rate ladders: the highest rate a registrar sustains cleanly.

A rung passes when, over its whole duration, fewer than 0.1% of the attempts failed,
at most 1% of the requests were retransmitted, the average response time stayed
under 100 ms and sipp kept the pace (a registrar that slows down makes sipp hit its
concurrency limit and fall behind). The climb stops at the first failing rung and
then bisects twice between the last passing and the first failing rate (between
4,000 and 6,000/s: 5,000, then 4,500 or 5,500), so a ceiling is known to 500/s near
the rates compared.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import procs, server_log, sipp
from bench.servers import System
from bench.users import Account

MAX_FAILED = 0.001
MAX_RETRANS = 0.01
MAX_AVG_MS = 100.0
MIN_PACE = 0.9
REST_S = 2.0
#: sipp cores per sipp process from which a failed rung is marked as sipp's own limit.
SIPP_SATURATED = 0.9


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat, first line)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / procs.TICKS


class CpuSampler:
    """CPU seconds of process trees, sampled every ``every`` seconds in a thread.

    It also notes the whole machine's busy time, so that a rung can say how much CPU
    other programs took meanwhile: the bench shares 2 cores with whatever else runs.
    """

    def __init__(self, pid: int, every: float = 0.25, also: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.also = also
        self.every = every
        self.samples: list[tuple[float, float]] = []
        # The same for ``also`` alone (PostgreSQL's server), to say its share.
        self.also_samples: list[tuple[float, float]] = []
        self.machine: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        now = time.time()
        also = sum(procs.cpu_seconds(pid) for pid in self.also)
        self.samples.append((now, procs.cpu_seconds(self.pid) + also))
        self.also_samples.append((now, also))
        self.machine.append(machine_busy_seconds())

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.every):
                self._sample()
                return

    def others_cores(self, sipp_cpu_s: float) -> float:
        """Cores used on average by programs other than the server and sipp."""
        if len(self.samples) < 2:
            return 0.0
        span = self.samples[-1][0] - self.samples[0][0]
        other = self.machine[-1] - self.machine[0] - self.total() - sipp_cpu_s
        return max(0.0, other / max(span, 1e-9))

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float, *, also_only: bool = False) -> float:
        """CPU seconds at ``when``, linearly interpolated between samples (of
        ``also`` alone with ``also_only``)."""
        points = self.also_samples if also_only else self.samples
        if not points:
            return 0.0
        if when <= points[0][0]:
            return points[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(points):
            if t0 <= when <= t1:
                return c0 if t1 == t0 else c0 + (c1 - c0) * (when - t0) / (t1 - t0)
        return points[-1][1]

    def total(self, *, also_only: bool = False) -> float:
        """CPU seconds between the first and the last sample (of ``also`` alone with
        ``also_only``)."""
        points = self.also_samples if also_only else self.samples
        return points[-1][1] - points[0][1] if points else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Rung:
    """One step of a ladder and its verdict."""

    rate: int
    passed: bool
    why: str
    attempts: int
    ok: int
    failed: int
    retransmissions: int
    achieved_per_s: float
    cpu_us_each: float
    avg_ms: float
    p50_ms: float
    p99_ms: float
    wall_s: float
    sipp_exit: list[int]
    sipp_cores: float
    other_cores: float
    # Of cpu_us_each, what the database server used (PostgreSQL; 0 for the others).
    db_us_each: float = 0.0
    # Datagrams dropped at a full receive buffer meanwhile (procs.udp_receive_drops).
    dropped: int = 0
    # Stalls of 0.5 s or more the server logged, {kind: [count, longest s]}
    # (bench.server_log: a commit, a late event loop, a garbage collection).
    stalls: dict[str, list[float]] = field(default_factory=dict)

    def line(self) -> str:
        """One progress line for the console."""
        verdict = "pass" if self.passed else f"FAIL ({self.why})"
        return (
            f"  {self.rate:>6}/s: {self.ok}/{self.attempts} ok, {self.failed} failed, "
            f"{self.retransmissions} retrans, {self.dropped} dropped{self._stalls()}, "
            f"{self.achieved_per_s:.0f}/s achieved, "
            f"{self.cpu_us_each:.0f} us CPU each{self._db()}, avg {self.avg_ms:.1f} ms, "
            f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, sipp {self.sipp_cores:.2f} "
            f"cores, others {self.other_cores:.2f} cores -> {verdict}"
        )

    def _stalls(self) -> str:
        if not self.stalls:
            return ""
        kinds = ", ".join(
            f"{kind} {count:.0f} (longest {longest:.2f} s)"
            for kind, (count, longest) in sorted(self.stalls.items())
        )
        return f", stalls logged: {kinds}"

    def _db(self) -> str:
        return f" ({self.db_us_each:.0f} of them the database's)" if self.db_us_each else ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rung:
        """The rung ``as_dict`` wrote (a stored run's JSON)."""
        return cls(**data)


def _verdict(failed_ratio: float, retrans_ratio: float, avg_ms: float, pace: float) -> str:
    problems = []
    if failed_ratio >= MAX_FAILED:
        problems.append(f"{failed_ratio:.2%} failed")
    if retrans_ratio > MAX_RETRANS:
        problems.append(f"{retrans_ratio:.2%} retransmitted")
    if not avg_ms < MAX_AVG_MS:
        problems.append(f"avg {avg_ms:.0f} ms")
    if pace < MIN_PACE:
        problems.append(f"pace {pace:.0%}")
    return ", ".join(problems)


def _saturated(why: str, sipp_cores: float, processes: int) -> str:
    """``why`` with a mark when sipp itself had no CPU to spare.

    Why: one sipp process here tops out at about 21,000 registrations/s (0.94 to
    0.96 cores, 2026-11-29), below 1.5x a fast day's Kamailio. A rung that fails
    then fails on the load generator as much as on the server; the verdict stays a
    failure (nobody knows what the server would have done), but the line says so.
    """
    if why and sipp_cores / max(processes, 1) >= SIPP_SATURATED:
        return f"{why}; sipp saturated at {sipp_cores:.2f} cores"
    return why


@dataclass(frozen=True)
class Load:
    """What every rung of one ladder shares."""

    system: System
    users: list[Account]
    step_s: float
    folder: Path
    sipp_processes: int = 1


def registration_rung(load: Load, rate: int) -> Rung:
    """``rate`` initial registrations per second (REGISTER/401/REGISTER/200) for step_s."""
    folder = load.folder / f"register-{rate}"
    folder.mkdir(parents=True, exist_ok=True)
    scenario = sipp.render("register.xml", folder, {})
    calls = int(rate * load.step_s)
    drops = procs.udp_receive_drops()
    said = server_log.LogTail(load.system.log)
    with CpuSampler(load.system.pid, also=load.system.also) as cpu:
        run = sipp.run(
            folder,
            scenario,
            (load.system.host, load.system.port),
            load.users,
            rate=rate,
            calls=calls,
            limit=max(200, rate),
            timeout_s=load.step_s + 15,  # a lost packet ends its call after 11.5 s
            processes=load.sipp_processes,
        )
    drops = procs.udp_receive_drops() - drops
    stalls = server_log.stalls(said.new_text())
    ok = run.counter("SuccessfulCall")
    failed = calls - ok  # calls never created or still open at sipp's timeout included
    retrans = run.counter("Retransmissions")
    rtts = run.rtts(1)
    avg = statistics.fmean(rtts) if rtts else math.nan
    # Pace: did sipp create the calls on schedule? A registrar that slows down fills
    # the concurrency limit (-l) and sipp falls behind. 1 s of slack (rows are 1 s apart).
    took = run.time_to_create(calls)
    pace = 0.0 if took is None else min(1.0, (load.step_s + 1.0) / max(took, 1e-9))
    achieved = ok / max(took or run.wall_s, load.step_s)
    why = _verdict(failed / max(calls, 1), retrans / max(2 * calls, 1), avg, pace)
    sipp_cores = run.children_cpu_s / max(run.wall_s, 1e-9)
    why = _saturated(why, sipp_cores, load.sipp_processes)
    return Rung(
        rate=rate,
        passed=not why,
        why=why,
        attempts=calls,
        ok=ok,
        failed=failed,
        retransmissions=retrans,
        achieved_per_s=achieved,
        cpu_us_each=cpu.total() * 1e6 / max(ok, 1),
        avg_ms=avg,
        p50_ms=percentile(rtts, 50),
        p99_ms=percentile(rtts, 99),
        wall_s=run.wall_s,
        sipp_exit=run.exit_codes,
        sipp_cores=sipp_cores,
        other_cores=cpu.others_cores(run.children_cpu_s),
        db_us_each=cpu.total(also_only=True) * 1e6 / max(ok, 1),
        dropped=drops,
        stalls=stalls,
    )


def refresh_plan(users: int, rate: int, ramp_cap: float) -> tuple[int, float, float, float]:
    """(phones, refresh period s, start rate /s, ramp s) of a refresh rung: one phone
    per account up to ``rate``, each refreshing every phones/rate seconds, started at
    ``ramp_cap``/s at most. The steady window begins one period after the ramp."""
    phones = min(users, rate)
    ramp_rate = max(50.0, min(phones / 2, ramp_cap))
    return phones, phones / rate, ramp_rate, phones / ramp_rate


def refresh_rung(load: Load, rate: int, ramp_cap: float) -> Rung:
    """Steady state: phones refreshing with a still-valid nonce, ``rate`` refreshes/s.

    P phones (at most one per account) each register once, then refresh every
    P/rate seconds with the same nonce and the next nc. They are started at
    ``ramp_cap``/s at most; only the window where every phone is refreshing counts.
    """
    folder = load.folder / f"refresh-{rate}"
    folder.mkdir(parents=True, exist_ok=True)
    phones, period, ramp_rate, ramp_s = refresh_plan(len(load.users), rate, ramp_cap)
    refreshes = math.ceil((ramp_s + load.step_s) / period) + 3  # margin after the window
    scenario = sipp.render(
        "refresh.xml",
        folder,
        {"REFRESHES": str(refreshes), "PERIOD_MS": str(round(period * 1000))},
    )
    drops = procs.udp_receive_drops()
    said = server_log.LogTail(load.system.log)
    with CpuSampler(load.system.pid, also=load.system.also) as cpu:
        run = sipp.run(
            folder,
            scenario,
            (load.system.host, load.system.port),
            load.users,
            rate=ramp_rate,
            calls=phones,
            limit=phones,
            timeout_s=ramp_s + refreshes * period * 1.5 + 15,
            processes=load.sipp_processes,
        )
    drops = procs.udp_receive_drops() - drops
    stalls = server_log.stalls(said.new_text())
    start = run.started + ramp_s + period
    end = start + load.step_s
    window = run.rtts(2, start, end)
    all_refreshes = len(run.rtts(2))
    ok_phones = run.counter("SuccessfulCall")
    failed = phones - ok_phones  # a phone stops at its first failed refresh
    retrans = run.counter("Retransmissions")
    avg = statistics.fmean(window) if window else math.nan
    achieved = len(window) / load.step_s
    why = _verdict(
        failed / max(all_refreshes + failed, 1),
        retrans / max(2 * phones + all_refreshes, 1),
        avg,
        achieved / rate,
    )
    sipp_cores = run.children_cpu_s / max(run.wall_s, 1e-9)
    why = _saturated(why, sipp_cores, load.sipp_processes)
    cpu_window = cpu.at(end) - cpu.at(start)
    return Rung(
        rate=rate,
        passed=not why,
        why=why,
        attempts=all_refreshes + failed,
        ok=all_refreshes,
        failed=failed,
        retransmissions=retrans,
        achieved_per_s=achieved,
        cpu_us_each=cpu_window * 1e6 / max(len(window), 1),
        db_us_each=(cpu.at(end, also_only=True) - cpu.at(start, also_only=True))
        * 1e6
        / max(len(window), 1),
        avg_ms=avg,
        p50_ms=percentile(window, 50),
        p99_ms=percentile(window, 99),
        wall_s=run.wall_s,
        sipp_exit=run.exit_codes,
        sipp_cores=sipp_cores,
        other_cores=cpu.others_cores(run.children_cpu_s),
        dropped=drops,
        stalls=stalls,
    )


@dataclass
class Climb:
    """Every rung tried, and the best passing one."""

    rungs: list[Rung]

    @property
    def best(self) -> Rung | None:
        """The passing rung with the highest rate."""
        passing = [r for r in self.rungs if r.passed]
        return max(passing, key=lambda r: r.rate) if passing else None


def bisect_rate(result: Climb) -> int | None:
    """The rate halfway (rounded to 100) between the best passing rung and the lowest
    failing one above it, or None when there is no failing rung or no room between.
    Called again after a bisect rung, it narrows the same interval."""
    passed = [r.rate for r in result.rungs if r.passed]
    low = max(passed, default=0)
    high = min((r.rate for r in result.rungs if not r.passed and r.rate > low), default=None)
    if high is None:
        return None
    mid = int(round((low + high) / 2, -2))
    return mid if low < mid < high else None


def climb_together(
    rates: Sequence[int],
    steps: dict[str, Callable[[int], Rung]],
    *,
    deadline: float,
    say: Callable[[str], None] = print,
    done: Callable[[str], None] = lambda name: None,
) -> dict[str, Climb]:
    """Climb the ladders of several systems together, rung by rung: at each rate every
    system still climbing runs its rung before any runs the next rate, and a system
    stops at its first failing rung (``bisect_rate`` then says which rate to try in
    between, on a freshly started system: the failed rung leaves a backlog behind).

    Why together: this machine is shared and its speed drifts over minutes; ladders
    run one after the other carry that drift into their ratio, while rungs of one
    rate, run back to back, meet nearly the same machine. ``done(name)`` is called
    as soon as a system stops climbing, before the next rung: a system that failed
    a rung still has a backlog to work off, which must not run into another
    system's rung (``bench.run`` stops it there)."""
    rungs: dict[str, list[Rung]] = {name: [] for name in steps}
    climbing = list(steps)
    for rate in rates:
        if not climbing:
            break
        if time.monotonic() > deadline:
            say("  (time budget spent: stopping the climbs)")
            break
        for name in list(climbing):
            try:
                rung = steps[name](rate)
            except Exception as exc:  # a harness failure loses this ladder, not the others
                say(f"!! {name} at {rate}/s: {exc}")
                climbing.remove(name)
                done(name)
                continue
            rungs[name].append(rung)
            say(f"{rung.line()}  [{name}]")
            if not rung.passed:
                climbing.remove(name)
                done(name)
            time.sleep(REST_S)
    return {name: Climb(found) for name, found in rungs.items()}
