"""The C twin of the digest fast path (``_digestparams.c``) must give what its Python
reference (``digest._fast_params``) gives for every ASCII string: the same dict, in
the same order, or None for the same strings. Under ``make test``
(PBX_REQUIRE_COMPILED_CORE=1) the C module must be the one ``parse_credentials`` uses.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import digest
from tests.sip.c_twins import c_module, needs, under_make_test
from tests.sip.test_fast_paths import digest_params

_digestparams = c_module("_digestparams")
c_fast = _digestparams.fast_params if _digestparams is not None else None
needs_c = needs(_digestparams, "_digestparams")

SIPP = (
    'username="100001",realm="pbx",cnonce="6b8b4567",nc=00000001,qop=auth,'
    'uri="sip:127.0.0.1:5060",nonce="3q2+7w",response="47a5c2",algorithm=MD5'
)


def assert_same(rest: str) -> dict[str, str] | None:
    assert c_fast is not None, "make test runs the compiled core: run `make core`"
    expected = digest._fast_params(rest) if rest.isascii() else None
    got = c_fast(rest)
    assert got == expected, rest
    if got is not None and expected is not None:
        assert list(got) == list(expected)
    return got


@needs_c
@pytest.mark.parametrize(
    "rest",
    [
        SIPP,
        SIPP.replace(",", ", "),
        "",
        "a=b",
        "a=b,",
        "a=b, ",
        "a=b,,",
        "a=b,  c=d",
        "a=b ,c=d",
        'a="",b=""',
        'a="x\\"y"',
        'a="open',
        'a=x"y',
        "a=",
        "=b",
        "1a=b",
        "a-b_c=d=e",
        "A=1,a=2",  # the same name in two cases: repeated
        "Username=1,REALM=2,NoNcE=3",
        "averyveryverylongname=1,b=2",
        "a=b\tc",
        "a=é",
        "a=b\r\n",
    ],
)
def test_edges(rest: str) -> None:
    assert_same(rest)


@needs_c
def test_the_usual_names_are_read() -> None:
    assert assert_same(SIPP) == {
        "username": "100001", "realm": "pbx", "cnonce": "6b8b4567", "nc": "00000001",
        "qop": "auth", "uri": "sip:127.0.0.1:5060", "nonce": "3q2+7w", "response": "47a5c2",
        "algorithm": "MD5",
    }  # fmt: skip


@needs_c
@settings(max_examples=3000, deadline=None)
@given(st.one_of(digest_params(), st.text(alphabet='aB=", \\\t\r\nZ9_-é', max_size=24)))
def test_generated_strings(rest: str) -> None:
    assert_same(rest)


@needs_c
def test_every_byte_of_the_usual_value_replaced() -> None:
    for at in range(len(SIPP)):
        for probe in '", =\\\t\r\nA_-0é':
            assert_same(SIPP[:at] + probe + SIPP[at + 1 :])


@needs_c
def test_not_a_str_is_a_type_error() -> None:
    assert c_fast is not None
    with pytest.raises(TypeError):
        c_fast(b"a=b")


@under_make_test
def test_make_test_reads_with_the_c_module() -> None:
    assert c_fast is not None and digest.fast_params is c_fast
