"""sipp, a real SIP load generator, registers against ``pbx serve``.

What is proved: digest registration works for many phones at a rate over UDP and TCP
(sipp's exit code says every call followed REGISTER -> 401 -> REGISTER -> 200, the
event log names every extension once); a wrong password is refused and stores nothing;
and an unknown extension cannot be told apart from a wrong password.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import PbxServer
from tests.e2e.sipclient import SipClient, SipResponse, parse_challenge
from tests.e2e.sippctl import run_sipp

pytestmark = pytest.mark.e2e


def _users(first: int, count: int) -> list[tuple[str, str]]:
    return [(str(n), f"secret{n}") for n in range(first, first + count)]


def _created_count(events: list[dict[str, object]], transport: str) -> Counter[object]:
    return Counter(
        e["extension"]
        for e in events
        if e["event"] == "BindingCreated" and e["transport"] == transport
    )


@pytest.mark.parametrize(
    ("transport", "sipp_transport", "count"),
    [("udp", "u1", 100), ("tcp", "t1", 20)],
)
def test_sipp_registers_extensions(
    pbx: PbxServer, tmp_path: Path, transport: str, sipp_transport: str, count: int
) -> None:
    """Every one of ``count`` phones ends with one binding, created exactly once."""
    users = _users(1000, count)
    run = run_sipp(pbx, tmp_path / "sipp", "register_digest.xml", users, transport=sipp_transport)
    assert run.returncode == 0, run.describe()
    assert run.counter("SuccessfulCall") == count, run.describe()

    expected = {user for user, _ in users}
    events = pbx.wait_for(
        lambda ev: set(_created_count(ev, transport)) >= expected,
        f"BindingCreated over {transport} for {count} extensions",
    )
    created = _created_count(events, transport)
    assert created == Counter(expected), "each extension exactly once, and no other"
    assert not [e for e in events if e["event"] == "AuthFailed"]
    created_events = [e for e in events if e["event"] == "BindingCreated"]
    assert {e["user_agent"] for e in created_events} == {"sipp-e2e"}
    assert {e["ip"] for e in created_events} == {"127.0.0.1"}
    if transport == "udp":  # over TCP sipp connects from an ephemeral port
        assert {e["port"] for e in created_events} == {run.local_port}


def test_wrong_password_is_refused_and_stores_nothing(pbx: PbxServer, tmp_path: Path) -> None:
    """403 after the challenge, an AuthFailed event, and the registrar holds no binding."""
    run = run_sipp(pbx, tmp_path / "sipp", "register_forbidden.xml", [("1050", "not-secret")])
    assert run.returncode == 0, "expected 401 then 403:\n" + run.describe()
    pbx.wait_for(lambda ev: any(e["event"] == "AuthFailed" for e in ev), "AuthFailed for 1050")
    assert [e["reason"] for e in pbx.events_of("AuthFailed", "1050")] == ["wrong password"]
    assert pbx.events_of("BindingCreated", "1050") == []

    with SipClient(pbx.address) as phone:
        # A fetch (no Contact) by the rightful owner lists the bindings: there are none.
        _, fetched = phone.register("1050", "secret1050", contact=None)
        assert fetched.status == 200
        assert fetched.values("contact") == []
        # The same fetch does list a binding once one exists, so the check above can fail.
        _, created = phone.register("1050", "secret1050")
        assert created.status == 200
        _, fetched = phone.register("1050", "secret1050", contact=None)
        assert fetched.status == 200
        assert len(fetched.values("contact")) == 1
    assert len(pbx.events_of("BindingCreated", "1050")) == 1


def _shape(response: SipResponse) -> tuple[int, str, list[str]]:
    return (response.status, response.reason, response.header_names())


def test_unknown_extension_looks_like_a_wrong_password(pbx: PbxServer, tmp_path: Path) -> None:
    """Same challenge, same refusal: the registrar does not reveal which users exist."""
    rows = [("1051", "not-secret"), ("9999", "not-secret")]
    run = run_sipp(pbx, tmp_path / "sipp", "register_forbidden.xml", rows)
    assert run.returncode == 0, "expected 401 then 403 for both:\n" + run.describe()
    assert run.counter("SuccessfulCall") == 2, run.describe()

    answers: dict[str, tuple[SipResponse, SipResponse]] = {}
    for user in ("1051", "9999"):
        with SipClient(pbx.address) as phone:
            answers[user] = phone.register(user, "not-secret")
    (wrong_401, wrong_403), (unknown_401, unknown_403) = answers["1051"], answers["9999"]

    assert _shape(wrong_401) == _shape(unknown_401)
    assert wrong_401.status == 401
    wrong_challenge = parse_challenge(wrong_401.header("www-authenticate") or "")
    unknown_challenge = parse_challenge(unknown_401.header("www-authenticate") or "")
    assert sorted(wrong_challenge) == sorted(unknown_challenge)
    for name in ("realm", "algorithm", "qop"):
        assert wrong_challenge.get(name) == unknown_challenge.get(name), name
    assert len(wrong_challenge["nonce"]) == len(unknown_challenge["nonce"])

    assert _shape(wrong_403) == _shape(unknown_403)
    assert wrong_403.status == 403
    assert pbx.events_of("BindingCreated") == []
