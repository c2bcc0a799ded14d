"""Typed views of header values (RFC 3261 §25): tables of text and what it must become,
and tables of text that must be refused with 400."""

from __future__ import annotations

import pytest

from pbx.sip.errors import SipError
from pbx.sip.grammar import (
    MAX_CSEQ,
    parse_cseq,
    parse_delta_seconds,
    parse_name_addr,
    parse_params,
    parse_uri,
    parse_via,
)

# -------------------------------------------------------------------------- URIs

URIS: list[tuple[str, dict[str, object]]] = [
    ("sip:example.com", {"scheme": "sip", "user": None, "host": "example.com", "port": None}),
    ("SIP:Alice@Example.COM:5070", {"scheme": "sip", "user": "Alice", "port": 5070}),
    ("sips:bob:secret@h", {"scheme": "sips", "user": "bob", "host": "h"}),
    ("sip:[2001:db8::10]:5070", {"host": "[2001:db8::10]", "port": 5070}),
    ("sip:[2001:db8::10]", {"host": "[2001:db8::10]", "port": None}),
    ("sip:[2001:db8:::192.0.2.1]", {"host": "[2001:db8:::192.0.2.1]"}),  # RFC 5118 §4.4
    ("sip:[::ffff:192.0.2.1]", {"host": "[::ffff:192.0.2.1]"}),
    ("sip:192.0.2.1;transport=TCP;lr", {"params": (("transport", "TCP"), ("lr", None))}),
    ("sip:a@h?subject=x&priority=urgent", {"headers": "subject=x&priority=urgent"}),
    ("sip:%61lice@h", {"user": "%61lice"}),
    ("tel:+1-201-555-0123", {"scheme": "tel", "opaque": "+1-201-555-0123"}),
    ("sip:h.example.com.", {"host": "h.example.com."}),
]


@pytest.mark.parametrize(("text", "expected"), URIS, ids=[u[0] for u in URIS])
def test_uri(text: str, expected: dict[str, object]) -> None:
    uri = parse_uri(text)
    for key, value in expected.items():
        assert getattr(uri, key) == value, key


BAD_URIS = [
    "example.com",  # no scheme
    "1sip:a@b",  # scheme must start with a letter
    "sip:a b@h",  # whitespace
    "sip:<a>@h",
    'sip:"a"@h',
    "sip:@h",  # empty user
    "sip:a@h:",  # empty port
    "sip:a@h:0",
    "sip:a@h:65536",
    "sip:a@h:50x",
    "sip:a@[2001:db8::1",  # unclosed IPv6 reference
    "sip:a@[2001:db8::g]",
    "sip:a@h]",
    "sip:a@-h",
    "sip:a%4@h",  # bad escape
    "sip:a%zz@h",
    "sip:h;;lr",  # empty parameter
    "sip:h;=x",
    "tel:",
]


@pytest.mark.parametrize("text", BAD_URIS)
def test_bad_uri(text: str) -> None:
    with pytest.raises(SipError) as info:
        parse_uri(text)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("text", "unescaped"),
    [("null-%00-null", "null-\x00-null"), ("%61lice", "alice"), ("a%20b", "a b"), ("x", "x")],
)
def test_uri_user_unescaped(text: str, unescaped: str) -> None:
    assert parse_uri(f"sip:{text}@h").user_unescaped == unescaped


def test_uri_host_bare_and_binding_key() -> None:
    assert parse_uri("sip:a@[2001:DB8::1]").host_bare == "2001:db8::1"
    same = {
        parse_uri(text).binding_key()
        for text in (
            "sip:%61@EXAMPLE.com:5060;transport=UDP",
            "SIP:a@example.COM:5060;transport=udp",
        )
    }
    assert len(same) == 1
    different = {
        parse_uri(text).binding_key()
        for text in ("sip:a@h", "sip:A@h", "sip:a@h:5061", "sip:a@h;transport=tcp", "sips:a@h")
    }
    assert len(different) == 5


# ------------------------------------------------------------------- parameters

PARAMS: list[tuple[str, tuple[tuple[str, str | None], ...]]] = [
    ("tag=abc", (("tag", "abc"),)),
    ("LR", (("lr", None),)),
    ("Expires = 60 ; q=0.5", (("expires", "60"), ("q", "0.5"))),
    ('x="a;b"', (("x", "a;b"),)),
    (r'x="say \"hi\" \\ back"', (("x", 'say "hi" \\ back'),)),
    ('+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"', (
        ("+sip.instance", "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"),
    )),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PARAMS, ids=[p[0] for p in PARAMS])
def test_params(text: str, expected: tuple[tuple[str, str | None], ...]) -> None:
    assert parse_params(text, "test") == expected


@pytest.mark.parametrize("text", ["a;;b", "", "x=", 'x="open', 'x="a"b', "(=1"])
def test_bad_params(text: str) -> None:
    with pytest.raises(SipError):
        parse_params(text, "test")


# ------------------------------------------------------------------- name-addr

NAME_ADDRS: list[tuple[str, dict[str, object]]] = [
    ("<sip:a@h>", {"display": None, "uri_text": "sip:a@h", "params": (), "bracketed": True}),
    ("sip:a@h", {"display": None, "uri_text": "sip:a@h", "bracketed": False}),
    # addr-spec: ;params belong to the header (RFC 4475 cparam01)
    (
        "sip:a@h;tag=1;expires=30",
        {"uri_text": "sip:a@h", "params": (("tag", "1"), ("expires", "30"))},
    ),
    # name-addr: ;params inside <> belong to the URI
    (
        "<sip:a@h;transport=tcp>;tag=9",
        {"uri_text": "sip:a@h;transport=tcp", "params": (("tag", "9"),)},
    ),
    ("Bob Smith <sip:b@h>", {"display": "Bob Smith"}),
    ("  Bob   <sip:b@h>  ", {"display": "Bob"}),
    ('"Bob \\"the\\" Builder" <sip:b@h>', {"display": 'Bob "the" Builder'}),
    ('"<sip:not@this>" <sip:b@h>', {"display": "<sip:not@this>", "uri_text": "sip:b@h"}),
    ('""<sip:b@h>', {"display": ""}),
    ("<sip:b@[2001:db8::1]:5070>", {"uri_text": "sip:b@[2001:db8::1]:5070"}),
    ("<sip:a@h?subject=x>", {"uri_text": "sip:a@h?subject=x"}),
    ("<tel:+15551234>;tag=x", {"uri_text": "tel:+15551234"}),
]


@pytest.mark.parametrize(("text", "expected"), NAME_ADDRS, ids=[n[0] for n in NAME_ADDRS])
def test_name_addr(text: str, expected: dict[str, object]) -> None:
    value = parse_name_addr(text, "To")
    for key, want in expected.items():
        assert getattr(value, key) == want, key


def test_name_addr_tag() -> None:
    assert parse_name_addr("<sip:a@h>;TAG=abc", "From").tag == "abc"
    assert parse_name_addr("<sip:a@h;tag=uri>", "From").tag is None


BAD_NAME_ADDRS = [
    "",
    "<sip:a@h",  # unclosed
    "< sip:a@h>",  # whitespace inside <>
    '"unterminated <sip:a@h>',
    '"Bob" sip:a@h',  # quoted display without <>
    "Bob@home <sip:a@h>",  # display name not tokens
    "sip:a@h?subject=x",  # '?' needs <>
    "sip:a@h, sip:b@h",
    "<sip:a@h> junk",
    "<sip:a@h>;;tag=1",
    "<sip:a b@h>",
]


@pytest.mark.parametrize("text", BAD_NAME_ADDRS)
def test_bad_name_addr(text: str) -> None:
    with pytest.raises(SipError) as info:
        parse_name_addr(text, "To")
    assert info.value.status == 400
    assert "To" in info.value.reason or "URI" in info.value.reason


# ------------------------------------------------------------------------- Via

VIAS: list[tuple[str, dict[str, object]]] = [
    ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", {
        "transport": "UDP", "host": "192.0.2.1", "port": 5060, "branch": "z9hG4bK1",
        "has_rport": False,
    }),
    ("SIP/2.0/tcp h;rport;branch=z9hG4bKx", {"transport": "TCP", "port": None, "has_rport": True}),
    ("SIP / 2.0 / UDP  h : 5070 ; branch = z9hG4bK2", {"host": "h", "port": 5070}),
    ("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bK3;received=[2001:db8::9:255]", {
        "host": "[2001:db8::9:1]", "port": None,
    }),
    ("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bK4", {"port": 6050}),
    ("SIP/2.0/UDP h;rport=5062;branch=z9hG4bK5", {"has_rport": True}),
    # Port 0 only with rport, which sends the answer to the source port (RFC 3581).
    ("SIP/2.0/UDP h:0;rport;branch=z9hG4bK7", {"port": 0, "has_rport": True}),
    ("SIP/2.0/UDP h : 0 ;branch=z9hG4bK8;rport", {"port": 0, "has_rport": True}),
    ("SIP/2.0/UDP h", {"branch": None, "params": ()}),
    ('SIP/2.0/UDP h;branch=z9hG4bK6;x="a;b"', {"params": (("branch", "z9hG4bK6"), ("x", "a;b"))}),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), VIAS, ids=[v[0] for v in VIAS])
def test_via(text: str, expected: dict[str, object]) -> None:
    via = parse_via(text)
    for key, want in expected.items():
        assert getattr(via, key) == want, key


BAD_VIAS = [
    "SIP/2.0 h",
    "SIP/3.0/UDP h",
    "SIP/2.0/UDP",
    "SIP/2.0/UDP h:port",
    "SIP/2.0/UDP h:99999",
    "SIP/2.0/UDP h:0;branch=z9hG4bK1",  # port 0 and no rport: nowhere to answer
    "SIP/2.0/UDP h : 0;branch=z9hG4bK1",
    "SIP/2.0/UDP h:65536;rport;branch=z9hG4bK1",
    "SIP/2.0/UDP h;branch=",
    "SIP/2.0/UDP h;branch=z9hG4bK",  # only the magic cookie (RFC 4475 badbranch)
    "SIP/2.0/UDP h;;branch=z9hG4bK1",
    "SIP/2.0/UDP h;rport=x",
    "SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK1",
]


@pytest.mark.parametrize("text", BAD_VIAS)
def test_bad_via(text: str) -> None:
    with pytest.raises(SipError) as info:
        parse_via(text)
    assert info.value.status == 400


# ------------------------------------------------------------- CSeq and numbers


@pytest.mark.parametrize(
    ("text", "seq", "method"),
    [
        ("1 REGISTER", 1, "REGISTER"),
        ("  0009  INVITE ", 9, "INVITE"),
        (f"{MAX_CSEQ} BYE", MAX_CSEQ, "BYE"),
    ],
)
def test_cseq(text: str, seq: int, method: str) -> None:
    cseq = parse_cseq(text)
    assert (cseq.seq, cseq.method) == (seq, method)


@pytest.mark.parametrize(
    "text", ["REGISTER", "1", "-1 REGISTER", "x REGISTER", f"{MAX_CSEQ + 1} REGISTER", "1 RE(G"]
)
def test_bad_cseq(text: str) -> None:
    with pytest.raises(SipError):
        parse_cseq(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), (" 3600 ", 3600), ("0007", 7), ("4294967296", 2**32 - 1), ("1" * 40, 2**32 - 1)],
)
def test_delta_seconds(text: str, value: int) -> None:
    assert parse_delta_seconds(text, "Expires") == value


def test_delta_seconds_ceiling() -> None:
    assert parse_delta_seconds("99999", "Expires", ceiling=100) == 100


@pytest.mark.parametrize("text", ["", "-1", "+5", "1.5", "Thu, 01 Dec 1994 16:00:00 GMT", "٣"])
def test_bad_delta_seconds(text: str) -> None:
    with pytest.raises(SipError):
        parse_delta_seconds(text, "Expires")
