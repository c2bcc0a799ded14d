"""The bench's rung verdicts: what a failed rung's line blames.

No timing here: these are the rules that turn a rung's counts into its verdict, which
the bench's tables and the issue's ratios are read from.
"""

from __future__ import annotations

import pytest
from bench.ladder import SIPP_SATURATED, _saturated, _verdict


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
