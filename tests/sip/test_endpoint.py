"""The endpoint: bytes in, one response (or nothing) out, in memory, with ``now`` passed.

Method handling (RFC 3261 §8.2), ACK silence, the UDP transaction cache that answers a
retransmission with the same bytes without processing it again, and the domain and
Require checks.
"""

from __future__ import annotations

import pytest

from pbx.sip.endpoint import ALLOW, TRANSACTION_LIFETIME, Endpoint, Outcome
from pbx.sip.events import BindingCreated, Registered, Source
from pbx.sip.message import Response, serialize_request
from pbx.sip.parse import parse_message
from pbx.sip.response import Destination
from tests.sip.test_registrar import Phone, challenge_params, make_registrar

SOURCE = Source("192.0.2.4", 5062, "udp")


def endpoint(**policy: object) -> Endpoint:
    return Endpoint(make_registrar(**policy))


def request(
    method: str,
    uri: str = "sip:example.com",
    cseq_method: str | None = None,
    via: str = "SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bKend1",
    extra: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> bytes:
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        "From: <sip:100@example.com>;tag=f1",
        "To: <sip:200@example.com>",
        "Call-ID: endpoint-test@192.0.2.4",
        f"CSeq: 1 {cseq_method or method}",
        *extra,
        "Content-Length: 0",
    ]
    lines = [line for line in lines if line.split(":")[0] not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(outcome: Outcome) -> Response:
    assert outcome.data is not None
    response = parse_message(outcome.data)
    assert isinstance(response, Response)
    assert response.status == outcome.status
    return response


def allowed(response: Response) -> set[str]:
    return set(response.headers.values("allow"))


METHODS: list[tuple[str, int]] = [
    ("OPTIONS", 200),
    ("INVITE", 405),
    ("SUBSCRIBE", 405),
    ("MESSAGE", 405),
    ("BYE", 481),
    ("CANCEL", 481),
    ("FOO", 501),
    ("!interesting-Method0123456789_*+`.%indeed'~", 501),
]


@pytest.mark.parametrize(("method", "status"), METHODS)
def test_methods(method: str, status: int) -> None:
    outcome = endpoint().receive(request(method), SOURCE, 0.0)
    response = answer(outcome)
    assert response.status == status
    assert outcome.events == ()
    assert outcome.destination == Destination("192.0.2.4", 5062)
    assert response.headers.get("call-id") == "endpoint-test@192.0.2.4"
    assert response.headers.get("cseq") == f"1 {method}"
    if status in (200, 405, 501):
        assert allowed(response) == set(ALLOW.split(", "))
        assert "INVITE" not in allowed(response)


@pytest.mark.parametrize(
    "data",
    [
        request("ACK"),
        request("ACK", extra=("Require: 100rel",)),
        request("ACK", uri="tel:+1555"),
        request("ACK", cseq_method="INVITE"),
        request("ACK", drop=("Call-ID",)),
    ],
)
def test_ack_is_never_answered(data: bytes) -> None:
    ep = endpoint()
    assert ep.receive(data, SOURCE, 0.0) == Outcome(None, None)
    assert ep.receive(data, SOURCE, 0.1).data is None


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request("OPTIONS", drop=("Call-ID",)), 400),
        (request("OPTIONS", drop=("From",)), 400),
        (request("OPTIONS", cseq_method="INVITE"), 400),
        (request("OPTIONS", extra=("Max-Forwards: 256",)), 400),
        (request("OPTIONS", extra=("Call-ID: second",)), 400),
        (request("OPTIONS", uri="tel:+15551234"), 416),
        (request("OPTIONS", uri="sip:a@h?subject=x"), 400),
        (request("OPTIONS", extra=("Date: yesterday",)), 400),
        (request("OPTIONS", extra=("Require: 100rel, timer", "Require: gruu")), 420),
        (request("REGISTER", extra=("Require: path",)), 420),
        (request("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
        (request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 9"), 400),
    ],
)
def test_bad_requests_are_answered(data: bytes, status: int) -> None:
    response = answer(endpoint().receive(data, SOURCE, 0.0))
    assert response.status == status
    assert response.headers.get_all("via")[0].startswith("SIP/2.0/UDP 192.0.2.4:5062")


def test_420_lists_every_unsupported_extension() -> None:
    data = request("OPTIONS", extra=("Require: 100rel, timer", "Require: gruu"))
    response = answer(endpoint().receive(data, SOURCE, 0.0))
    assert response.headers.values("unsupported") == ["100rel", "timer", "gruu"]


@pytest.mark.parametrize(
    "data",
    [
        b"\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
        b"SIP/2.0 4294967301 Huge\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"garbage without any structure",
        request("OPTIONS", drop=("Via",)),
    ],
)
def test_dropped_without_answer(data: bytes) -> None:
    assert endpoint().receive(data, SOURCE, 0.0).data is None


def test_answer_goes_to_rport_or_sent_by_port() -> None:
    ep = endpoint()
    nat = Source("198.51.100.1", 40000, "udp")
    rport = ep.receive(
        request("OPTIONS", via="SIP/2.0/UDP 10.0.0.2:5062;rport;branch=z9hG4bKr"), nat, 0
    )
    assert rport.destination == Destination("198.51.100.1", 40000)
    sent_by = ep.receive(
        request("OPTIONS", via="SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKs"), nat, 0
    )
    assert sent_by.destination == Destination("198.51.100.1", 5070)
    default = ep.receive(request("OPTIONS", via="SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKd"), nat, 0)
    assert default.destination == Destination("198.51.100.1", 5060)


def test_sent_by_port_0_is_answered_at_the_source_port_only_with_rport() -> None:
    """SIPp writes port 0 once it has opened -max_socket sockets and sends from one of
    them; with rport the sent-by port is never used (RFC 3581 §4), so the request is
    served. Without rport there is no port to answer at: nothing is sent."""
    ep = endpoint()
    nat = Source("198.51.100.1", 40000, "udp")
    stamped = ";rport=40000;branch=z9hG4bK{};received=198.51.100.1"
    for via, want in [
        (
            "SIP/2.0/UDP 10.0.0.2:0;rport;branch=z9hG4bKz",
            "SIP/2.0/UDP 10.0.0.2:0" + stamped.format("z"),
        ),
        (  # the general path (a parameter the fast lane leaves alone)
            "SIP/2.0/UDP 10.0.0.2:0;x=1;rport;branch=z9hG4bKg",
            "SIP/2.0/UDP 10.0.0.2:0;x=1" + stamped.format("g"),
        ),
    ]:
        served = ep.receive(request("REGISTER", via=via), nat, 0)
        assert served.status == 401
        assert served.destination == Destination("198.51.100.1", 40000)
        assert answer(served).headers.get("via") == want
    refused = ep.receive(request("REGISTER", via="SIP/2.0/UDP 10.0.0.2:0;branch=z9hG4bKx"), nat, 0)
    assert refused.data is None


# ----------------------------------------------------------------- retransmissions


def register_bytes(ep: Endpoint, phone: Phone, now: float, **kw: object) -> bytes:
    """An authorised REGISTER's bytes, after fetching a challenge through ``ep``."""
    challenge = answer(ep.receive(serialize_request(phone.request(**kw)), phone.source, now))  # type: ignore[arg-type]
    assert challenge.status == 401
    params = challenge_params(challenge.headers.get("www-authenticate") or "")
    return serialize_request(phone.request(authorization=phone.authorization(params), **kw))  # type: ignore[arg-type]


def test_retransmitted_register_gets_identical_bytes_and_no_second_event() -> None:
    ep = endpoint()
    phone = Phone(ep.registrar)
    data = register_bytes(ep, phone, 0.0, expires=600)
    first = ep.receive(data, phone.source, 1.0)
    assert answer(first).status == 200
    assert [type(e) for e in first.events] == [BindingCreated, Registered]
    for later in (1.5, 4.0, 1.0 + TRANSACTION_LIFETIME - 0.1):
        again = ep.receive(data, phone.source, later)
        assert again.data == first.data
        assert again.destination == first.destination
        assert again.events == ()


def test_retransmission_does_not_burn_the_nonce_count() -> None:
    ep = endpoint()
    phone = Phone(ep.registrar)
    challenge = answer(ep.receive(serialize_request(phone.request(expires=600)), phone.source, 0))
    params = challenge_params(challenge.headers.get("www-authenticate") or "")
    data = serialize_request(phone.request(expires=600, authorization=phone.authorization(params)))
    assert ep.receive(data, phone.source, 1.0).status == 200
    assert ep.receive(data, phone.source, 1.2).status == 200  # retransmission
    refresh = phone.request(expires=600, authorization=phone.authorization(params))  # nc=2
    outcome = ep.receive(serialize_request(refresh), phone.source, 2.0)
    assert outcome.status == 200
    assert [type(e).__name__ for e in outcome.events] == ["BindingRefreshed", "Registered"]


def test_after_the_transaction_ends_the_same_bytes_are_processed_again() -> None:
    ep = endpoint()
    phone = Phone(ep.registrar)
    data = register_bytes(ep, phone, 0.0, expires=600)
    assert ep.receive(data, phone.source, 1.0).status == 200
    ep.expire(1.0 + TRANSACTION_LIFETIME)
    replay = ep.receive(data, phone.source, 2.0 + TRANSACTION_LIFETIME)
    assert replay.status == 401  # a replayed Authorization is refused
    assert [type(e).__name__ for e in replay.events] == ["AuthFailed"]


def test_same_branch_from_another_source_is_another_transaction() -> None:
    ep = endpoint()
    phone = Phone(ep.registrar)
    data = register_bytes(ep, phone, 0.0, expires=600)
    assert ep.receive(data, phone.source, 1.0).status == 200
    other = Source("192.0.2.99", 5062, "udp")
    assert ep.receive(data, other, 1.1).status == 401  # replay from elsewhere


def test_tcp_is_not_cached() -> None:
    ep = endpoint()
    phone = Phone(ep.registrar, transport="tcp")
    data = register_bytes(ep, phone, 0.0, expires=600)
    assert ep.receive(data, phone.source, 1.0).status == 200
    assert ep.receive(data, phone.source, 1.1).status == 401


def test_error_answers_are_cached_too() -> None:
    ep = endpoint()
    data = request("INVITE")
    first = ep.receive(data, SOURCE, 0.0)
    assert ep.receive(data, SOURCE, 0.5).data == first.data


def test_timer_and_expiry_of_transactions_and_bindings() -> None:
    ep = endpoint(nonce_ttl=3600.0)
    assert ep.next_timer() is None
    phone = Phone(ep.registrar)
    data = register_bytes(ep, phone, 0.0, expires=60)
    ep.receive(data, phone.source, 0.0)
    assert ep.next_timer() == pytest.approx(TRANSACTION_LIFETIME)
    assert ep.expire(TRANSACTION_LIFETIME) == []
    assert ep.next_timer() == pytest.approx(60.0)
    expired = ep.expire(60.0)
    assert [type(e).__name__ for e in expired] == ["BindingExpired"]


# ---------------------------------------------------------------------- domains


@pytest.mark.parametrize(("uri", "status"), [("sip:example.com", 401), ("sip:other.org", 403)])
def test_domain_check(uri: str, status: int) -> None:
    ep = endpoint(domains=frozenset({"example.com"}))
    phone = Phone(ep.registrar, uri=uri)
    assert ep.receive(serialize_request(phone.request()), phone.source, 0.0).status == status


def test_register_200_through_the_endpoint() -> None:
    ep = endpoint(domains=frozenset({"example.com"}))
    phone = Phone(ep.registrar)
    outcome = ep.receive(register_bytes(ep, phone, 0.0, expires=600), phone.source, 0.0)
    response = answer(outcome)
    assert response.status == 200
    assert response.headers.get("contact") == f"{phone.contact};expires=600"
    assert outcome.destination == Destination(phone.host, phone.port)
