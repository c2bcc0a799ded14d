"""Drive sipp and read back what it counted.

Why several processes: one sipp process saturates near 30,000 messages handled per
second on these machines (FIELD-NOTES), so a load can be split over ``processes``
sipp instances, each on its own loopback address (127.0.0.2, 127.0.0.3, ...) with its
own slice of the accounts. Counters are summed; response-time samples are pooled.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.users import Account, injection_csv

SCENARIOS = Path(__file__).resolve().parent / "scenarios"

#: sipp's open sockets at most (one per open call with ``-t un``); within ``ulimit -n``.
MAX_SOCKETS = 15000


@dataclass(frozen=True)
class RttSample:
    """One response-time sample of ``-trace_rtt``: when (epoch s), how long (ms), which rtd."""

    at: float
    ms: float
    rtd: int


@dataclass
class SippRun:
    """Summed counters, pooled samples and exit codes of the sipp processes of one step."""

    counters: dict[str, int] = field(default_factory=dict)
    samples: list[RttSample] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    started: float = 0.0
    wall_s: float = 0.0
    errors_tail: str = ""
    created: list[list[tuple[float, int]]] = field(default_factory=list)
    """Per process, (seconds since its start, calls created so far), one row a second."""
    children_cpu_s: float = 0.0
    """CPU seconds the sipp processes themselves used."""

    def counter(self, name: str) -> int:
        """A cumulative counter, e.g. ``SuccessfulCall`` (the ``(C)`` column), summed."""
        return self.counters.get(name, 0)

    def created_by(self, elapsed: float) -> int:
        """Calls all processes had created ``elapsed`` seconds after they started."""
        total = 0
        for rows in self.created:
            before = [n for t, n in rows if t <= elapsed + 0.01]
            total += before[-1] if before else 0
        return total

    def time_to_create(self, calls: int) -> float | None:
        """Seconds until ``calls`` calls were created (per the 1 s rows), None if never."""
        times = sorted({t for rows in self.created for t, _ in rows})
        return next((t for t in times if self.created_by(t) >= calls), None)

    def rtts(self, rtd: int, start: float | None = None, end: float | None = None) -> list[float]:
        """Response times (ms) of ``rtd``, optionally only those that ended in [start, end)."""
        return [
            s.ms
            for s in self.samples
            if s.rtd == rtd and (start is None or s.at >= start) and (end is None or s.at < end)
        ]


def render(scenario: str, folder: Path, values: dict[str, str]) -> Path:
    """Copy a scenario into ``folder`` with its @NAME@ placeholders filled in."""
    text = (SCENARIOS / scenario).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    path = folder / scenario
    path.write_text(text)
    return path


def _stat_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


def _epoch(stamp: str) -> float:
    """sipp writes ``date<TAB>time<TAB>epoch``; the last part is what we need."""
    return float(stamp.split("\t")[-1]) if stamp else 0.0


def _samples(folder: Path, start_epoch: float) -> list[RttSample]:
    """-trace_rtt rows are ``Date_ms;response_time_ms;rtd_no``, Date_ms since sipp started."""
    out: list[RttSample] = []
    for path in folder.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            if len(parts) == 3:
                try:
                    at, ms, rtd = float(parts[0]), float(parts[1]), int(parts[2])
                except ValueError:
                    continue
                out.append(RttSample(start_epoch + at / 1000, ms, rtd))
    return out


def clear_traces(sub: Path) -> None:
    """Remove what an earlier sipp left in ``sub``: its response times are in a file
    named after its pid, which ``_samples`` would read beside the new run's."""
    for path in [*sub.glob("*_rtt.csv"), sub / "stat.csv", sub / "errors.log"]:
        path.unlink(missing_ok=True)


def run(
    folder: Path,
    scenario: Path,
    target: tuple[str, int],
    users: list[Account],
    *,
    rate: float,
    calls: int,
    limit: int,
    timeout_s: float,
    processes: int = 1,
) -> SippRun:
    """``calls`` calls at ``rate``/s, at most ``limit`` at once, split over ``processes``.

    Bounded: sipp stops itself after ``timeout_s`` (calls still open then are failures),
    and the harness kills it 30 s later if it hangs.
    """
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is missing: run scripts/install-bench-deps.sh")
    folder.mkdir(parents=True, exist_ok=True)
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    started = time.time()
    cpu_before = os.times()
    try:
        for i in range(processes):
            sub = folder / f"sipp{i}"
            sub.mkdir(exist_ok=True)
            clear_traces(sub)
            share = users[i::processes]
            inf = injection_csv(sub / "users.csv", share)
            local = "127.0.0.1" if processes == 1 else f"127.0.0.{2 + i}"
            part = calls // processes + (1 if i < calls % processes else 0)
            command = [
                sipp, f"{target[0]}:{target[1]}",
                "-sf", str(scenario), "-inf", str(inf),
                # One socket per call, as real phones each have their own address; the
                # kernel's SO_REUSEPORT spread over pbx's workers is by source address.
                "-t", "un", "-max_socket", str(MAX_SOCKETS),
                "-i", local, "-p", str(procs.free_port(local)),
                "-r", f"{rate / processes:.3f}".rstrip("0").rstrip("."), "-rp", "1000",
                "-l", str(max(1, limit // processes)), "-m", str(part),
                "-nd", "-nostdin",
                "-trace_stat", "-stf", str(sub / "stat.csv"), "-fd", "1",
                "-trace_rtt", "-rtt_freq", "100",  # sipp never writes the last partial batch
                "-trace_err", "-error_file", str(sub / "errors.log"),
                "-timeout", f"{int(timeout_s)}s", "-timeout_error",
                "-max_recv_loops", "10000", "-max_sched_loops", "10000",
            ]  # fmt: skip
            proc = procs.start(command, sub / "sipp.out", cwd=sub)
            running.append((proc, sub))
        for proc, _ in running:
            try:
                proc.wait(timeout_s + 30)
            except subprocess.TimeoutExpired:
                procs.stop(proc)
    finally:
        for proc, _ in running:
            procs.stop(proc)
    cpu_after = os.times()
    result = SippRun(
        started=started,
        wall_s=time.time() - started,
        children_cpu_s=(cpu_after.children_user - cpu_before.children_user)
        + (cpu_after.children_system - cpu_before.children_system),
    )
    for proc, sub in running:
        result.exit_codes.append(proc.returncode if proc.returncode is not None else -1)
        rows = _stat_rows(sub / "stat.csv")
        stats = rows[-1] if rows else {}
        begin = _epoch(stats.get("StartTime", ""))
        result.created.append(
            [
                (_epoch(row.get("CurrentTime", "")) - begin, int(row["TotalCallCreated"] or 0))
                for row in rows
                if row.get("TotalCallCreated", "").isdigit()
            ]
        )
        for key, value in stats.items():
            if key.endswith("(C)") and value.strip().lstrip("-").isdigit():
                name = key[:-3]
                result.counters[name] = result.counters.get(name, 0) + int(value)
        result.samples += _samples(sub, _epoch(stats.get("StartTime", "")) or started)
        errors = sub / "errors.log"
        if errors.exists():
            result.errors_tail += errors.read_text(errors="replace")[-1500:]
    return result
