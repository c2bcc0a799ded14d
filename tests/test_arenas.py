"""The arena allocator (``_arenas.c``): freed arenas are kept up to the limit and
handed out again, what exceeds the limit goes back to the system, and every pbx
process installs it at the end of start-up.

Each check runs in a fresh interpreter: the allocator is process-wide and stays
installed, and the test process's own memory must not decide the counts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.sip.c_twins import needs

try:
    from pbx import _arenas
except ImportError:
    _arenas = None

needs_c = needs(_arenas, "_arenas")


def _run(code: str) -> object:
    """What ``code`` prints as JSON, run by a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_c
def test_freed_arenas_are_kept_up_to_the_limit_and_reused() -> None:
    before, freed, refilled = _run(
        """
        import json
        from pbx.arenas import arena_stats, keep_arenas
        assert keep_arenas(16)
        before = arena_stats()
        junk = [str(i) * 8 for i in range(400_000)]  # about 50 arenas of small strings
        del junk
        freed = arena_stats()
        junk = [str(i) * 8 for i in range(400_000)]
        refilled = arena_stats()
        print(json.dumps([before, freed, refilled]))
        """
    )
    assert before["installed"] == 1 and before["limit"] == 16
    # Emptied arenas: 16 kept, the rest given back to the system.
    assert freed["kept"] == 16
    assert freed["unmapped"] - before["unmapped"] >= 20
    # Filling again takes the kept ones first, then maps new ones.
    assert refilled["reused"] - freed["reused"] == 16
    assert refilled["kept"] == 0
    assert refilled["mapped"] > freed["mapped"]


@needs_c
def test_lowering_the_limit_gives_kept_arenas_back() -> None:
    kept, lowered = _run(
        """
        import json
        from pbx.arenas import arena_stats, keep_arenas
        keep_arenas(32)
        junk = [str(i) * 8 for i in range(400_000)]
        del junk
        kept = arena_stats()
        keep_arenas(4)
        print(json.dumps([kept, arena_stats()]))
        """
    )
    assert kept["kept"] == 32
    assert lowered["kept"] == 4 and lowered["limit"] == 4
    assert lowered["unmapped"] - kept["unmapped"] == 28


@needs_c
@pytest.mark.parametrize("limit", [-1, 4097])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    assert _arenas is not None
    with pytest.raises(ValueError, match="limit must be 0 to 4096 arenas"):
        _arenas.install(limit)


@needs_c
def test_every_pbx_process_keeps_its_arenas_after_start_up() -> None:
    # tune_gc ends the start-up of the single process, the cluster's main process
    # and each SIP worker (app.py, cluster/supervisor.py, cluster/worker.py).
    stats = _run(
        """
        import json
        from pbx.app import tune_gc
        from pbx.arenas import KEPT_ARENAS, arena_stats
        tune_gc("test")
        stats = arena_stats()
        assert stats["limit"] == KEPT_ARENAS
        print(json.dumps(stats))
        """
    )
    assert isinstance(stats, dict) and stats["installed"] == 1


def test_without_the_compiled_module_nothing_is_installed() -> None:
    done = _run(
        """
        import json, sys
        sys.modules["pbx._arenas"] = None  # as if `make clean-core` had run
        from pbx.arenas import arena_stats, keep_arenas
        print(json.dumps([keep_arenas(), arena_stats()]))
        """
    )
    assert done == [False, {}]
