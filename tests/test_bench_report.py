"""The bench's table: every ratio is against the Kamailio row measured in the same run.

No timing here: rungs are made up, the rules that turn them into the table are real.
"""

from __future__ import annotations

from bench.ladder import Climb, Rung
from bench.report import SystemResult, same_promise, table
from bench.servers import (
    BARE,
    KAMAILIO,
    KAMAILIO_DURABLE,
    KAMAILIO_DURABLE_PG,
    PBX_POSTGRES,
    PBX_SQLITE,
)


def _climb(rate: int) -> Climb:
    """One passing rung at ``rate``/s."""
    rung = Rung(
        rate=rate,
        passed=True,
        why="",
        attempts=rate * 20,
        ok=rate * 20,
        failed=0,
        retransmissions=0,
        achieved_per_s=float(rate),
        cpu_us_each=80.0,
        avg_ms=10.0,
        p50_ms=8.0,
        p99_ms=20.0,
        wall_s=20.0,
        sipp_exit=[0],
        sipp_cores=0.5,
        other_cores=0.0,
    )
    return Climb([rung])


def _ratios(lines: list[str]) -> dict[str, str]:
    """System name -> its ratio cell, from the table's rows."""
    rows = [line.strip("|").split("|") for line in lines[2:]]
    return {cells[0].strip(): cells[-1].strip() for cells in rows}


def test_ratios_are_against_the_kamailio_row_whatever_the_order() -> None:
    variant = "Kamailio 5.6 write-through"  # another Kamailio row, listed first
    results = [
        SystemResult(variant, register=_climb(2_500)),
        SystemResult(PBX_SQLITE, register=_climb(15_000)),
        SystemResult(KAMAILIO, register=_climb(10_000)),
        SystemResult(BARE, register=_climb(25_000)),
    ]
    ratios = _ratios(table(results, "register"))
    assert ratios == {variant: "0.250", PBX_SQLITE: "1.500", KAMAILIO: "1", BARE: "2.500"}


def test_without_a_peer_there_is_no_ratio() -> None:
    ratios = _ratios(table([SystemResult(PBX_SQLITE, register=_climb(15_000))], "register"))
    assert ratios == {PBX_SQLITE: "n/a"}


def _registered(*rates: dict[str, int]) -> list[SystemResult]:
    """One passing registration rung per system, in the order given."""
    return [
        SystemResult(name, register=_climb(rate)) for group in rates for name, rate in group.items()
    ]


def test_each_pbx_is_set_beside_kamailio_keeping_its_promise_on_its_database() -> None:
    results = _registered(
        {PBX_SQLITE: 12_000, PBX_POSTGRES: 9_000, KAMAILIO: 10_000},
        {KAMAILIO_DURABLE: 2_500, KAMAILIO_DURABLE_PG: 4_000},
    )
    (line, _) = same_promise(results, "register")
    assert f"{PBX_SQLITE} **4.800** of {KAMAILIO_DURABLE} (2,500/s)" in line
    assert f"{PBX_POSTGRES} **2.250** of {KAMAILIO_DURABLE_PG} (4,000/s)" in line
    assert same_promise(results, "refresh") == []  # no refresh ladder ran


def test_a_pair_is_left_out_when_either_side_did_not_pass_a_rung() -> None:
    results = _registered(
        {PBX_SQLITE: 12_000, PBX_POSTGRES: 9_000, KAMAILIO: 10_000},
        {KAMAILIO_DURABLE_PG: 4_000},
    )
    (line, _) = same_promise(results, "register")
    assert PBX_SQLITE not in line and f"{PBX_POSTGRES} **2.250**" in line
    assert same_promise(results[:3], "register") == []
