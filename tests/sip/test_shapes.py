"""The C twins of two fast-lane patterns (``_shapes.c``) must give what their Python
references give for every str: ``common_via`` the groups of ``_COMMON_VIA_RE`` (or
None), ``plain_name_addr`` what ``_is_plain_name_addr`` says. Checked over the
torture corpus's values, generated values, and every character of the usual ones
replaced by the characters the patterns turn on. Under ``make test``
(PBX_REQUIRE_COMPILED_CORE=1) the C module must be the one in use.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import fastlane, grammar
from tests.sip.c_twins import c_module, needs, under_make_test
from tests.sip.test_fast_paths import name_addrs, pieces, torture_values, vias

_shapes = c_module("_shapes")
needs_c = needs(_shapes, "_shapes")

VIAS = [
    "SIP/2.0/UDP 127.0.0.1:40001;rport;branch=z9hG4bK-1234-1-0",
    "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKab.c!d%e*f_g+h`i'j~k-;rport",
    "SIP/2.0/UDP phone-1.example.com:5060;branch=z9hG4bK776asdhds",
]
NAME_ADDRS = [
    "<sip:100001@127.0.0.1>;tag=1234SIPpTag001",
    '"Alice Smith" <sips:a.b-c_d~e+f@host.example:65535;transport=tls;lr>;tag=x;q=1',
    "<sip:h>",
]
#: Characters the patterns turn on, and a few they do not allow.
PROBES = ':;=@<>" -.\\/0aZ_~+!é\x00'


def assert_via(via: str) -> None:
    assert _shapes is not None, "make test runs the compiled core: run `make core`"
    assert _shapes.common_via(via) == fastlane._common_via(via), via


def assert_name_addr(text: str) -> None:
    assert _shapes is not None, "make test runs the compiled core: run `make core`"
    assert _shapes.plain_name_addr(text) is grammar._is_plain_name_addr(text), text


@needs_c
def test_the_usual_values() -> None:
    assert _shapes is not None
    assert _shapes.common_via(VIAS[0]) == (
        "127.0.0.1", "40001", ";rport", "z9hG4bK-1234-1-0", None,
    )  # fmt: skip
    assert _shapes.common_via(VIAS[1]) == (
        "10.0.0.9", None, None, "z9hG4bKab.c!d%e*f_g+h`i'j~k-", ";rport",
    )  # fmt: skip
    assert all(_shapes.plain_name_addr(text) for text in NAME_ADDRS)
    for value in VIAS:
        assert_via(value)
    for value in NAME_ADDRS:
        assert_name_addr(value)


@needs_c
@pytest.mark.parametrize(
    "via",
    [
        "",
        "SIP/2.0/UDP ",
        "SIP/2.0/UDP h;branch=z9hG4bK",
        "SIP/2.0/UDP h;branch=z9hG4bKx;rport;rport",
        "SIP/2.0/UDP h;rport;rport;branch=z9hG4bKx",
        "SIP/2.0/UDP h;rport=1;branch=z9hG4bKx",
        "SIP/2.0/UDP h:;branch=z9hG4bKx",
        "SIP/2.0/UDP h:123456;branch=z9hG4bKx",
        "SIP/2.0/UDP h:99999;branch=z9hG4bKx",
        "SIP/2.0/UDP h-;branch=z9hG4bKx",
        "SIP/2.0/UDP h.;branch=z9hG4bKx",
        "SIP/2.0/UDP -h;branch=z9hG4bKx",
        "SIP/2.0/UDP h;branch=z9hG4bKx;rportx",
        "SIP/2.0/UDP h;branch=z9hG4bKx;received=1.2.3.4",
        "SIP/2.0/UDP h;branch=z9hG4bKx ",
        "SIP/2.0/udp h;branch=z9hG4bKx",
        "SIP/2.0/UDP h;Branch=z9hG4bKx",
    ],
)
def test_via_edges(via: str) -> None:
    assert_via(via)


@needs_c
@pytest.mark.parametrize(
    "text",
    [
        "",
        "<sip:>",
        "<sip:@h>",
        "<sip:u@>",
        "<sip:h:0>",
        "<sip:h:65536>",
        "<sip:h:123456>",
        "<sip:h:>",
        "<sip:h;>",
        "<sip:h;x=>",
        "<sip:h;=1>",
        "<sip:h>;",
        "<sip:h>;x=",
        "<sip:h> ",
        '"a"<sip:h>',
        '"a"  <sip:h>',
        '"a\\"b" <sip:h>',
        '"open <sip:h>',
        "<sip:a@b@h>",
        "<sip:h-:5>",
        "<SIP:h>",
        "<sip:é@h>",
    ],
)
def test_name_addr_edges(text: str) -> None:
    assert_name_addr(text)


@needs_c
def test_every_character_of_the_usual_values_replaced() -> None:
    for value in VIAS:
        for i in range(len(value)):
            for probe in PROBES:
                assert_via(value[:i] + probe + value[i + 1 :])
                assert_via(value[:i] + probe + value[i:])
    for value in NAME_ADDRS:
        for i in range(len(value)):
            for probe in PROBES:
                assert_name_addr(value[:i] + probe + value[i + 1 :])
                assert_name_addr(value[:i] + probe + value[i:])


@needs_c
def test_torture_values() -> None:
    for value in torture_values(("via", "v")):
        assert_via(value)
    for value in torture_values(("from", "to", "contact", "f", "t", "m")):
        assert_name_addr(value)


@needs_c
@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        vias(),
        st.builds(
            "SIP/2.0/UDP {}{}{}".format,
            pieces(["h", "127.0.0.1", "a-b.c", "a-", ""]),
            pieces(["", ":5060", ":0", ":123456", ":"]),
            st.lists(
                pieces([";rport", ";branch=z9hG4bKx", ";branch=z9hG4bK", ";x"]), max_size=3
            ).map("".join),
        ),
        st.text(alphabet="SIP/2.0UD h:;branch=z9G4bKrpot-", max_size=40),
    )
)
def test_generated_vias(via: str) -> None:
    assert_via(via)


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.one_of(name_addrs(), st.text(alphabet='<>sip:@h;=" a-.\\1', max_size=24)))
def test_generated_name_addrs(text: str) -> None:
    assert_name_addr(text)


@under_make_test
def test_make_test_uses_the_c_module() -> None:
    assert _shapes is not None
    assert fastlane.common_via is _shapes.common_via
    assert grammar.is_plain_name_addr is _shapes.plain_name_addr
