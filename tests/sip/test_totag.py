"""The C twin of the To tag (``_totag.c``) must give what its Python reference
(``response._to_tag``) gives for every three strings, ASCII or not. Under
``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C module must be the one in use.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import response
from tests.sip.c_twins import c_module, needs, under_make_test

_totag = c_module("_totag")
c_to_tag = _totag.to_tag if _totag is not None else None
needs_c = needs(_totag, "_totag")
SIPP = ("1-1234@127.0.0.1", "<sip:100001@127.0.0.1>;tag=1234SIPpTag001", "2 REGISTER")


def test_the_reference_is_a_fixed_function() -> None:
    # FNV-1a 64 of "1-1234@127.0.0.1|<sip:100001@127.0.0.1>;tag=1234SIPpTag001|2 REGISTER",
    # folded to 48 bits: pinned, so that a change to the derivation is seen.
    assert response._to_tag(*SIPP) == "9b55b149ca50"
    assert response._to_tag("", "", "") == "4c07b581a046"


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.text(), st.text(), st.text())
def test_c_agrees_with_the_reference(call_id: str, from_: str, cseq: str) -> None:
    assert c_to_tag is not None, "make test runs the compiled core: run `make core`"
    tag = c_to_tag(call_id, from_, cseq)
    assert tag == response._to_tag(call_id, from_, cseq)
    assert len(tag) == 12 and int(tag, 16) >= 0


@needs_c
def test_the_usual_request_and_surrogates() -> None:
    assert c_to_tag is not None
    for args in (SIPP, ("", "", ""), ("\udcff", "é", "1 REGISTER"), ("a|b", "c", "d")):
        assert c_to_tag(*args) == response._to_tag(*args)
    assert c_to_tag("a|b", "c", "d") == c_to_tag("a", "b|c", "d")  # the seed is joined
    with pytest.raises(TypeError):
        c_to_tag(b"x", "", "")


@under_make_test
def test_make_test_uses_the_c_module() -> None:
    assert c_to_tag is not None and response.to_tag is c_to_tag
