"""Responses built from requests (RFC 3261 §8.2.6) and where they go (§18.2.2, RFC 3581)."""

from __future__ import annotations

import pytest

from pbx.sip.errors import SipError
from pbx.sip.events import Source
from pbx.sip.grammar import parse_name_addr, parse_via
from pbx.sip.message import Headers, make_headers, serialize_response
from pbx.sip.parse import parse_message
from pbx.sip.response import (
    Destination,
    build_response,
    error_response,
    response_destination,
    to_tag_for,
)

SOURCE = Source("198.51.100.7", 40000, "udp")


def request_headers(top_via: str, to: str = "<sip:100@example.com>") -> Headers:
    return make_headers(
        [
            ("Via", top_via),
            ("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/TCP [2001:db8::1]"),
            ("Max-Forwards", "70"),
            ("From", "Alice <sip:100@example.com>;tag=abc"),
            ("To", to),
            ("Call-ID", "cid@h"),
            ("CSeq", "7 REGISTER"),
            ("Contact", "<sip:100@192.0.2.4>"),
            ("User-Agent", "phone"),
        ]
    )


def test_copies_via_from_to_call_id_cseq_in_order() -> None:
    headers = request_headers("SIP/2.0/UDP 198.51.100.7:40000;branch=z9hG4bKa")
    response = build_response(headers, SOURCE, 200, "OK", [("expires", "60")])
    names = [name for name, _ in response.headers.fields]
    assert names == ["via", "via", "from", "to", "call-id", "cseq", "expires", "server"]
    assert response.headers.get_all("via")[1] == headers.get_all("via")[1]
    assert response.headers.values("via")[1:] == headers.values("via")[1:]
    assert response.headers.get("from") == "Alice <sip:100@example.com>;tag=abc"
    assert response.headers.get("call-id") == "cid@h"
    assert response.headers.get("cseq") == "7 REGISTER"
    assert "contact" not in response.headers
    assert "max-forwards" not in response.headers


def test_to_tag_added_once_and_stable() -> None:
    headers = request_headers("SIP/2.0/UDP h;branch=z9hG4bKa")
    first = build_response(headers, SOURCE, 401, "Unauthorized")
    again = build_response(headers, SOURCE, 401, "Unauthorized")
    to = parse_name_addr(first.headers.get("to") or "", "To")
    assert to.tag == to_tag_for(headers)
    assert to.tag
    assert first.headers.get("to") == again.headers.get("to")
    changed = Headers(tuple((n, "other@h" if n == "call-id" else v) for n, v in headers.fields))
    other = build_response(changed, SOURCE, 401, "Unauthorized")
    assert other.headers.get("to") != first.headers.get("to")


@pytest.mark.parametrize(
    "to",
    ["<sip:100@example.com>;tag=keep", "sip:100@example.com;TAG=keep", "<sip:1@h> ; tag = keep"],
)
def test_existing_to_tag_is_kept(to: str) -> None:
    headers = request_headers("SIP/2.0/UDP h;branch=z9hG4bKa", to=to)
    response = build_response(headers, SOURCE, 200, "OK")
    assert response.headers.get("to") == to


def test_no_to_tag_on_100() -> None:
    headers = request_headers("SIP/2.0/UDP h;branch=z9hG4bKa")
    assert build_response(headers, SOURCE, 100, "Trying").headers.get("to") == (
        "<sip:100@example.com>"
    )


def test_uri_tag_is_not_a_header_tag() -> None:
    headers = request_headers("SIP/2.0/UDP h;branch=z9hG4bKa", to="<sip:100@h;tag=uri>")
    to = build_response(headers, SOURCE, 200, "OK").headers.get("to") or ""
    assert parse_name_addr(to, "To").tag == to_tag_for(headers)


# top Via as sent, source, top Via in the response, destination (host, port)
STAMPING: list[tuple[str, Source, str, tuple[str, int]]] = [
    (  # sent-by is the source IP, no rport: nothing added; answer at sent-by port
        "SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKa",
        ("198.51.100.7", 5070),
    ),
    (  # no port in sent-by: 5060
        "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKa",
        ("198.51.100.7", 5060),
    ),
    (  # sent-by differs from the source (NAT): received; answer at source IP, sent-by port
        "SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKa;received=198.51.100.7",
        ("198.51.100.7", 5062),
    ),
    (  # a host name is never the source address: received
        "SIP/2.0/UDP phone.example.com;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP phone.example.com;branch=z9hG4bKa;received=198.51.100.7",
        ("198.51.100.7", 5060),
    ),
    (  # RFC 3581: rport filled and received added even when the IP matches
        "SIP/2.0/UDP 198.51.100.7:5060;rport;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP 198.51.100.7:5060;rport=40000;branch=z9hG4bKa;received=198.51.100.7",
        ("198.51.100.7", 40000),
    ),
    (  # RFC 3581 §4 example: rport last, behind NAT
        "SIP/2.0/UDP 10.1.1.1:4540;branch=z9hG4bKkjshdyff;RPORT",
        SOURCE,
        "SIP/2.0/UDP 10.1.1.1:4540;branch=z9hG4bKkjshdyff;rport=40000;received=198.51.100.7",
        ("198.51.100.7", 40000),
    ),
    (  # IPv6 sent-by equal to the source (brackets ignored)
        "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKa",
        Source("2001:db8::9", 5999, "udp"),
        "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKa",
        ("2001:db8::9", 5070),
    ),
    (  # IPv6 with rport
        "SIP/2.0/UDP [2001:db8::9];rport;branch=z9hG4bKa",
        Source("2001:db8::9", 5999, "udp"),
        "SIP/2.0/UDP [2001:db8::9];rport=5999;branch=z9hG4bKa;received=2001:db8::9",
        ("2001:db8::9", 5999),
    ),
    (  # a param whose name starts with rport is not rport
        "SIP/2.0/UDP 198.51.100.7:5080;rportx;branch=z9hG4bKa",
        SOURCE,
        "SIP/2.0/UDP 198.51.100.7:5080;rportx;branch=z9hG4bKa",
        ("198.51.100.7", 5080),
    ),
]


@pytest.mark.parametrize(
    ("top", "source", "stamped", "destination"), STAMPING, ids=[row[0] for row in STAMPING]
)
def test_received_rport_and_destination(
    top: str, source: Source, stamped: str, destination: tuple[str, int]
) -> None:
    headers = request_headers(top)
    response = build_response(headers, source, 200, "OK")
    assert response.headers.get_all("via")[0] == stamped
    parse_via(stamped)  # still a valid Via
    assert response_destination(headers, source) == Destination(*destination)


def test_only_the_top_via_of_a_combined_field_is_stamped() -> None:
    headers = make_headers(
        [("Via", "SIP/2.0/UDP 10.0.0.2;rport;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.3;rport")]
    )
    via = build_response(headers, SOURCE, 200, "OK").headers.get("via")
    assert via == (
        "SIP/2.0/UDP 10.0.0.2;rport=40000;branch=z9hG4bKa;received=198.51.100.7, "
        "SIP/2.0/UDP 10.0.0.3;rport"
    )


@pytest.mark.parametrize(
    "vias", [[], [("Via", "garbage")], [("Via", "SIP/2.0/UDP h:0;branch=z9hG4bKa")]]
)
def test_no_usable_via_means_no_destination(vias: list[tuple[str, str]]) -> None:
    assert response_destination(make_headers(vias), SOURCE) is None


def test_error_response_carries_status_reason_and_extra_headers() -> None:
    headers = request_headers("SIP/2.0/UDP h;branch=z9hG4bKa")
    error = SipError(423, "Interval Too Brief", (("min-expires", "60"),))
    data = serialize_response(error_response(headers, SOURCE, error))
    assert data.startswith(b"SIP/2.0 423 Interval Too Brief\r\n")
    assert b"\r\nMin-Expires: 60\r\n" in data
    parsed = parse_message(data)
    assert parsed is not None
    assert parsed.headers.get("cseq") == "7 REGISTER"
