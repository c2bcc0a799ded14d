"""The bench's phone accounts, written in the form each party needs.

The same accounts and the same realm go to pbx (config.yml extensions), to Kamailio
(subscriber table) and to sipp (injection CSV), so both registrars answer exactly the
same traffic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REALM = "pbx"
FIRST_NUMBER = 100000


@dataclass(frozen=True)
class Account:
    """One extension and its password."""

    number: str
    password: str


def accounts(count: int) -> list[Account]:
    """``count`` accounts 100000, 100001, ... with distinct passwords."""
    return [Account(str(FIRST_NUMBER + i), f"pw{FIRST_NUMBER + i}x") for i in range(count)]


def injection_csv(path: Path, users: list[Account]) -> Path:
    """SEQUENTIAL sipp injection file; field1 is the whole [authentication] keyword
    because sipp 3.6 does not expand [fieldN] inside it."""
    lines = ["SEQUENTIAL"]
    lines += [
        f"{u.number};[authentication username={u.number} password={u.password}]" for u in users
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def pbx_config(
    path: Path,
    *,
    sip_port: int,
    database: dict[str, object],
    users: list[Account],
    api_port: int | None = None,
    clear_on_boot: bool = True,
    workers: int = 1,
) -> Path:
    """A pbx config (JSON is YAML) on 127.0.0.1, UDP only, logging at WARNING.

    WARNING, not the INFO default: at INFO pbx writes one JSON line per registration,
    and the bench measures the registrar, not the terminal; Kamailio runs with
    debug=1 (errors only) for the same reason.
    """
    config = {
        "server": {
            "sip_host": "127.0.0.1",
            "sip_port": sip_port,
            "transports": ["udp"],
            "workers": workers,
        },
        "api": (
            {"enabled": True, "host": "127.0.0.1", "port": api_port}
            if api_port is not None
            else {"enabled": False}
        ),
        "database": database,
        "registrar": {"realm": REALM},
        "tracking": {"clear_on_boot": clear_on_boot},
        "logging": {"level": "WARNING"},
        "extensions": [{"number": u.number, "password": u.password} for u in users],
    }
    path.write_text(json.dumps(config, indent=1))
    return path
