"""RFC 4475 and RFC 5118 torture messages through ``Endpoint.receive``, in memory.

Each message goes to a fresh endpoint (so no message is a retransmission of another) as
if it came from 127.0.0.1:5060 over the transport its top Via names. The outcome must
be one of the manifest's ``acceptable_outcomes``; the first of those is the preferred
one, and a separate test counts how many we hit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pbx.sip.endpoint import Endpoint, Outcome
from pbx.sip.events import Source
from pbx.sip.message import Response
from pbx.sip.parse import parse_message
from pbx.sip.registrar import Registrar, RegistrarPolicy

TORTURE = Path(__file__).resolve().parents[2] / ".." / "shared" / "sip-torture"
MANIFEST: list[dict[str, Any]] = json.loads((TORTURE / "manifest.json").read_text())
DOMAINS = frozenset({"example.com", "2001:db8::10", "2001:db8::10:5070"})


def _lookup(username: str, algorithm: str) -> str | None:
    return None


def fresh_endpoint() -> Endpoint:
    policy = RegistrarPolicy(domains=DOMAINS)
    return Endpoint(Registrar(policy, _lookup, b"torture-secret-0123456789abcdef"))


def message_file(entry: dict[str, Any]) -> str:
    """RFC 5118's messages as they travel (CRLF, right Content-Length) when available."""
    return str(entry.get("wire_file") or entry["file"])


def run(entry: dict[str, Any], name: str | None = None) -> tuple[str, Outcome]:
    data = (TORTURE / (name or message_file(entry))).read_bytes()
    transport = (entry.get("top_via_transport") or "UDP").lower()
    endpoint = fresh_endpoint()
    outcome = endpoint.receive(data, Source("127.0.0.1", 5060, transport), 1_000.0)
    assert endpoint.registrar.binding_count() == 0  # nobody authenticated
    return ("drop" if outcome.data is None else str(outcome.status)), outcome


CASES = [pytest.param(entry, id=message_file(entry)) for entry in MANIFEST]


@pytest.mark.parametrize("entry", CASES)
def test_acceptable_outcome(entry: dict[str, Any]) -> None:
    got, outcome = run(entry)
    assert got in entry["acceptable_outcomes"], entry["expected_registrar_behaviour"]
    if outcome.data is None:
        return
    response = parse_message(outcome.data)
    assert isinstance(response, Response)
    assert response.status == outcome.status
    assert outcome.destination is not None
    assert outcome.destination.host == "127.0.0.1"
    assert response.headers.get("via") is not None
    if response.status in (405, 501):
        assert response.headers.get("allow")


@pytest.mark.parametrize(
    "entry", [pytest.param(e, id=e["variant_file"]) for e in MANIFEST if e.get("variant_file")]
)
def test_variant_has_the_same_outcome(entry: dict[str, Any]) -> None:
    got, _ = run(entry, entry["variant_file"])
    assert got in entry["acceptable_outcomes"]


def test_wsinv_echoes_every_via_and_the_call_id() -> None:
    entry = next(e for e in MANIFEST if e["file"].endswith("wsinv.dat"))
    _, outcome = run(entry)
    assert outcome.data is not None
    response = parse_message(outcome.data)
    assert response is not None
    assert len(response.headers.values("via")) == 3
    assert response.headers.get("call-id") == "wsinv.ndaksdj@192.0.2.1"
    assert response.headers.get("cseq") == "0009 INVITE"  # unfolded


def test_preferred_outcomes() -> None:
    """How many messages get the manifest's first choice (today: every one)."""
    missed = []
    for entry in MANIFEST:
        got, _ = run(entry)
        if got != entry["acceptable_outcomes"][0]:
            missed.append(
                f"{message_file(entry)}: {got}, preferred {entry['acceptable_outcomes'][0]}"
            )
    preferred = len(MANIFEST) - len(missed)
    print(f"preferred outcome for {preferred} of {len(MANIFEST)} torture messages")
    assert len(MANIFEST) == 62
    assert missed == []
