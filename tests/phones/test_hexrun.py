"""The C twin of the MAC-shaped run check (``_hexrun.c``) must answer what its Python
reference (``identity._has_hex_run``, the regular expression) answers for every
string: the phone corpus's header values, generated strings over the alphabet that
matters, and edge cases. Under ``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C
module must be the one ``identify_mac`` uses.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.phones import identity
from tests.phones.test_identity import CORPUS, parse_headers
from tests.sip.c_twins import c_module, needs, under_make_test

_hexrun = c_module("_hexrun", "pbx.phones")
c_has_hex_run = _hexrun.has_hex_run if _hexrun is not None else None
needs_c = needs(_hexrun, "_hexrun")

#: Hex digits of both cases, the three separators, and characters next to them in
#: the code table (a range written one off would show), plus non-ASCII digits and
#: letters that a Unicode-aware class would accept.
_ALPHABET = "0123456789abcdefABCDEF:.-/@GgFf`{ \uff10\u0660\u00e9;="

EDGES = [
    ("", False),
    ("00112233445", False),  # eleven digits
    ("001122334455", True),
    ("00:11:22:33:44:55", True),
    ("00-11-22-33-44-55", True),
    ("0011.2233.4455", True),
    ("00::11:22:33:44:55", False),  # two separators in a row
    ("00:11:22:33:44:5", False),
    ("0:011:22:33:44:55", False),  # a separator inside a pair
    ("x0:011:22:33:44:55aa", True),  # "011:22:33:44:55aa" from the 2nd digit on
    (":00112233445", False),
    ("00112233445:5", False),
    ("0011223344:55", True),
    ("aabbccddeeff", True),
    ("AABBCCDDEEFF", True),
    ("aabbccddeefg", False),
    ("<sip:100001@127.0.0.1:20001;transport=UDP>", False),
    ("<sip:100001@127.0.0.1:20001;x=a00112233445>", True),
    ("\uff10\uff10112233445566", True),  # fullwidth zeros, then twelve ASCII digits
    ("\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10", False),
    ("é001122334455", True),
    ("\U0001f600" + "00:11:22:33:44:55" + "\U0001f600", True),  # 4-byte kind
]


def test_the_reference_is_the_regular_expression() -> None:
    for text, expected in EDGES:
        assert identity._has_hex_run(text) is expected, text


@needs_c
@pytest.mark.parametrize(("text", "expected"), EDGES)
def test_c_edges(text: str, expected: bool) -> None:
    assert c_has_hex_run is not None, "make test runs the compiled core: run `make core`"
    assert c_has_hex_run(text) is expected


@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40))
def test_c_agrees_with_the_reference(text: str) -> None:
    assert c_has_hex_run is not None
    assert c_has_hex_run(text) is identity._has_hex_run(text)


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_c_agrees_on_any_text(text: str) -> None:
    assert c_has_hex_run is not None
    assert c_has_hex_run(text) is identity._has_hex_run(text)


@needs_c
def test_c_agrees_over_the_corpus() -> None:
    assert c_has_hex_run is not None
    assert CORPUS.is_file(), f"shared corpus not found at {CORPUS.resolve()}"
    values = [
        value
        for record in json.loads(CORPUS.read_text(encoding="utf-8"))
        for _, value in parse_headers(record["raw"])
    ]
    assert len(values) > 200
    assert any(identity._has_hex_run(v) for v in values)
    assert not all(identity._has_hex_run(v) for v in values)
    for value in values:
        assert c_has_hex_run(value) is identity._has_hex_run(value), value
    with pytest.raises(TypeError):
        c_has_hex_run(b"001122334455")


@under_make_test
def test_make_test_uses_the_c_module() -> None:
    assert c_has_hex_run is not None and identity.has_hex_run is c_has_hex_run
