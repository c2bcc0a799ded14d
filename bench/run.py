"""`make bench`: pbx (SQLite, then PostgreSQL) against Kamailio 5.6, in one run.

    .venv/bin/python -m bench.run            # full: 10,000 users, 20 s rungs (~20 min)
    .venv/bin/python -m bench.run --quick    # 2,000 users, 5 s rungs, SQLite only (~3 min)

For each system: a ladder of initial-registration rates, a ladder of steady-state
refresh rates, and (pbx on SQLite) a py-spy profile at its best rate; then the API at
scale. Everything listens on 127.0.0.1 and every process started here is stopped in
a ``finally``. Results go to bench/results/latest.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench import api_scale, ladder, profile, servers
from bench.ladder import Load
from bench.report import SystemResult, write
from bench.servers import System
from bench.users import Account, accounts

RESULTS = Path(__file__).resolve().parent / "results"
FULL_RATES = (250, 500, 1000, 2000, 4000, 6000, 8000, 10000, 13000, 16000, 20000)
QUICK_RATES = (250, 1000, 4000, 13000)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 users, 5 s rungs, fewer rungs")
    parser.add_argument("--users", type=int, help="accounts (default 10,000; quick 2,000)")
    parser.add_argument("--step", type=float, help="seconds per rung (default 20; quick 5)")
    parser.add_argument("--rates", help="comma-separated ladder, e.g. 500,1000,2000")
    parser.add_argument("--api-phones", type=int, help="phones for the API test (100,000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="pbx server.workers (default: one per core)",
    )
    parser.add_argument("--sipp-processes", type=int, default=1, help="split load over N sipp")
    parser.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=None,
                        help="also pbx on PostgreSQL (default: yes; quick: no)")  # fmt: skip
    parser.add_argument("--only", choices=("pbx", "kamailio"), help="run one side only")
    parser.add_argument("--bare", action=argparse.BooleanOptionalAction, default=True,
                        help="also the bare uvloop reference loop (bench/bare.py)")  # fmt: skip
    parser.add_argument("--no-refresh", action="store_true", help="skip the steady-state ladder")
    parser.add_argument("--no-api", action="store_true", help="skip the API-at-scale step")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument("--profile-gil", action="store_true",
                        help="profile only the thread holding the interpreter lock")  # fmt: skip
    parser.add_argument("--budget", type=float, help="seconds before climbs stop (34 min/200 s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    args.users = args.users or (2000 if args.quick else 10000)
    args.step = args.step or (5.0 if args.quick else 20.0)
    args.rates = (
        tuple(int(r) for r in args.rates.split(","))
        if args.rates
        else (QUICK_RATES if args.quick else FULL_RATES)
    )
    args.api_phones = args.api_phones or (20000 if args.quick else 100000)
    args.postgres = (not args.quick) if args.postgres is None else args.postgres
    args.budget = args.budget or (200.0 if args.quick else 34 * 60.0)
    return args


def say(text: str) -> None:
    """Progress on stdout, flushed (make shows it as it comes)."""
    print(text, flush=True)


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def bench_system(
    name: str,
    start: Callable[[], AbstractContextManager[System]],
    args: argparse.Namespace,
    work: Path,
    deadline: float,
    *,
    do_profile: bool,
) -> SystemResult:
    """Both ladders (and optionally a profile), each against a freshly started system."""
    result = SystemResult(name)
    users = accounts(args.users)
    say(f"\n== {name}: initial registrations ({args.users} users, {args.step:g} s rungs)")
    # Each ladder, and each bisect rung, runs against a freshly started system: a
    # ladder ends by overloading it (the failing rung leaves retransmission storms,
    # full caches and queues behind), which would weigh on whatever ran next.
    with start() as system:
        load = Load(system, users, args.step, work / "register", args.sipp_processes)
        result.register = ladder.climb(
            args.rates,
            functools.partial(ladder.registration_rung, load),
            deadline=deadline,
            say=say,
        )
    mid = None if args.quick else ladder.bisect_rate(result.register)
    if mid is not None and time.monotonic() < deadline:
        with start() as system:
            load = Load(system, users, args.step, work / "register-2", args.sipp_processes)
            _bisect(result.register, ladder.registration_rung(load, mid))
    best = result.register.best
    if do_profile and best is not None and time.monotonic() < deadline:
        # A system of its own, like every other rung: the bisect's pbx may have just
        # been overloaded, and its backlog would weigh on the profiled rung.
        with start() as system:
            load = Load(system, users, args.step, work / "register-3", args.sipp_processes)
            result.profile = _profile(load, best.rate, work, gil=args.profile_gil)
    if args.no_refresh or time.monotonic() >= deadline:
        return result
    best = result.register.best
    ramp_cap = max(200.0, 0.5 * (best.rate if best else 0))
    say(f"== {name}: steady-state refreshes (phones started at <= {ramp_cap:.0f}/s)")
    with start() as system:
        load = Load(system, users, args.step, work / "refresh", args.sipp_processes)
        result.refresh = ladder.climb(
            args.rates,
            functools.partial(ladder.refresh_rung, load, ramp_cap=ramp_cap),
            deadline=deadline,
            say=say,
        )
    mid = None if args.quick else ladder.bisect_rate(result.refresh)
    if mid is not None and time.monotonic() < deadline:
        with start() as system:
            load = Load(system, users, args.step, work / "refresh-2", args.sipp_processes)
            _bisect(result.refresh, ladder.refresh_rung(load, mid, ramp_cap=ramp_cap))
    return result


def _bisect(climb: ladder.Climb, rung: ladder.Rung) -> None:
    """Add a bisect rung (run on its own fresh system) to its ladder's result."""
    climb.rungs.append(rung)
    say(rung.line() + "  (bisect)")
    time.sleep(ladder.REST_S)


def _profile(
    load: Load, rate: int, work: Path, gil: bool = False
) -> dict[str, list[tuple[str, float]]]:
    """Record pbx with py-spy during one more rung at its best rate.

    In windows of ``profile.WINDOW_S`` one after the other, each its own py-spy: in
    native mode py-spy 0.4 sometimes dies of SIGSEGV while sampling pbx under load
    (two full runs came back empty, 20 s recordings), and a crash then loses one
    window, not the profile.
    """
    folder = work / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    if profile.py_spy() is None:
        say("  (py-spy not installed: no profile; `.venv/bin/pip install py-spy`)")
        return {}
    say(f"  profiling pbx with py-spy at {rate}/s")
    rungs: list[ladder.Rung] = []
    driver = threading.Thread(
        target=lambda: rungs.append(
            ladder.registration_rung(Load(load.system, load.users, load.step_s, folder), rate)
        )
    )
    driver.start()
    raws: list[Path] = []
    crashed: list[str] = []
    while driver.is_alive():
        raw = folder / f"pbx-{len(raws)}.raw.txt"
        recorder = profile.start(load.system.pid, profile.WINDOW_S, raw, gil=gil)
        assert recorder is not None
        try:
            # py-spy resolves the native symbols of every process before it writes:
            # on a loaded machine that can take a while after the window ends.
            recorder.wait(profile.WINDOW_S + 120)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
        raws.append(raw)
        if not raw.exists():
            said = raw.with_suffix(".log").read_text(errors="replace").strip()
            crashed.append(f"exit {recorder.returncode}: {said[-120:] or 'nothing'}")
    driver.join()
    if rungs:
        say(rungs[0].line() + "  (profiled)")
    if crashed:
        say(f"  ({len(crashed)} of {len(raws)} py-spy windows wrote nothing: {crashed})")
    top = profile.top(raws)
    if not top["self"]:
        say("  (the profile is empty)")
    for fn, share in top["self"][:8]:
        say(f"    {share:6.1%} self  {fn}")
    return top


def _systems(
    args: argparse.Namespace, work: Path
) -> Iterator[tuple[str, Callable[[], AbstractContextManager[System]], bool]]:
    users = accounts(args.users)
    if args.only != "kamailio":
        db = work / "pbx-sqlite" / "pbx.db"
        yield (
            "pbx (SQLite)",
            lambda: servers.pbx(
                "pbx (SQLite)",
                db.parent,
                users,
                {"type": "sqlite", "path": str(db)},
                workers=args.workers,
            ),
            not args.no_profile,
        )
    if args.only != "kamailio" and args.postgres:
        yield ("pbx (PostgreSQL)", lambda: _pbx_on_postgres(work, users, args.workers), False)
    if args.only != "pbx":
        yield ("Kamailio 5.6", lambda: servers.kamailio(work / "kamailio", users), False)
    if args.only != "pbx" and args.bare:
        yield ("bare uvloop loop (reference)", lambda: servers.bare(work / "bare", users), False)


@contextlib.contextmanager
def _pbx_on_postgres(work: Path, users: list[Account], workers: int) -> Iterator[System]:
    """A throw-away PostgreSQL cluster with pbx in front of it; both stopped afterwards.
    The PostgreSQL server's CPU counts as pbx's: it does the work SQLite does in-process."""
    with servers.postgres() as (url, postmaster):
        settings = servers.pg_settings(url)
        folder = work / "pbx-postgres"
        with servers.pbx(
            "pbx (PostgreSQL)", folder, users, settings, also=(postmaster,), workers=workers
        ) as system:
            yield system


def _tree() -> str:
    """The commit measured, and whether src/ had uncommitted changes (others edit it)."""
    head = _version(["git", "-C", str(servers.REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(servers.REPO), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return f"{head} + uncommitted changes in src/" if dirty else head


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit 0 when a table was written, 1 otherwise."""
    args = _args(argv)
    started = time.monotonic()
    deadline = started + args.budget
    for tool in ("sipp", "kamailio"):
        if shutil.which(tool) is None and not (tool == "kamailio" and args.only == "pbx"):
            say(f"bench: `{tool}` is missing: run `bash scripts/install-bench-deps.sh`")
            return 1
    conditions: dict[str, object] = {
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "users": args.users,
        "rung seconds": args.step,
        "cores": os.cpu_count(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "sipp": _version(["sipp", "-v"]).replace("\x1b", ""),
        "kamailio": _version(["kamailio", "-v"]),
        "python": platform.python_version(),
        "pbx tree": _tree(),
        "sipp processes": args.sipp_processes,
        "pbx SIP workers": args.workers,
    }
    results: list[SystemResult] = []
    api: dict[str, object] | None = None
    with tempfile.TemporaryDirectory(prefix="pbx-bench-") as tmp:
        work = Path(tmp)
        for name, start, do_profile in _systems(args, work):
            sub = work / name.split()[0].lower() / name.split("(")[-1].strip(")").lower()
            try:
                results.append(
                    bench_system(name, start, args, sub, deadline, do_profile=do_profile)
                )
            except Exception as exc:  # one system failing to start must not lose the others
                say(f"!! {name}: {exc}")
                results.append(SystemResult(name))
        if not args.no_api and args.only != "kamailio":
            say(f"\n== API at scale: {args.api_phones:,} phones")
            folder = work / "api"
            db = folder / "pbx.db"
            try:
                api = api_scale.measure(
                    folder, args.api_phones, {"type": "sqlite", "path": str(db)}, f"sqlite:///{db}"
                )
                say(f"  {api}")
            except Exception as exc:
                say(f"!! API at scale: {exc}")
    conditions["wall minutes"] = round((time.monotonic() - started) / 60, 1)
    md, js = write(args.out, conditions, results, api)
    say(f"\n{md.read_text()}\nwritten: {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
