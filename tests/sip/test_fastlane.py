"""The UDP fast lane must agree with the general path on everything it accepts, and
must keep accepting what phones really send (or it silently stops paying).

Agreement is checked piece by piece, without nonce randomness in the way: the
registrar's input, the transaction key, the destination, and the response bytes for
every kind of answer. Then whole conversations run through two endpoints, one with the
fast lane and one without, and must give the same statuses and events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import digest
from pbx.sip.endpoint import Endpoint
from pbx.sip.errors import SipError
from pbx.sip.events import AuthFailed, Event, Source
from pbx.sip.fastlane import FastRegister, _plain_via, read_fast
from pbx.sip.message import Request, serialize_response
from pbx.sip.parse import ParseError, parse_message
from pbx.sip.registrar import Registrar, RegistrarPolicy, read_register
from pbx.sip.response import build_response, response_destination

SHARED = Path(__file__).resolve().parents[3] / "shared"
SOURCE = Source("127.0.0.1", 6000, "udp")

#: Every kind of answer the registrar gives to a REGISTER.
ANSWERS: list[tuple[int, str, list[tuple[str, str]]]] = [
    (401, "Unauthorized", [("www-authenticate", 'Digest realm="pbx", nonce="abc", qop="auth"')]),
    (200, "OK", [("contact", "<sip:1@h:5>;expires=60"), ("date", "Fri, 27 Nov 2026 18:00:00 GMT")]),
    (423, "Interval Too Brief", [("min-expires", "60")]),
    (403, "Forbidden", []),
    (400, "Out-of-order CSeq for this Call-ID", []),
]


def general_view(data: bytes, source: Source) -> Request | None:
    """The request as the general path sees it, or None when it rejects it."""
    try:
        message = parse_message(data)
    except ParseError:
        return None
    if not isinstance(message, Request):
        return None
    try:
        Endpoint._validate(message)
        read_register(message)
    except SipError:
        return None
    return message


def assert_agrees(data: bytes, source: Source = SOURCE) -> FastRegister | None:
    """Whatever the fast lane accepts, the general path reads the same way."""
    fast = read_fast(data, source)
    if fast is None:
        return None
    request = general_view(data, source)
    assert request is not None, f"fast lane accepted what the general path rejects: {data!r}"
    assert request.method == "REGISTER"
    assert fast.register == read_register(request)
    assert fast.key == Endpoint._transaction_key(request, source)
    assert fast.destination == response_destination(request.headers, source)
    for status, reason, extra in ANSWERS:
        expected = serialize_response(
            build_response(request.headers, source, status, reason, extra)
        )
        assert fast.answer(status, reason, extra) == expected
    return fast


def register(**changes: str | None) -> bytes:
    """A REGISTER as sipp sends it, with some header lines replaced or removed."""
    lines = {
        "start": "REGISTER sip:127.0.0.1:5060 SIP/2.0",
        "via": "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-1-0;rport",
        "from": "From: <sip:100000@127.0.0.1>;tag=1",
        "to": "To: <sip:100000@127.0.0.1>",
        "call-id": "Call-ID: 1@bench",
        "cseq": "CSeq: 1 REGISTER",
        "contact": "Contact: <sip:100000@127.0.0.1:6000>",
        "authorization": None,
        "max-forwards": "Max-Forwards: 70",
        "user-agent": "User-Agent: bench",
        "expires": "Expires: 3600",
        "content-length": "Content-Length: 0",
    }
    lines.update(changes)
    return ("\r\n".join(v for v in lines.values() if v is not None) + "\r\n\r\n").encode()


def test_the_benchmark_shape_takes_the_fast_lane() -> None:
    fast = assert_agrees(register())
    assert fast is not None
    assert fast.register.extension == "100000"
    assert fast.destination.port == 6000


#: Phones in the corpus whose REGISTER is in the plain UDP shape. The rest use TCP, TLS
#: or WebSocket, fold lines, list two contacts, or are deliberately broken.
PLAIN_PHONES = {
    "cisco-7960g-sipbrute", "sipura-spa841-pstation-mac", "grandstream-ht502-kamailio",
    "cisco-79xx-csco7-callid", "yealink-t27g-djangopbx", "yealink-t23g-doc-line",
    "polycom-spip550-browserphone", "zoiper-538-asterisk", "pjsua-no-useragent",
    "telephone-152-pjsip", "asterisk-2050-outbound", "freeswitch-1108-gateway",
    "sipura-spa841-pstation-name",
}  # fmt: skip


def test_phones_corpus_agrees_and_plain_phones_take_the_fast_lane() -> None:
    corpus = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    taken: set[str] = set()
    for record in corpus:
        raw = record["raw"].encode("utf-8", "surrogateescape")
        for source in (Source(record.get("src_ip") or "192.0.2.1", 5060, "udp"), SOURCE):
            if assert_agrees(raw, source) is not None:
                taken.add(record["id"])
    # If a plain phone stops taking the fast lane, it is still answered correctly,
    # only slower: this is what notices.
    assert taken == PLAIN_PHONES


def torture_messages() -> list[tuple[str, bytes]]:
    manifest = json.loads((SHARED / "sip-torture" / "manifest.json").read_text())
    root = SHARED / "sip-torture"
    return [(e["file"], (root / (e.get("wire_file") or e["file"])).read_bytes()) for e in manifest]


@pytest.mark.parametrize(("name", "data"), torture_messages(), ids=lambda v: str(v)[:30])
def test_torture_messages_agree(name: str, data: bytes) -> None:
    assert_agrees(data)


# Variants: each header line replaced by shapes the fast lane must either handle
# exactly as the general path does, or leave to it.
VARIANTS: dict[str, list[str | None]] = {
    "start": [
        "REGISTER sip:example.com SIP/2.0",
        "REGISTER sips:127.0.0.1 SIP/2.0",
        "REGISTER sip:127.0.0.1?x=y SIP/2.0",
        "REGISTER tel:+1234 SIP/2.0",
        "REGISTER  sip:127.0.0.1 SIP/2.0",
        "REGISTER sip:127.0.0.1 SIP/3.0",
        "register sip:127.0.0.1 SIP/2.0",
        "REGISTER sip:127.0.0.1;transport=udp SIP/2.0",
    ],
    "via": [
        None,
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-1-0",
        "Via: SIP/2.0/UDP 10.0.0.9:6000;branch=z9hG4bK-1-0",
        "Via: SIP/2.0/UDP host.example;branch=z9hG4bKx;rport",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bKx",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bKx;x=1",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;rport=5",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;RPORT",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;received=1.2.3.4",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=1234",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;Branch=z9hG4bKx",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;branch=z9hG4bKy",
        "Via: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKx",
        "Via: SIP/2.0/UDP 127.0.0.1:70000;branch=z9hG4bKx",
        "Via: SIP/2.0/TCP 127.0.0.1:6000;branch=z9hG4bKx",
        "Via: SIP/2.0/UDP [::1]:6000;branch=z9hG4bKx",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx, SIP/2.0/UDP 10.0.0.1",
        "Via:  SIP/2.0/UDP 127.0.0.1:6000 ;branch=z9hG4bKx",
        "v: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;rport;rport",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bKx;rport",
        "Via: SIP/2.0/UDP 127.0.0.1:0;rport;branch=z9hG4bKx",
        "Via: SIP/2.0/UDP 127.0.0.1:65535;branch=z9hG4bK.!%*_+`'~-x",
        "Via: SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bK",
    ],
    "from": [
        None,
        'From: "Alice" <sip:100000@127.0.0.1>;tag=1',
        "From: sip:100000@127.0.0.1;tag=1",
        "From: <sip:100000@127.0.0.1:99999>;tag=1",
        "From: <sip:100000@127.0.0.1>;tag=a b",
        "f: <sip:100000@127.0.0.1>;tag=1",
    ],
    "to": [
        None,
        "To: <sip:100000@127.0.0.1>;tag=x",
        "To: <sip:127.0.0.1>",
        "To: <tel:+100000>",
        "To: <sip:1%30@127.0.0.1>",
        '"Bob" <sip:100000@127.0.0.1>',
        "t: sip:100000@127.0.0.1",
        "TO: <sip:100000@127.0.0.1>",
    ],
    "call-id": [None, "i: abc", "Call-ID:", "CALL-ID: x y"],
    "cseq": [
        None,
        "CSeq: 2 INVITE",
        "CSeq: 99999999999 REGISTER",
        "CSeq: 0009 REGISTER",
        "CSeq: 1  REGISTER",
        "CSeq: x REGISTER",
    ],
    "contact": [
        None,
        "Contact: *",
        "Contact: <sip:100000@127.0.0.1:6000>;expires=30",
        "Contact: <sip:100000@127.0.0.1:6000>;expires=x",
        "Contact: <sip:a@1>, <sip:b@2>",
        '"Desk" <sip:100000@127.0.0.1:6000>;+sip.instance="<urn:uuid:1-2>"',
        "Contact: <sip:100000@127.0.0.1:6000;mac=00:11:22:33:44:55>",
        "m: <sip:100000@127.0.0.1:6000>",
        "Contact:",
    ],
    "authorization": [
        'Authorization: Digest username="100000", realm="pbx", nonce="n", uri="sip:x", '
        'response="00", qop=auth, nc=00000001, cnonce="c"',
        "Authorization: Basic abc",
        "Authorization: Digest garbage",
    ],
    "max-forwards": [
        None,
        "Max-Forwards: 0",
        "Max-Forwards: 255",
        "Max-Forwards: 256",
        "Max-Forwards: 0070",
        "Max-Forwards: x",
    ],
    "user-agent": [None, "User-Agent: Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:cc"],
    "expires": [
        None,
        "Expires: 0",
        "Expires: 30",
        "Expires: 99999999999",
        "Expires: -1",
        "Expires: Thu, 01 Dec 1994 16:00:00 GMT",
    ],
    "content-length": [None, "Content-Length: 1", "l: 0", "Content-Length: 00"],
    "extra": [
        "Require: path",
        "Date: Fri, 27 Nov 2026 18:00:00 GMT",
        "Date: yesterday",
        "Supported: path, outbound",
        "X-Odd Name: 1",
        " folded continuation",
        "Expires: 60",
        "Call-ID: again",
        "Allow: INVITE, ACK",
    ],
}


#: Which ``VARIANTS`` lines to change and to which option (see ``variant``).
VARIANT_CHOICES = st.dictionaries(
    st.sampled_from(sorted(VARIANTS)), st.integers(min_value=0, max_value=40), max_size=4
)
#: The line ends ``variant`` writes.
LINE_ENDS = st.sampled_from(["\r\n", "\n"])


@settings(max_examples=3000, deadline=None)
@given(VARIANT_CHOICES, st.sampled_from(["127.0.0.1", "10.0.0.9", "::1"]), LINE_ENDS)
def test_generated_variants_agree(choices: dict[str, int], host: str, eol: str) -> None:
    assert_agrees(variant(choices, eol), Source(host, 6000, "udp"))


def variant(choices: dict[str, int], eol: str) -> bytes:
    """The REGISTER with the chosen ``VARIANTS`` lines, with ``eol`` line ends."""
    changes: dict[str, str | None] = {}
    for name, index in choices.items():
        options = VARIANTS[name]
        changes[name] = options[index % len(options)]
    data = register(**changes)
    if eol != "\r\n":
        data = data.replace(b"\r\n", eol.encode())
    return data


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        # The common shape (one match), rport on either side of the branch or none.
        (
            "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK1-0;rport",
            ("127.0.0.1", 6000, "z9hG4bK1-0", True),
        ),
        ("SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bKx", ("127.0.0.1", 6000, "z9hG4bKx", True)),
        (
            "SIP/2.0/UDP host.example;branch=z9hG4bK.!%*_+`'~-",
            ("host.example", None, "z9hG4bK.!%*_+`'~-", False),
        ),
        ("SIP/2.0/UDP 127.0.0.1:65535;branch=z9hG4bKx", ("127.0.0.1", 65535, "z9hG4bKx", False)),
        # Other parameters: the general reading.
        ("SIP/2.0/UDP 127.0.0.1;x=1;branch=z9hG4bKx;y", ("127.0.0.1", None, "z9hG4bKx", False)),
        ("SIP/2.0/UDP 127.0.0.1;rport;x;branch=z9hG4bKx", ("127.0.0.1", None, "z9hG4bKx", True)),
        # Not plain: None, from either reading.
        ("SIP/2.0/UDP 127.0.0.1:6000;rport;branch=z9hG4bKx;rport", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;rport;rport", None),
        # Port 0 names no port; with rport it is never used (RFC 3581), so it passes.
        ("SIP/2.0/UDP 127.0.0.1:0;rport;branch=z9hG4bKx", ("127.0.0.1", 0, "z9hG4bKx", True)),
        ("SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKx;rport", ("127.0.0.1", 0, "z9hG4bKx", True)),
        ("SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKx", None),
        ("SIP/2.0/UDP 127.0.0.1:65536;rport;branch=z9hG4bKx", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK;rport", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=1234;rport", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;Branch=z9hG4bKx", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;RPORT", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;rport=5", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;received=1.2.3.4", None),
        ("SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;branch=z9hG4bKy", None),
        ("SIP/2.0/TCP 127.0.0.1:6000;branch=z9hG4bKx", None),
    ],
)
def test_plain_via(via: str, expected: tuple[str, int | None, str, bool] | None) -> None:
    assert _plain_via(via) == expected


def test_messages_the_fast_lane_must_leave_alone() -> None:
    """Each of these is one small step outside the plain shape."""
    for data in (
        register(via="Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKx;received=1.2.3.4"),
        register(to="To: <sip:100000@127.0.0.1>;tag=x"),
        register(extra="Require: path"),
        register(contact="Contact: <sip:a@1>, <sip:b@2>"),
        register(**{"user-agent": "User-Agent: caf\u00e9"}),
        register() + b"body",
        register().replace(b"\r\n", b"\n"),
    ):
        assert read_fast(data, SOURCE) is None, data


# ------------------------------------------------------------ whole conversations

REALM = "pbx"
USERS = {str(n): digest.ha1("MD5", str(n), REALM, f"pw{n}") for n in range(100, 103)}


def endpoints() -> tuple[Endpoint, Endpoint]:
    def make(fast: bool) -> Endpoint:
        registrar = Registrar(
            RegistrarPolicy(realm=REALM, min_expires=60),
            lambda user, _alg: USERS.get(user),
            b"s" * 32,
            date=lambda: "Fri, 27 Nov 2026 18:00:00 GMT",
        )
        return Endpoint(registrar, fast_lane=fast)

    return make(True), make(False)


def authorization(user: str, password_ha1: str, challenge: bytes, nc: int, uri: str) -> str:
    m = re.search(rb'nonce="([^"]+)"', challenge)
    assert m is not None, challenge
    nonce = m.group(1).decode()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    response = hashlib.md5(
        f"{password_ha1}:{nonce}:{nc:08x}:c0ffee:auth:{ha2}".encode()
    ).hexdigest()
    return (
        f'Authorization: Digest username="{user}", realm="{REALM}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}", algorithm=MD5, cnonce="c0ffee", qop=auth, '
        f"nc={nc:08x}"
    )


def normalised(outcome_data: bytes | None) -> bytes:
    """A response with the nonce taken out (each endpoint draws its own)."""
    return re.sub(rb'nonce="[^"]+"', b'nonce="N"', outcome_data or b"")


def without_credentials(events: tuple[Event, ...]) -> list[Event]:
    """Events with the Authorization field dropped from their headers (nonce inside)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, AuthFailed):
            out.append(event)
            continue
        kept = tuple((n, v) for n, v in event.headers if n != "authorization")
        out.append(dataclasses.replace(event, headers=kept))
    return out


SECOND = "Contact: <sip:100@127.0.0.1:7000;mac=001565aabbcc>"
# (user, password, header changes, nc): nc 1 starts with a fresh challenge, a higher
# nc reuses the user's last one, as a phone refreshing with a still-valid nonce does.
CONVERSATION: list[tuple[str, str, dict[str, str | None], int]] = [
    ("100", "pw100", {"cseq": "CSeq: 2 REGISTER"}, 1),
    ("100", "pw100", {"cseq": "CSeq: 3 REGISTER"}, 2),
    ("100", "pw100", {"cseq": "CSeq: 4 REGISTER"}, 2),  # nc replayed
    ("101", "wrong", {"cseq": "CSeq: 2 REGISTER"}, 1),
    ("999", "pw999", {"cseq": "CSeq: 2 REGISTER"}, 1),  # unknown extension
    ("100", "pw100", {"cseq": "CSeq: 5 REGISTER", "expires": "Expires: 30"}, 3),  # 423
    ("100", "pw100", {"cseq": "CSeq: 6 REGISTER",
                      "contact": SECOND}, 4),
    ("100", "pw100", {"cseq": "CSeq: 6 REGISTER", "contact": SECOND}, 5),  # CSeq reused
    ("100", "pw100", {"cseq": "CSeq: 7 REGISTER", "expires": "Expires: 0"}, 6),
    ("100", "pw100", {"cseq": "CSeq: 8 REGISTER", "contact": "Contact: *",
                      "expires": "Expires: 0"}, 7),
]  # fmt: skip


def converse(endpoint: Endpoint) -> list[tuple[object, ...]]:
    """Run CONVERSATION; each step's statuses, normalised answers and events."""
    challenges: dict[str, bytes] = {}
    record: list[tuple[object, ...]] = []
    for step, (user, password, changes, nc) in enumerate(CONVERSATION):
        base: dict[str, str | None] = {
            "from": f"From: <sip:{user}@127.0.0.1>;tag={step}",
            "to": f"To: <sip:{user}@127.0.0.1>",
            "call-id": f"Call-ID: {user}@test",
            "contact": f"Contact: <sip:{user}@127.0.0.1:6000>",
            **changes,
        }
        via = f"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK-{step}-%d;rport"
        now = float(step)
        if nc == 1:
            first = endpoint.receive(
                register(**{**base, "cseq": "CSeq: 1 REGISTER", "via": via % 1}), SOURCE, now
            )
            assert read_fast(register(**{**base, "via": via % 1}), SOURCE) is not None
            challenges[user] = first.data or b""
            record.append((first.status, normalised(first.data), without_credentials(first.events)))
        ha1 = digest.ha1("MD5", user, REALM, password)
        auth = authorization(user, ha1, challenges[user], nc, "sip:127.0.0.1:5060")
        data = register(**{**base, "authorization": auth, "via": via % 2})
        # Everything but ``Contact: *`` (rare: left to the general path) is plain.
        assert (read_fast(data, SOURCE) is not None) == (base["contact"] != "Contact: *"), data
        second = endpoint.receive(data, SOURCE, now + 0.5)
        again = endpoint.receive(data, SOURCE, now + 0.6)
        assert again.data == second.data  # the retransmission is answered from the cache
        assert again.events == ()
        record.append((second.status, normalised(second.data), without_credentials(second.events)))
    return record


def test_conversations_give_the_same_answers_and_events() -> None:
    """Register, refresh with the next nc, replay, wrong password, unknown user, 423,
    a second contact, out-of-order CSeq, unregister, ``Contact: *``, retransmission."""
    fast, general = endpoints()
    fast_record, general_record = converse(fast), converse(general)
    statuses = [entry[0] for entry in fast_record]
    assert statuses == [401, 200, 200, 401, 401, 403, 401, 403, 423, 200, 400, 200, 200]
    assert fast_record == general_record
