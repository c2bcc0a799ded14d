"""What each target of issue 4 leaves the registrar in one run: CPU per registration.

    .venv/bin/python -m bench.budget bench/results/latest.json   # any stored run

Why: sipp shares the machine's cores with the system it drives, and its own CPU per
registration is about half of what the registrars use. At the rate a target means
(1.5x or 0.75x Kamailio's ceiling in the same run), the cores left after sipp, shared
out over that many registrations a second, are the most a registrar may use per
registration and still be offered the load, before any headroom for latency or for
other programs. Set beside what pbx used, it says from each run's own figures how far
a target is, instead of from one ratio that moves by a rung from one hour to the next.

sipp's CPU per registration is taken from the passing registration rungs of every
system (it is sipp's own work, whichever server answers) within a quarter of the
target rate, their median; when none is that near, from the nearest passing rung.
It falls as the rate rises (more datagrams per wake-up), as the registrars' does.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.ladder import Climb, Rung
from bench.servers import KAMAILIO, PBX_POSTGRES, PBX_SQLITE

#: Issue 4's targets: pbx's registration ceiling as a multiple of Kamailio's.
TARGETS = {PBX_SQLITE: 1.5, PBX_POSTGRES: 0.75}
#: Passing rungs this near the target rate (a fraction of it) give sipp's cost.
NEAR = 0.25


@dataclass(frozen=True)
class Budget:
    """One target in one run."""

    system: str
    target: float  # a multiple of the peer's ceiling
    rate: int  # registrations/s the target means in this run
    sipp_us: float  # sipp's CPU per registration near that rate
    sipp_rungs: int  # how many passing rungs that median comes from
    sipp_low: int  # their lowest rate
    sipp_high: int  # and highest
    server_us: float  # cores * 1e6 / rate - sipp_us: the most the server may use
    used_us: float | None  # what the system used at its best passing rung
    used_at: int  # that rung's rate (0: none passed)


def _sipp_us(rung: Rung) -> float:
    return rung.sipp_cores * 1e6 / rung.achieved_per_s


def budgets(climbs: Mapping[str, Climb | None], cores: int) -> list[Budget]:
    """Each target's budget, from the registration ladders of one run (by system
    name); none without a Kamailio ceiling or a passing rung to measure sipp at, and
    none for a system the run left out (``--quick`` runs no PostgreSQL)."""
    peer = climbs.get(KAMAILIO)
    peer_best = peer.best if peer is not None else None
    passing = [
        rung
        for climb in climbs.values()
        if climb is not None
        for rung in climb.rungs
        if rung.passed and rung.achieved_per_s > 0
    ]
    if peer_best is None or not passing:
        return []
    out = []
    for system, target in TARGETS.items():
        climb = climbs.get(system)
        if climb is None:
            continue
        rate = round(target * peer_best.rate)
        near = [r for r in passing if abs(r.rate - rate) <= NEAR * rate]
        if not near:
            near = [min(passing, key=lambda r: (abs(r.rate - rate), -r.rate))]
        sipp_us = statistics.median(_sipp_us(r) for r in near)
        best = climb.best
        out.append(
            Budget(
                system=system,
                target=target,
                rate=rate,
                sipp_us=sipp_us,
                sipp_rungs=len(near),
                sipp_low=min(r.rate for r in near),
                sipp_high=max(r.rate for r in near),
                server_us=cores * 1e6 / rate - sipp_us,
                used_us=best.cpu_us_each if best is not None else None,
                used_at=best.rate if best is not None else 0,
            )
        )
    return out


def lines(found: list[Budget], cores: int) -> list[str]:
    """The markdown section (empty without budgets)."""
    if not found:
        return []
    out = [
        "| target | means | sipp's CPU each | left for the server, at most | "
        "the server used (at its best rung) |",
        "|---|---:|---:|---:|---:|",
    ]
    for b in found:
        if b.sipp_rungs == 1:
            where = f"1 rung, {b.sipp_low:,}/s"
        else:
            where = f"{b.sipp_rungs} rungs, {b.sipp_low:,} to {b.sipp_high:,}/s"
        if b.server_us > 0:
            left = f"{b.server_us:.0f} µs"
        else:
            left = f"nothing: sipp alone needs {b.sipp_us * b.rate / 1e6:.2f} cores"
        used = "none passed" if b.used_us is None else f"{b.used_us:.0f} µs ({b.used_at:,}/s)"
        out.append(
            f"| {b.system} ≥ {b.target:g}x Kamailio | {b.rate:,}/s | "
            f"{b.sipp_us:.0f} µs ({where}) | {left} | {used} |"
        )
    out += [
        "",
        f"Left for the server: the {cores} cores' CPU time a second divided by the rate",
        "the target means, less sipp's CPU per registration (the median over every",
        f"system's passing rungs within {NEAR:.0%} of that rate, or the nearest passing rung",
        "when none is that near). Nothing is kept back for other programs or for the",
        "headroom a 100 ms average needs, so a registrar must use less than this to pass",
        "there. A registrar's CPU per registration falls as its rate rises (more datagrams",
        "per wake-up), so the figure taken at its best rung is not quite what it would",
        "use at the target rate.",
    ]
    return out


def as_json(found: list[Budget]) -> list[dict[str, object]]:
    """JSON-ready."""
    return [asdict(b) for b in found]


def _climb(data: dict[str, object] | None) -> Climb | None:
    if data is None:
        return None
    rungs = data["rungs"]
    assert isinstance(rungs, list)
    return Climb([Rung.from_dict(rung) for rung in rungs])


def main() -> None:
    """Print the budget section of a stored run (``latest.json`` or a dated one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a bench/results/*.json file")
    run = json.loads(parser.parse_args().run.read_text())
    cores = int(run["conditions"].get("cores", 2))
    climbs = {s["name"]: _climb(s["register"]) for s in run["systems"]}
    print("\n".join(lines(budgets(climbs, cores), cores) or ["no Kamailio ceiling in this run"]))


if __name__ == "__main__":
    main()
