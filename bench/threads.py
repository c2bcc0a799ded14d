"""Where pbx's CPU goes, by process and thread, user and system time apart.

    .venv/bin/python -m bench.threads                 # 4,000 registrations/s, 20 s
    .venv/bin/python -m bench.threads --rate 3000 --seconds 30 --workers 2
    .venv/bin/python -m bench.threads --refresh --rate 6000   # steady-state refreshes
    .venv/bin/python -m bench.threads --postgres --rate 9000  # on a throw-away PostgreSQL

Starts pbx (SQLite, or with ``--postgres`` a PostgreSQL cluster of its own, both as
``make bench`` sets them up; 10,000 users), runs one registration rung
(or, with ``--refresh``, one refresh rung: rates are then refreshes/s), and reads
``/proc/PID/task/TID/stat`` of every pbx thread over the middle of the rung (4 s after
its start, or after the phones' ramp, to 4 s before its end). Prints,
per thread, the cores it used and its user and system microseconds per registration
(of all registrations, so the workers' figures add up). Why: the bench's table gives
one figure per system; deciding what to cut needs to know whether the time is the
kernel's (system calls: sending, receiving, the links) or pbx's own Python work, and
which process spends it (a SIP worker, the main process's loop, its database writer,
and on PostgreSQL the server's own processes, listed apart and not in pbx's total).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from bench import ladder, procs, servers
from bench.users import accounts

#: Seconds left out at each end of the rung.
MARGIN_S = 4.0

#: (pid, tid, thread name) -> (user seconds, system seconds)
Times = dict[tuple[int, int, str], tuple[float, float]]


def thread_times(pids: list[int]) -> Times:
    """User and system CPU seconds of every thread of ``pids``, now."""
    return {
        (pid, tid, name): times
        for pid in pids
        for (tid, name), times in procs.thread_times(pid).items()
    }


def report(
    before: Times,
    after: Times,
    seconds: float,
    rate: int,
    main_pid: int,
    database_pids: frozenset[int] = frozenset(),
) -> list[str]:
    """One line per thread that used at least 1% of a core, and the totals: pbx's,
    and apart from it the database server's (``database_pids``), if any."""
    lines = []
    user_total = system_total = db_user = db_system = 0.0
    for key in sorted(after):
        if key not in before:
            continue
        user = after[key][0] - before[key][0]
        system = after[key][1] - before[key][1]
        pid, tid, name = key
        if pid in database_pids:
            db_user += user
            db_system += system
            role = "PostgreSQL"
        else:
            user_total += user
            system_total += system
            role = "main process" if pid == main_pid else "SIP worker"
        if user + system < 0.01 * seconds:
            continue
        role += "" if tid == pid else f", thread {tid}"
        lines.append(
            f"  {role} (pid {pid}, {name}): {(user + system) / seconds:.2f} cores; per "
            f"registration {user / seconds / rate * 1e6:.0f} µs user, "
            f"{system / seconds / rate * 1e6:.0f} µs system"
        )
    lines.append(
        f"  all pbx threads: {user_total / seconds / rate * 1e6:.0f} µs user, "
        f"{system_total / seconds / rate * 1e6:.0f} µs system per registration"
    )
    if database_pids:
        lines.append(
            f"  all PostgreSQL processes: {db_user / seconds / rate * 1e6:.0f} µs user, "
            f"{db_system / seconds / rate * 1e6:.0f} µs system per registration"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=4000, help="registrations/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="rung length")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--refresh", action="store_true", help="a steady-state refresh rung instead"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="pbx on a throw-away PostgreSQL cluster"
    )
    args = parser.parse_args()
    if args.seconds <= 2 * MARGIN_S + 1:
        parser.error(f"--seconds must be more than {2 * MARGIN_S + 1:g}")
    users = accounts(args.users)
    # A refresh rung first starts its phones (as make bench does, at half the rate);
    # only the steady part after that is measured.
    ramp_cap = args.rate / 2
    ramp_s = 0.0
    if args.refresh:
        _, period, _, ramp = ladder.refresh_plan(len(users), args.rate, ramp_cap)
        ramp_s = ramp + period
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pbx-threads-")))
        database: dict[str, object] = {"type": "sqlite", "path": str(work / "pbx.db")}
        postmaster: int | None = None
        if args.postgres:
            url, postmaster = stack.enter_context(servers.postgres())
            database = servers.pg_settings(url)
        system = stack.enter_context(
            servers.pbx("pbx", work / "pbx", users, database, workers=args.workers)
        )
        pids = procs.descendants(system.pid)
        window: list[str] = []

        def measure() -> None:
            time.sleep(ramp_s + MARGIN_S)
            # The server's processes now, backends included (pbx connects at start).
            db_pids = frozenset(procs.descendants(postmaster) if postmaster else ())
            watched = pids + sorted(db_pids)
            before, started = thread_times(watched), time.monotonic()
            time.sleep(args.seconds - 2 * MARGIN_S)
            after, took = thread_times(watched), time.monotonic() - started
            window.extend(report(before, after, took, args.rate, system.pid, db_pids))

        sampler = threading.Thread(target=measure)
        sampler.start()
        load = ladder.Load(system, users, args.seconds, work / "rung")
        if args.refresh:
            rung = ladder.refresh_rung(load, args.rate, ramp_cap)
        else:
            rung = ladder.registration_rung(load, args.rate)
        sampler.join()
        said = system.log.read_text(errors="replace").splitlines()
    print(rung.line())
    print("\n".join(window))
    # What pbx logged (at WARNING and above, as the bench runs it): a slow commit
    # there explains retransmissions with no datagram dropped.
    print(f"  pbx's log: {len(said)} lines" + (":" if said else ""))
    print("\n".join(f"    {line[:300]}" for line in said[-20:]))


if __name__ == "__main__":
    main()
