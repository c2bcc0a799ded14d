"""`python -m bench.threads`: which process a thread's CPU is charged to.

No timing here: the thread times are made up, the rules that turn them into lines are
real. PostgreSQL's processes (``--postgres``) are listed apart and kept out of pbx's
total, so that pbx's own figure stays comparable with a SQLite run's.
"""

from __future__ import annotations

from bench.threads import Times, report

MAIN, WRITER, WORKER, BACKEND = 100, 101, 200, 300


def _times(scale: float) -> Times:
    """Each thread used ``scale`` times its base user and system seconds."""
    return {
        (MAIN, MAIN, "pbx"): (1.0 * scale, 0.1 * scale),
        (MAIN, WRITER, "pbx"): (0.5 * scale, 0.1 * scale),
        (WORKER, WORKER, "python3"): (4.0 * scale, 1.0 * scale),
        (BACKEND, BACKEND, "postgres"): (2.0 * scale, 0.5 * scale),
    }


def test_database_processes_are_listed_apart_and_not_in_pbx_total() -> None:
    # 10 s at 1,000/s: one second of CPU is 100 µs per registration.
    lines = report(_times(0.0), _times(1.0), 10.0, 1000, MAIN, frozenset({BACKEND}))

    assert (
        "  PostgreSQL (pid 300, postgres): 0.25 cores; per registration 200 µs user, 50 µs system"
        in lines
    )
    assert "  all pbx threads: 550 µs user, 120 µs system per registration" in lines
    assert lines[-1] == "  all PostgreSQL processes: 200 µs user, 50 µs system per registration"


def test_without_a_database_every_thread_is_pbx() -> None:
    lines = report(_times(0.0), _times(1.0), 10.0, 1000, MAIN)

    assert (
        "  SIP worker (pid 300, postgres): 0.25 cores; per registration 200 µs user, 50 µs system"
        in lines
    )
    assert lines[-1] == "  all pbx threads: 750 µs user, 170 µs system per registration"
    assert not any("PostgreSQL" in line for line in lines)


def test_roles_of_pbx_threads() -> None:
    lines = report(_times(0.0), _times(1.0), 10.0, 1000, MAIN, frozenset({BACKEND}))

    assert lines[0].startswith("  main process (pid 100, pbx): 0.11 cores")
    assert lines[1].startswith("  main process, thread 101 (pid 100, pbx): 0.06 cores")
    assert lines[2].startswith("  SIP worker (pid 200, python3): 0.50 cores")
