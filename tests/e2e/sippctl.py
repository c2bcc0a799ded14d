"""Run sipp against a test server and read back what it counted.

Why a wrapper: every sipp run in these tests needs the same bounded, quiet options
(-nd so failed calls send nothing extra, a global timeout, statistics and errors in
files in the test's folder) and the same way of turning a failure into a readable
assertion message.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.e2e.conftest import SCENARIOS, free_port, require_tool

#: sipp's own limit; the subprocess limit above it only catches a hung sipp.
SIPP_TIMEOUT_S = 30


@dataclass(frozen=True)
class SippRun:
    """Exit code (0 = every call followed the scenario), counters and logs of one run."""

    returncode: int
    local_port: int
    stats: dict[str, str]
    errors: str
    output: str

    def counter(self, name: str) -> int:
        """A cumulative counter from -trace_stat, e.g. ``SuccessfulCall``."""
        return int(self.stats[f"{name}(C)"])

    def describe(self) -> str:
        """Everything useful when a run did not go as the test expected."""
        counters = {k: v for k, v in self.stats.items() if k.endswith("(C)") and v not in ("0", "")}
        return (
            f"sipp exit {self.returncode}\ncounters: {counters}\n"
            f"errors:\n{self.errors[-3000:]}\noutput:\n{self.output[-2000:]}"
        )


class Target(Protocol):
    """Where sipp sends: a ``PbxServer``, or anything in front of one (a relay)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def injection_csv(
    path: Path, rows: list[tuple[str, str]], extra: list[tuple[str, ...]] | None = None
) -> Path:
    """A SEQUENTIAL injection file: extension;[authentication username=.. password=..]
    followed by the ``extra`` fields of that row (field2, field3, ...)."""
    lines = ["SEQUENTIAL"]
    for i, (user, pw) in enumerate(rows):
        fields = [user, f"[authentication username={user} password={pw}]"]
        if extra is not None:
            fields.extend(extra[i])
        lines.append(";".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sipp(
    server: Target,
    folder: Path,
    scenario: str | Path,
    rows: list[tuple[str, str]],
    *,
    transport: str = "u1",
    rate: int = 50,
    extra: list[tuple[str, ...]] | None = None,
    local_ip: str = "127.0.0.1",
) -> SippRun:
    """One call per row of ``rows`` (user, password) through ``scenario``; ``extra``
    adds per-row injection fields (field2 ...). ``scenario`` is a name in
    tests/e2e/scenarios, or the path of a scenario written elsewhere (the bench's)."""
    sipp = require_tool("sipp", "sip-tester")
    folder.mkdir(parents=True, exist_ok=True)
    users = injection_csv(folder / "users.csv", rows, extra)
    stat_file, error_file = folder / "stat.csv", folder / "errors.log"
    local_port = free_port()
    command = [
        sipp, f"{server.host}:{server.port}",
        "-sf", str(SCENARIOS / scenario),
        "-inf", str(users),
        # "un" opens a socket per call; past -max_socket sipp would reuse them.
        "-t", transport, "-max_socket", str(len(rows) + 10),
        "-i", local_ip, "-p", str(local_port),
        "-m", str(len(rows)), "-r", str(rate), "-rp", "1000",
        "-nd",
        "-trace_stat", "-stf", str(stat_file),
        "-trace_err", "-error_file", str(error_file),
        "-timeout", f"{SIPP_TIMEOUT_S}s", "-timeout_error",
    ]  # fmt: skip
    proc = subprocess.run(
        command,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=SIPP_TIMEOUT_S + 30,
    )
    stats: dict[str, str] = {}
    if stat_file.exists():
        rows_read = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
        if len(rows_read) >= 2:
            stats = dict(zip(rows_read[0], rows_read[-1], strict=False))
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    return SippRun(proc.returncode, local_port, stats, errors, output)
