"""The one-regex fast paths for name-addr and Via must agree with the full grammar
wherever they match, and must never accept what the full grammar rejects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip.errors import SipError
from pbx.sip.grammar import (
    _fast_name_addr,
    parse_name_addr,
    parse_name_addr_general,
    parse_via,
    parse_via_general,
)
from pbx.sip.message import split_list

SHARED = Path(__file__).resolve().parents[3] / "shared" / "sip-torture"

pieces = st.sampled_from
users = st.one_of(st.none(), pieces(["1000", "alice", "a.b", "+1972", "x%41", "a:b", "", "a b"]))
hosts = pieces(["127.0.0.1", "example.com", "[::1]", "a-", "-a", "h", "1.2.3.4.", "exa mple"])
ports = st.one_of(st.none(), pieces(["5060", "0", "65535", "65536", "99999", "x"]))
params = st.lists(
    pieces(
        [
            ";tag=1",
            ";TAG=Ab",
            ";Lr",
            ";lr",
            ";transport=udp",
            ";x=",
            ";=1",
            '; q="a b"',
            ";expires=60",
            ";",
        ]
    ),
    max_size=3,
).map("".join)
displays = pieces(["", '"Alice" ', '"A\\"b" ', "Bob ", '"" ', '"x"  ', '"open '])


@st.composite
def name_addrs(draw: st.DrawFn) -> str:
    user = draw(users)
    uri = f"{draw(pieces(['sip', 'sips', 'SIP', 'tel']))}:"
    uri += f"{user}@" if user is not None else ""
    uri += draw(hosts)
    port = draw(ports)
    uri += f":{port}" if port is not None else ""
    uri += draw(params)
    return f"{draw(displays)}<{uri}>{draw(params)}"


def same(fast: object, general: object) -> bool:
    return fast == general


@settings(max_examples=1500, deadline=None)
@given(name_addrs())
def test_name_addr_fast_path_agrees_with_the_grammar(text: str) -> None:
    try:
        expected = parse_name_addr_general(text, "To")
    except SipError:
        assert _fast_name_addr(text) is None, text
        with pytest.raises(SipError):
            parse_name_addr(text, "To")
        return
    assert parse_name_addr(text, "To") == expected


@st.composite
def vias(draw: st.DrawFn) -> str:
    via = f"SIP/2.0/{draw(pieces(['UDP', 'TCP', 'udp', 'TLS']))} {draw(hosts)}"
    port = draw(ports)
    via += f":{port}" if port is not None else ""
    via += draw(
        st.lists(
            pieces([";branch=z9hG4bK1", ";branch=z9hG4bK", ";rport", ";rport=5", ";rport=x",
                    ";received=1.2.3.4", ";;", ";branch="]),
            max_size=3,
        ).map("".join)
    )  # fmt: skip
    return via


def assert_via_agrees(text: str) -> None:
    """``parse_via`` (fast path first) gives what the full grammar gives, or fails too."""
    try:
        expected = parse_via_general(text)
    except SipError:
        with pytest.raises(SipError):
            parse_via(text)
        return
    assert parse_via(text) == expected


@settings(max_examples=1500, deadline=None)
@given(vias())
def test_via_fast_path_agrees_with_the_grammar(text: str) -> None:
    assert_via_agrees(text)


def torture_values(names: tuple[str, ...]) -> list[str]:
    """Every From/To/Contact (or Via) value of the RFC 4475/5118 messages."""
    manifest = json.loads((SHARED / "manifest.json").read_text())
    found: list[str] = []
    for entry in manifest:
        raw = (SHARED / (entry.get("wire_file") or entry["file"])).read_bytes()
        head = raw.split(b"\r\n\r\n")[0].decode("utf-8", "surrogateescape")
        for line in head.split("\r\n")[1:]:
            name, colon, value = line.partition(":")
            if colon and name.strip().lower() in names:
                found.extend(split_list(value.strip()))
    assert found, "no torture messages read"
    return found


@pytest.mark.parametrize("text", torture_values(("from", "to", "contact", "f", "t", "m")))
def test_torture_name_addrs_agree(text: str) -> None:
    try:
        expected = parse_name_addr_general(text, "To")
    except SipError:
        with pytest.raises(SipError):
            parse_name_addr(text, "To")
        return
    assert parse_name_addr(text, "To") == expected


@pytest.mark.parametrize("text", torture_values(("via", "v")))
def test_torture_vias_agree(text: str) -> None:
    assert_via_agrees(text)


@st.composite
def digest_params(draw: st.DrawFn) -> str:
    items = draw(
        st.lists(
            pieces(
                ['username="1000"', "username=1000", 'realm="pbx"', 'nonce="a/b+c="',
                 'uri="sip:127.0.0.1:5060;transport=udp"', "uri=sip:h;x=y", 'response="ff00"',
                 "algorithm=MD5", "Algorithm=SHA-256", 'cnonce=""', "qop=auth", 'qop="auth"',
                 "nc=00000001", 'opaque="a\\"b"', "nc = 1", 'x="é"', "=1", 'bad="open']
            ),
            max_size=9,
        )
    )  # fmt: skip
    seps = draw(st.lists(pieces([", ", ",", " , ", ",  ", ", ,"]), min_size=len(items)))
    tail = draw(pieces(["", ",", ", ", " "]))
    return "".join(item + sep for item, sep in zip(items, seps, strict=False)).rstrip(", ") + tail


@settings(max_examples=1500, deadline=None)
@given(digest_params())
def test_digest_fast_path_agrees_with_the_general_loop(rest: str) -> None:
    from pbx.sip.digest import _fast_params, _general_params

    fast = _fast_params(rest) if rest.isascii() else None
    if fast is None:
        return
    value = "Digest " + rest
    assert fast == _general_params(value, len("Digest "))


#: The whole-string shape the digest fast path accepts, written out once more: the
#: fast path reads it in one ``findall`` and checks that the items tile the string.
_DIGEST_ITEM = r'([A-Za-z][A-Za-z0-9_-]*)=(?:"[^"\\\r\n]*"|[^ \t\r\n",\\]+)(?:, ?|\Z)'
_DIGEST_ITEMS_RE = re.compile(f"(?:{_DIGEST_ITEM})+")
_DIGEST_ITEM_RE = re.compile(_DIGEST_ITEM)


def _names(rest: str) -> list[str]:
    """The parameter names of a string in the whole shape, item after item."""
    names: list[str] = []
    at = 0
    while at < len(rest):
        item = _DIGEST_ITEM_RE.match(rest, at)
        assert item is not None
        names.append(item.group(1).lower())
        at = item.end()
    return names


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        digest_params(),
        st.text(alphabet='ab=", \\\t\r\nZ9_-', max_size=24),
    )
)
def test_digest_fast_path_accepts_exactly_the_whole_string_shape(rest: str) -> None:
    from pbx.sip.digest import _fast_params

    whole = _DIGEST_ITEMS_RE.fullmatch(rest) is not None
    fast = _fast_params(rest)
    if not whole:
        assert fast is None
        return
    if fast is None:
        # Only a repeated parameter name is refused in the right shape.
        names = _names(rest)
        assert len(set(names)) < len(names)
    else:
        assert list(fast) == list(dict.fromkeys(_names(rest)))
