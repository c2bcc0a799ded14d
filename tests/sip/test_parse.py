"""Bytes -> messages, in h11's style: tables of wire bytes and what they must become.

Every message that parses from a datagram is also fed to ``StreamFramer`` whole, one
byte at a time and in small chunks, and must come out as the same message.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pbx.sip.message import Request, Response
from pbx.sip.parse import MAX_MESSAGE_SIZE, ParseError, StreamFramer, parse_message

VIA = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds"


def wire(*lines: str, body: bytes = b"", length: int | None = None) -> bytes:
    """A message from header lines, with a correct Content-Length unless told otherwise."""
    head = list(lines)
    if length is not None or body:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


REGISTER = wire(
    "REGISTER sip:example.com SIP/2.0",
    VIA,
    "Max-Forwards: 70",
    "To: <sip:100@example.com>",
    "From: <sip:100@example.com>;tag=456248",
    "Call-ID: 843817637684230@998sdasdh09",
    "CSeq: 1826 REGISTER",
    "Contact: <sip:100@192.0.2.4>",
    "Expires: 7200",
    length=0,
)

# ---------------------------------------------------------------- good messages

GOOD: list[tuple[str, bytes, dict[str, object]]] = [
    (
        "register",
        REGISTER,
        {
            "method": "REGISTER",
            "uri": "sip:example.com",
            "call-id": "843817637684230@998sdasdh09",
            "cseq": "1826 REGISTER",
            "body": b"",
        },
    ),
    (
        "body by content-length",
        wire("MESSAGE sip:a@b SIP/2.0", VIA, "Content-Type: text/plain", body=b"hello"),
        {"method": "MESSAGE", "body": b"hello"},
    ),
    (
        "case-insensitive names",
        wire("OPTIONS sip:a@b SIP/2.0", "vIA: SIP/2.0/UDP h", "CALL-id: x", "cSeQ: 1 OPTIONS"),
        {"via": "SIP/2.0/UDP h", "call-id": "x", "cseq": "1 OPTIONS"},
    ),
    (
        "compact forms",
        wire(
            "OPTIONS sip:a@b SIP/2.0",
            "v: SIP/2.0/UDP h",
            "i: cid",
            "m: <sip:c@d>",
            "e: gzip",
            "f: <sip:f@d>;tag=1",
            "t: <sip:t@d>",
            "k: path",
            "s: hi",
            "c: text/plain",
            "o: presence",
            "u: dialog",
            "r: <sip:r@d>",
            "x: 1800",
            "y: abc",
            "b: <sip:b@d>",
            "L: 0",
        ),
        {
            "via": "SIP/2.0/UDP h",
            "call-id": "cid",
            "contact": "<sip:c@d>",
            "content-encoding": "gzip",
            "from": "<sip:f@d>;tag=1",
            "to": "<sip:t@d>",
            "supported": "path",
            "subject": "hi",
            "content-type": "text/plain",
            "event": "presence",
            "allow-events": "dialog",
            "refer-to": "<sip:r@d>",
            "session-expires": "1800",
            "identity": "abc",
            "referred-by": "<sip:b@d>",
            "content-length": "0",
        },
    ),
    (
        "line folding with spaces and tabs",
        wire("OPTIONS sip:a@b SIP/2.0", "Subject: one", "  two", "\tthree", "Call-ID: x"),
        {"subject": "one two three", "call-id": "x"},
    ),
    (
        "space before the colon, none after",
        wire("OPTIONS sip:a@b SIP/2.0", "Call-ID  :x", "Max-Forwards\t:  70  "),
        {"call-id": "x", "max-forwards": "70"},
    ),
    (
        "empty header value",
        wire("OPTIONS sip:a@b SIP/2.0", "Subject:", "Call-ID: x"),
        {"subject": "", "call-id": "x"},
    ),
    (
        "bare LF line ends",
        b"OPTIONS sip:a@b SIP/2.0\nCall-ID: lf\nContent-Length: 2\n\nhi",
        {"call-id": "lf", "body": b"hi"},
    ),
    (
        "lowercase version is SIP/2.0",
        wire("OPTIONS sip:a@b sip/2.0", "Call-ID: x"),
        {"version": "SIP/2.0"},
    ),
    (
        "raw bytes survive (surrogateescape)",
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: \xff\x00caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
        {"subject": "\udcff\x00café"},
    ),
    (
        "response",
        wire("SIP/2.0 180 Ringing", VIA, "Call-ID: r", length=0),
        {"status": 180, "reason": "Ringing", "call-id": "r"},
    ),
    (
        "response with empty reason",
        b"SIP/2.0 100 \r\nCall-ID: r\r\n\r\n",
        {"status": 100, "reason": ""},
    ),
]


def _check(message: Request | Response | None, expected: dict[str, object]) -> None:
    assert message is not None
    for key, value in expected.items():
        if key in ("method", "uri", "version", "status", "reason", "body"):
            assert getattr(message, key) == value, key
        else:
            assert message.headers.get(key) == value, key


@pytest.mark.parametrize(("data", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_datagram(data: bytes, expected: dict[str, object]) -> None:
    _check(parse_message(data), expected)


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    """The same bytes whole, byte by byte, and in chunks of 2, 7 and 64."""
    yield [data]
    for size in (1, 2, 7, 64):
        yield [data[i : i + size] for i in range(0, len(data), size)]


def frame_all(chunks: list[bytes], framer: StreamFramer | None = None) -> list[bytes]:
    """Feed chunks one after the other, pulling every complete message after each."""
    framer = framer or StreamFramer()
    out: list[bytes] = []
    for chunk in chunks:
        framer.feed(chunk)
        while (message := framer.next_message()) is not None:
            out.append(message)
    return out


@pytest.mark.parametrize(("data", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_stream_every_chunking(data: bytes, expected: dict[str, object]) -> None:
    for chunks in chunkings(data):
        framed = frame_all(chunks)
        if b"Content-Length" in data or b"L: " in data:
            assert framed == [data]
        _check(parse_message(framed[0], stream=True), expected)


def test_stream_several_messages_in_one_segment() -> None:
    body = wire("MESSAGE sip:a@b SIP/2.0", "Call-ID: 2", body=b"\r\n\r\nnot a header")
    third = wire("OPTIONS sip:a@b SIP/2.0", "Call-ID: 3", length=0)
    stream = REGISTER + body + third
    for chunks in chunkings(stream):
        assert frame_all(chunks) == [REGISTER, body, third]


def test_stream_message_across_many_segments_waits_for_body() -> None:
    data = wire("MESSAGE sip:a@b SIP/2.0", "Call-ID: 2", body=b"0123456789")
    framer = StreamFramer()
    framer.feed(data[:-1])
    assert framer.next_message() is None
    framer.feed(data[-1:])
    assert framer.next_message() == data
    assert framer.next_message() is None


def test_stream_without_content_length_has_empty_body() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
    framer = StreamFramer()
    framer.feed(data + b"garbage")
    assert framer.next_message() == data
    message = parse_message(data, stream=True)
    assert isinstance(message, Request)
    assert message.body == b""


@pytest.mark.parametrize(
    ("stream", "pings"),
    [
        (b"\r\n\r\n", 1),
        (b"\r\n\r\n\r\n\r\n", 2),
        (b"\r\n", 0),
        (REGISTER + b"\r\n\r\n" + REGISTER, 1),
        (b"\r\n\r\n" + REGISTER + b"\r\n\r\n", 2),
    ],
)
def test_stream_crlf_keepalive_counts_pings_however_it_arrives(stream: bytes, pings: int) -> None:
    """RFC 5626 §3.5.1: CRLFCRLF is a ping even when TCP splits it."""
    for chunks in chunkings(stream):
        framer = StreamFramer()
        messages = frame_all(chunks, framer)
        assert messages == [REGISTER] * stream.count(b"REGISTER sip")
        assert framer.pings == pings, chunks


def test_stream_crlf_before_a_message_is_ignored() -> None:
    for chunks in chunkings(b"\r\n" + REGISTER):
        assert frame_all(chunks) == [REGISTER]


def test_keepalive_datagram_is_none() -> None:
    assert parse_message(b"\r\n\r\n") is None
    assert parse_message(b"\r\n") is None


def test_datagram_with_leading_crlf_parses() -> None:
    """RFC 3261 §7.5: CRLF before the start line is ignored."""
    message = parse_message(b"\r\n\r\n" + REGISTER)
    assert isinstance(message, Request)
    assert message.method == "REGISTER"


# ------------------------------------------------------------- repeated headers


def test_comma_separated_and_repeated_headers_keep_order() -> None:
    data = wire(
        "OPTIONS sip:a@b SIP/2.0",
        "Via: SIP/2.0/UDP one;branch=z9hG4bK1, SIP/2.0/UDP two;branch=z9hG4bK2",
        "Via: SIP/2.0/UDP three;branch=z9hG4bK3",
        'Contact: "A, B" <sip:a@h;x=1,2>, <sip:c@h>',
        "Contact: sip:d@h",
    )
    message = parse_message(data)
    assert message is not None
    headers = message.headers
    assert headers.count("via") == 2
    assert [v.split()[1].split(";")[0] for v in headers.values("via")] == ["one", "two", "three"]
    assert headers.values("contact") == ['"A, B" <sip:a@h;x=1,2>', "<sip:c@h>", "sip:d@h"]
    assert headers.get_all("contact")[1] == "sip:d@h"


# ------------------------------------------------------------------ bad messages

BAD: list[tuple[str, bytes, int, bool]] = [
    # name, bytes, status, has salvaged headers
    (
        "content-length larger than datagram",
        wire("OPTIONS sip:a@b SIP/2.0", VIA, body=b"x")[:-1] + b"",
        400,
        True,
    ),
    (
        "content-length not a number",
        wire("OPTIONS sip:a@b SIP/2.0", VIA, "Content-Length: ten"),
        400,
        True,
    ),
    ("negative content-length", wire("OPTIONS sip:a@b SIP/2.0", VIA, "l: -1"), 400, True),
    (
        "conflicting content-lengths",
        wire("OPTIONS sip:a@b SIP/2.0", VIA, "Content-Length: 0", "Content-Length: 1") + b"x",
        400,
        True,
    ),
    ("version 7.0", wire("OPTIONS sip:a@b SIP/7.0", VIA), 505, True),
    ("version 2.1", wire("OPTIONS sip:a@b SIP/2.1", VIA), 505, True),
    ("not a version", wire("OPTIONS sip:a@b HTTP/1.1", VIA), 400, True),
    ("two spaces in request line", wire("OPTIONS  sip:a@b SIP/2.0", VIA), 400, True),
    ("method not a token", wire("OPT(IONS sip:a@b SIP/2.0", VIA), 400, True),
    ("header without colon", wire("OPTIONS sip:a@b SIP/2.0", "Via SIP/2.0/UDP h"), 400, False),
    ("header name not a token", wire("OPTIONS sip:a@b SIP/2.0", "V(a): x"), 400, False),
    ("continuation first", wire("OPTIONS sip:a@b SIP/2.0", " folded"), 400, False),
    (
        "no end of header section",
        b"OPTIONS sip:a@b SIP/2.0\r\n" + VIA.encode() + b"\r\n",
        400,
        True,
    ),
]


@pytest.mark.parametrize(
    ("data", "status", "salvaged"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_datagram(data: bytes, status: int, salvaged: bool) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status == status
    assert not info.value.is_response
    if salvaged:
        assert info.value.partial is not None
        assert info.value.partial.get("via") == VIA.split(": ", 1)[1]
    else:
        assert info.value.partial is None


def test_bad_response_is_flagged_as_response() -> None:
    with pytest.raises(ParseError) as info:
        parse_message(wire("SIP/2.0 4294967301 Big", VIA))
    assert info.value.is_response


def test_datagram_octets_beyond_content_length_are_ignored() -> None:
    message = parse_message(wire("MESSAGE sip:a@b SIP/2.0", body=b"ab") + b"trailing junk")
    assert message is not None
    assert message.body == b"ab"


def test_datagram_without_content_length_takes_the_rest_as_body() -> None:
    message = parse_message(b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nbody")
    assert message is not None
    assert message.body == b"body"


def test_oversize_datagram_is_513() -> None:
    data = wire("MESSAGE sip:a@b SIP/2.0", VIA, body=b"x" * MAX_MESSAGE_SIZE)
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status == 513


@pytest.mark.parametrize(
    "data",
    [
        wire("MESSAGE sip:a@b SIP/2.0", f"Content-Length: {MAX_MESSAGE_SIZE}"),
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: " + b"x" * MAX_MESSAGE_SIZE,
    ],
    ids=["declared", "endless header"],
)
def test_stream_oversize_is_513(data: bytes) -> None:
    framer = StreamFramer()
    framer.feed(data)
    with pytest.raises(ParseError) as info:
        framer.next_message()
    assert info.value.status == 513


@pytest.mark.parametrize("value", [b"ten", b"-1", b"1" * 10, b"\xd9\xa3"])
def test_stream_bad_content_length_is_400(value: bytes) -> None:
    framer = StreamFramer()
    framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\n")
    with pytest.raises(ParseError) as info:
        framer.next_message()
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("length", "status"), [(b"lots", 400), (str(MAX_MESSAGE_SIZE).encode(), 513)]
)
def test_stream_error_carries_the_headers_to_answer_with(length: bytes, status: int) -> None:
    framer = StreamFramer()
    framer.feed(
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nCall-ID: c1\r\n"
        b"Content-Length: " + length + b"\r\n\r\n"
    )
    with pytest.raises(ParseError) as info:
        framer.next_message()
    assert info.value.status == status
    assert not info.value.is_response
    assert info.value.partial is not None
    assert info.value.partial.get("call-id") == "c1"


def test_stream_error_in_a_response_is_marked_as_one() -> None:
    framer = StreamFramer()
    framer.feed(b"SIP/2.0 200 OK\r\nCall-ID: c1\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(ParseError) as info:
        framer.next_message()
    assert info.value.is_response


def test_stream_small_max_message() -> None:
    framer = StreamFramer(max_message=len(REGISTER) - 1)
    framer.feed(REGISTER)
    with pytest.raises(ParseError):
        framer.next_message()
