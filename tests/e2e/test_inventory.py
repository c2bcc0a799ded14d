"""Issue 3's end-to-end proof: sipp registers 200 phones that carry their MAC in
different places (Contact ``mac=``, ``+sip.instance``, User-Agent) or not at all, from
different loopback addresses; the HTTP API then returns exactly the expected rows; a
re-registration without User-Agent keeps the stored one; a restart clears the table."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, running_pbx
from tests.e2e.sippctl import run_sipp

pytestmark = pytest.mark.e2e

#: 4 groups of 50 extensions: how each group reveals its MAC (None: it does not).
GROUPS = {
    "contact-mac": (2000, "127.0.0.2"),
    "instance": (2050, "127.0.0.3"),
    "user-agent": (2100, "127.0.0.4"),
    "none": (2150, "127.0.0.5"),
}
EXTENSIONS = tuple(range(2000, 2200))

TEMPLATE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register {name}">
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>{contact_suffix}
      Expires: 3600
      {ua_line}
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>{contact_suffix}
      Expires: 3600
      [field1]
      {ua_line}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

VARIANTS = {
    "contact-mac": (";mac=00:15:65:[field2]", "User-Agent: Yealink SIP-T46S 66.86.0.15"),
    "instance": (
        ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000b82[field2]>"',
        "User-Agent: Grandstream GXP2170 1.0.11.3",
    ),
    "user-agent": ("", "User-Agent: Grandstream HT802 1.0.49.2 c074ad[field2]"),
    "none": ("", "User-Agent: Zoiper rv2.10.20.3"),
    "no-ua": ("", "X-No-User-Agent: 1"),
}


def expected_mac(group: str, ext: int) -> str | None:
    tail = f"{ext:06x}"
    return {
        "contact-mac": "001565" + tail,
        "instance": "000b82" + tail,
        "user-agent": "c074ad" + tail,
        "none": None,
    }[group]


def scenario(folder: Path, variant: str) -> Path:
    suffix, ua_line = VARIANTS[variant]
    path = folder / f"register_{variant}.xml"
    path.write_text(TEMPLATE.format(name=variant, contact_suffix=suffix, ua_line=ua_line))
    return path


def mac_field(ext: int, variant: str) -> str:
    tail = f"{ext:06x}"
    if variant == "contact-mac":
        return ":".join(tail[i : i + 2] for i in range(0, 6, 2))
    return tail


def get_json(api_port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}{path}", timeout=10) as reply:
        assert reply.status == 200
        return json.loads(reply.read())


def wait_api(api_port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get_json(api_port, "/api/health")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def register_group(server: Any, folder: Path, group: str, variant: str | None = None) -> None:
    first, ip = GROUPS[group]
    variant = variant or group
    rows = [(str(ext), f"secret{ext}") for ext in range(first, first + 50)]
    extra = [(mac_field(ext, variant),) for ext in range(first, first + 50)]
    run = run_sipp(
        server,
        folder / f"sipp-{group}-{variant}",
        str(scenario(folder, variant)),
        rows,
        rate=100,
        extra=extra,
        local_ip=ip,
    )
    assert run.returncode == 0, run.describe()
    assert run.counter("SuccessfulCall") == 50, run.describe()


def test_two_hundred_phones_inventory_reregistration_and_restart(tmp_path: Path) -> None:
    api_port = free_port()
    folder = tmp_path / "pbx"
    with running_pbx(folder, extensions=EXTENSIONS, api_port=api_port) as server:
        wait_api(api_port)
        for group in GROUPS:
            register_group(server, tmp_path, group)
        rows = get_json(api_port, "/api/registered-phones")
        assert len(rows) == 200
        by_ext = {row["extension_number"]: row for row in rows}
        assert set(by_ext) == {str(e) for e in EXTENSIONS}
        seed_keys = [
            "id", "mac_address", "extension_number", "user_agent", "ip_address",
            "first_registered", "last_registered", "contact_uri",
        ]  # fmt: skip
        for group, (first, ip) in GROUPS.items():
            for ext in range(first, first + 50):
                row = by_ext[str(ext)]
                assert list(row)[:8] == seed_keys
                assert row["mac_address"] == expected_mac(group, ext), (group, row)
                assert row["ip_address"] == ip
                assert row["contact_uri"].startswith(f"<sip:{ext}@{ip}:")
                assert row["registered"] is True
        assert sum(1 for r in rows if r["mac_address"] is None) == 50
        assert by_ext["2120"]["user_agent"].startswith("Grandstream HT802 1.0.49.2")

        # The MAC-less phones re-register without a User-Agent: the known one stays.
        before = by_ext["2150"]
        time.sleep(1.1)  # last_registered has second resolution in some renderings
        register_group(server, tmp_path, "none", variant="no-ua")
        after = get_json(api_port, "/api/registered-phones/extension/2150")
        assert len(after) == 1
        assert after[0]["id"] == before["id"]
        assert after[0]["user_agent"] == "Zoiper rv2.10.20.3"
        assert after[0]["first_registered"] == before["first_registered"]
        assert after[0]["last_registered"] > before["last_registered"]
        assert len(get_json(api_port, "/api/registered-phones")) == 200

        mac = expected_mac("contact-mac", 2001)
        assert mac is not None
        spelled = "-".join(mac[i : i + 2] for i in range(0, 12, 2)).upper()
        assert [r["extension_number"] for r in get_json(
            api_port, f"/api/registered-phones/mac/{spelled}"
        )] == ["2001"]  # fmt: skip

    # Restart on the same database file: the boot cleanup empties the table.
    with running_pbx(folder, extensions=EXTENSIONS, api_port=api_port):
        wait_api(api_port)
        assert get_json(api_port, "/api/registered-phones") == []
        health = get_json(api_port, "/api/health")
        assert health["database"]["status"] == "connected"
