"""The results table: markdown for people, JSON for machines, both in bench/results/.

Why the detail beside the table: a maximum rate means little without the rungs that
bound it and the machine's other load at the time, so both files carry every rung.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench import budget
from bench.ladder import Climb, Rung
from bench.servers import KAMAILIO, KAMAILIO_DURABLE, KAMAILIO_DURABLE_PG, PBX_POSTGRES, PBX_SQLITE


@dataclass
class SystemResult:
    """One registrar's two ladders (initial registrations, steady-state refreshes)."""

    name: str
    register: Climb | None = None
    refresh: Climb | None = None
    profile: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def _figures(climb: Climb | None) -> tuple[int, Rung | None, bool]:
    """(max rate, rung whose costs are reported, whether that rung passed)."""
    if climb is None or not climb.rungs:
        return 0, None, False
    best = climb.best
    if best is not None:
        return best.rate, best, True
    return 0, climb.rungs[0], False


def _ms(value: float) -> str:
    """Whole ms as sipp measures them; 0 means under one millisecond."""
    if math.isnan(value):
        return "n/a"
    return "<1" if value < 1 else f"{value:.0f}"


def _ratio(ours: int, theirs: int) -> str:
    return f"{ours / theirs:.3f}" if theirs else "n/a"


def table(results: list[SystemResult], kind: str) -> list[str]:
    """Markdown rows for ``kind`` ("register" or "refresh")."""
    unit = "registrations/s" if kind == "register" else "refreshes/s"
    # The peer by its exact name: another Kamailio row (a write-through variant, say)
    # must not become the yardstick because it was listed first.
    peer = next((r for r in results if r.name == KAMAILIO), None)
    peer_rate = _figures(getattr(peer, kind))[0] if peer else 0
    lines = [
        f"| system | max {unit} | CPU µs each | p50 ms | p99 ms | avg ms | ratio to Kamailio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        rate, rung, passed = _figures(getattr(result, kind))
        if rung is None:
            lines.append(f"| {result.name} | not run | | | | | |")
            continue
        mark = "" if passed else f" (none; lowest rung {rung.rate}/s failed: {rung.why})"
        ratio = "1" if result is peer else _ratio(rate, peer_rate)
        cpu = f"{rung.cpu_us_each:.0f}"
        if rung.db_us_each:
            cpu += f" (database {rung.db_us_each:.0f})"
        lines.append(
            f"| {result.name} | {rate}{mark} | {cpu} | {_ms(rung.p50_ms)} | "
            f"{_ms(rung.p99_ms)} | {rung.avg_ms:.1f} | {ratio} |"
        )
    return lines


#: Each pbx row and the Kamailio row keeping its promise on the same database.
SAME_PROMISE = ((PBX_SQLITE, KAMAILIO_DURABLE), (PBX_POSTGRES, KAMAILIO_DURABLE_PG))


def same_promise(results: list[SystemResult], kind: str) -> list[str]:
    """pbx's ratios to Kamailio write-through on the same database, for those that ran.

    Why beside the table: the issue's yardstick is Kamailio's write-back mode, which
    answers 200 OK before the binding is written anywhere; an operator who needs the
    row in the database first, as pbx promises, would run Kamailio write-through.
    """
    rates = {r.name: _figures(getattr(r, kind))[0] for r in results}
    pairs = [
        f"{ours} **{_ratio(rates[ours], rates[theirs])}** of {theirs} ({rates[theirs]:,}/s)"
        for ours, theirs in SAME_PROMISE
        if rates.get(ours) and rates.get(theirs)
    ]
    if not pairs:
        return []
    return [
        "Against Kamailio keeping the same promise (usrloc write-through: each 200 OK "
        f"after its row is written): {'; '.join(pairs)}.",
        "",
    ]


def _api_lines(api: dict[str, object]) -> list[str]:
    stream = api["stream"]
    whole = api["in_memory"]
    assert isinstance(stream, dict) and isinstance(whole, dict)
    return [
        f"`GET /api/registered-phones` with {api['phones']:,} phones in the table (SQLite):",
        "",
        "| how | first byte | last byte | body MB | peak RSS MiB | RSS growth MiB |",
        "|---|---:|---:|---:|---:|---:|",
        f"| pbx, streamed over HTTP | {stream['first_byte_s']:.3f} s | "
        f"{stream['last_byte_s']:.2f} s | {stream['bytes'] / 1e6:.1f} | "
        f"{stream['rss_peak_mib']:.0f} | {stream['rss_growth_mib']:.1f} |",
        f"| json.dumps(store.list()), one process | — | {whole['seconds']:.2f} s | "
        f"{whole['bytes'] / 1e6:.1f} | {whole['rss_peak_mib']:.0f} | "
        f"{whole['rss_growth_mib']:.1f} |",
    ]


def _budget_section(found: list[budget.Budget], cores: int) -> list[str]:
    """What the issue's targets leave the server in this run (``bench.budget``)."""
    rows = budget.lines(found, cores)
    return ["### What the targets leave the server in this run", "", *rows, ""] if rows else []


def _rung_lines(result: SystemResult) -> list[str]:
    out = []
    for kind in ("register", "refresh"):
        climb: Climb | None = getattr(result, kind)
        if climb is None:
            continue
        out.append(f"- {result.name}, {kind}:")
        out += [f"  {rung.line().strip()}" for rung in climb.rungs]
    return out


def write(
    folder: Path,
    conditions: dict[str, object],
    results: list[SystemResult],
    api: dict[str, object] | None,
) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` over the previous run's (the runs kept
    in bench/results/ were renamed to their date before the next one was committed)."""
    folder.mkdir(parents=True, exist_ok=True)
    given = conditions.get("cores")
    cores = given if isinstance(given, int) else 2
    budgets = budget.budgets({r.name: r.register for r in results}, cores)
    md = [
        f"# make bench: {conditions['mode']} run, {conditions['date']}",
        "",
        ", ".join(f"{k}: {v}" for k, v in conditions.items() if k not in ("mode", "date")),
        "",
        "## Initial registration (REGISTER, 401, REGISTER with digest, 200)",
        "",
        *table(results, "register"),
        "",
        *same_promise(results, "register"),
        *_budget_section(budgets, cores),
        "## Steady state (refresh with the same nonce, next nc, no 401)",
        "",
        *table(results, "refresh"),
        "",
        *same_promise(results, "refresh"),
        "CPU µs each: CPU time of the server (pbx: main process and SIP workers with their",
        "threads, and PostgreSQL's server, whose share is given in brackets; Kamailio: main",
        "process and all its workers; the bare loops: their one process, with the writer",
        "and checkpoint threads of the one that commits) divided by the successful",
        "registrations (refreshes: inside the steady window), at the best passing rung.",
        "p50/p99/avg: sipp -trace_rtt,",
        "REGISTER to 200 including the 401 round trip (refresh: one round trip), whole ms.",
        "",
    ]
    if api is not None:
        md += ["## API at scale", "", *_api_lines(api), ""]
    profiled = [r for r in results if r.profile.get("self")]
    for result in profiled:
        md += [f"## Profile of {result.name} (py-spy --native, share of samples)", ""]
        md += ["| own | function | | inclusive | function |", "|---:|---|---|---:|---|"]
        for (fs, ss), (fi, si) in zip(
            result.profile["self"], result.profile["inclusive"], strict=False
        ):
            md.append(f"| {ss:.1%} | `{fs}` | | {si:.1%} | `{fi}` |")
        md.append("")
    md += ["## Every rung", ""]
    for result in results:
        md += _rung_lines(result)
    md.append("")
    md_path = folder / "latest.md"
    md_path.write_text("\n".join(md))
    data = {
        "conditions": conditions,
        "systems": [
            {
                "name": r.name,
                **{
                    kind: (
                        None
                        if getattr(r, kind) is None
                        else {
                            "max_rate": _figures(getattr(r, kind))[0],
                            "rungs": [rung.as_dict() for rung in getattr(r, kind).rungs],
                        }
                    )
                    for kind in ("register", "refresh")
                },
                "profile": r.profile,
            }
            for r in results
        ],
        "api": api,
        "budgets": budget.as_json(budgets),
    }
    json_path = folder / "latest.json"
    json_path.write_text(json.dumps(data, indent=1, default=str, allow_nan=True))
    return md_path, json_path
