"""baresip, a real softphone, registers with digest auth and unregisters on SIGTERM.

Why: sipp follows our script; baresip follows its own idea of SIP (its own Contact,
Via, User-Agent, digest with qop, expiry refresh). A registrar that works with it works
with a real phone. It runs headless with ``-f DIR`` (see /work/shared/FIELD-NOTES.md).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PbxServer, free_port, require_tool

pytestmark = pytest.mark.e2e

#: Bounded waits for baresip to register (first try) and to unregister on SIGTERM.
REGISTER_TIMEOUT = 15.0
EXIT_TIMEOUT = 10.0
#: baresip's line once registered: ``1500@127.0.0.1: {0/UDP/v4} 200 OK (pbx/0.1) [1 binding]``.
REGISTERED = re.compile(r"^1500@\S+: .*\b200 OK\b", re.MULTILINE)


def _baresip_folder(folder: Path, server: PbxServer) -> Path:
    """``accounts`` and ``config`` for one account, 1500, listening on a free port."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts").write_text(
        f"<sip:1500@{server.host}:{server.port};transport=udp>;auth_pass=secret1500;regint=600\n"
    )
    (folder / "config").write_text(
        "\n".join(
            [
                f"sip_listen 127.0.0.1:{free_port()}",
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module account.so",
                "module_app menu.so",  # no stdio.so: stdin is not a terminal here
                "",
            ]
        )
    )
    return folder


def _binding_from_baresip(events: list[dict[str, object]]) -> bool:
    return any(
        e["event"] == "BindingCreated"
        and e["extension"] == "1500"
        and "baresip" in str(e.get("user_agent", "")).lower()
        for e in events
    )


def test_baresip_registers_and_unregisters(pbx: PbxServer, tmp_path: Path) -> None:
    """BindingCreated for 1500 by baresip, baresip sees 200 OK; SIGTERM -> BindingRemoved."""
    baresip = require_tool("baresip", "baresip-core")
    folder = _baresip_folder(tmp_path / "baresip", pbx)
    output_path = tmp_path / "baresip.out"
    with output_path.open("wb") as output:
        proc = subprocess.Popen(
            [baresip, "-f", str(folder)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        pbx.wait_for(_binding_from_baresip, "baresip's BindingCreated", REGISTER_TIMEOUT)
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while not REGISTERED.search(output_path.read_text(errors="replace")):
            assert proc.poll() is None, output_path.read_text(errors="replace")
            assert time.monotonic() < deadline, (
                "baresip never logged 200 OK:\n" + output_path.read_text(errors="replace")
            )
            time.sleep(0.05)
        assert pbx.events_of("BindingRemoved", "1500") == []
        assert pbx.events_of("AuthFailed", "1500") == []

        proc.terminate()
        events = pbx.wait_for(
            lambda ev: any(e["event"] == "BindingRemoved" and e["extension"] == "1500" for e in ev),
            "BindingRemoved for 1500 after baresip got SIGTERM",
            EXIT_TIMEOUT,
        )
        created = [e for e in events if e["event"] == "BindingCreated"]
        removed = [e for e in events if e["event"] == "BindingRemoved"]
        assert len(created) == 1
        assert len(removed) == 1
        assert removed[0]["contact"] == created[0]["contact"]
        proc.wait(EXIT_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
