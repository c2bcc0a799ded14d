"""Headers, compact names and serialisation: what we write reads back as what we meant."""

from __future__ import annotations

import pytest

from pbx.sip.message import (
    COMPACT_FORMS,
    Headers,
    Request,
    Response,
    canonical_name,
    display_name,
    make_headers,
    serialize_request,
    serialize_response,
    split_list,
)
from pbx.sip.parse import parse_message

# RFC 3261 §7.3.3 plus the IANA registry: every compact form the brief lists.
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "f": "from", "t": "to", "v": "via", "k": "supported", "s": "subject",
    "c": "content-type", "o": "event", "u": "allow-events", "r": "refer-to",
    "x": "session-expires", "y": "identity", "b": "referred-by",
}  # fmt: skip


@pytest.mark.parametrize(("short", "long"), sorted(COMPACT.items()))
def test_compact_forms(short: str, long: str) -> None:
    assert canonical_name(short) == long
    assert canonical_name(short.upper()) == long
    assert COMPACT_FORMS[short] == long


@pytest.mark.parametrize(
    ("wire", "canonical", "written"),
    [
        ("CALL-ID", "call-id", "Call-ID"),
        ("cseq", "cseq", "CSeq"),
        ("www-authenticate", "www-authenticate", "WWW-Authenticate"),
        ("X-Custom-thing", "x-custom-thing", "X-Custom-Thing"),
        ("Min-Expires", "min-expires", "Min-Expires"),
        ("user-AGENT", "user-agent", "User-Agent"),
    ],
)
def test_header_name_spellings(wire: str, canonical: str, written: str) -> None:
    assert canonical_name(wire) == canonical
    assert display_name(canonical) == written


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("a", ["a"]),
        (" a , b ,c ", ["a", "b", "c"]),
        ('"x, y" <sip:a@h;p=1,2>, <sip:b@h>', ['"x, y" <sip:a@h;p=1,2>', "<sip:b@h>"]),
        ('"esc \\" , still" <sip:a@h>, b', ['"esc \\" , still" <sip:a@h>', "b"]),
        ("a,,b", ["a", "", "b"]),
        (",", ["", ""]),
    ],
)
def test_split_list(value: str, items: list[str]) -> None:
    assert split_list(value) == items


def test_headers_accessors() -> None:
    headers = make_headers(
        [("v", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("Via", "SIP/2.0/UDP c"), ("i", "x")]
    )
    assert headers.get("via") == "SIP/2.0/UDP a, SIP/2.0/UDP b"
    assert headers.get_all("via") == ["SIP/2.0/UDP a, SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    assert headers.values("via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    assert headers.count("via") == 2
    assert "call-id" in headers
    assert "i" not in headers
    assert headers.get("to") is None
    assert headers.values("to") == []


def test_response_serialisation_round_trip() -> None:
    response = Response(
        200,
        "OK",
        Headers(
            (("via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("call-id", "c"), ("content-length", "99"))
        ),
        body=b"v=0\r\n",
    )
    data = serialize_response(response)
    assert data.startswith(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\n"
    )
    assert data.count(b"Content-Length") == 1
    assert data.endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")
    parsed = parse_message(data)
    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason, parsed.body) == (200, "OK", b"v=0\r\n")
    assert parsed.headers.get("call-id") == "c"


def test_request_serialisation_round_trip_keeps_raw_bytes() -> None:
    request = Request(
        "MESSAGE",
        "sip:a@h",
        "SIP/2.0",
        make_headers([("i", "\udcff-raw"), ("CSeq", "1 MESSAGE")]),
        body=b"\x00\xff",
    )
    data = serialize_request(request)
    assert b"Call-ID: \xff-raw\r\n" in data
    parsed = parse_message(data)
    assert parsed == Request(
        "MESSAGE",
        "sip:a@h",
        "SIP/2.0",
        Headers((("call-id", "\udcff-raw"), ("cseq", "1 MESSAGE"), ("content-length", "2"))),
        b"\x00\xff",
    )
