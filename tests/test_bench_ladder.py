"""The bench's rung verdicts (what a failed rung's line blames) and what a rung reads.

No timing here: these are the rules that turn a rung's counts into its verdict, which
the bench's tables and the issue's ratios are read from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.ladder import SIPP_SATURATED, _saturated, _verdict
from bench.run import _folder
from bench.servers import NAMES
from bench.sipp import _samples, clear_traces


def test_a_clean_rung_passes() -> None:
    assert _verdict(0.0, 0.0, 20.0, 1.0) == ""


@pytest.mark.parametrize(
    ("failed", "retrans", "avg", "pace", "why"),
    [
        (0.001, 0.0, 20.0, 1.0, "0.10% failed"),
        (0.0, 0.0101, 20.0, 1.0, "1.01% retransmitted"),
        (0.0, 0.0, 100.0, 1.0, "avg 100 ms"),
        (0.0, 0.0, 20.0, 0.85, "pace 85%"),
    ],
)
def test_each_limit_fails_a_rung_on_its_own(
    failed: float, retrans: float, avg: float, pace: float, why: str
) -> None:
    assert _verdict(failed, retrans, avg, pace) == why


def test_a_failure_with_sipp_out_of_cpu_says_so() -> None:
    assert _saturated("pace 85%", 0.96, 1) == "pace 85%; sipp saturated at 0.96 cores"


def test_the_mark_is_per_sipp_process_and_only_on_failures() -> None:
    assert _saturated("pace 85%", 2 * SIPP_SATURATED - 0.1, 2) == "pace 85%"
    assert _saturated("pace 85%", 2 * SIPP_SATURATED, 2).endswith("sipp saturated at 1.80 cores")
    assert _saturated("", 0.99, 1) == ""


def test_every_system_has_its_own_rung_folder(tmp_path: Path) -> None:
    """The two reference loops once shared one folder, and the second one's rungs read
    the first one's response-time traces too (its refreshes counted twice)."""
    folders = {_folder(tmp_path, name) for name in NAMES}
    assert len(folders) == len(NAMES)
    assert all(folder.parent == tmp_path / "rungs" for folder in folders)


def test_a_new_sipp_run_does_not_read_an_earlier_ones_traces(tmp_path: Path) -> None:
    """sipp names its response-time file after its pid: one left from an earlier run
    in the same folder would be read as this run's samples."""
    (tmp_path / "register_4242_rtt.csv").write_text("Date_ms;response_time_ms;rtd_no\n5;1;1\n")
    (tmp_path / "stat.csv").write_text("old")
    (tmp_path / "errors.log").write_text("old")
    (tmp_path / "users.csv").write_text("SEQUENTIAL\n")
    assert _samples(tmp_path, 0.0)  # what the stale file would have added
    clear_traces(tmp_path)
    assert _samples(tmp_path, 0.0) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.csv"]
