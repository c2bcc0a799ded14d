"""The C twin of the steering's To read (``_shapes.register_to_user``) must give what
its Python reference (``steering._plain_to_user``) gives for every datagram whose
first To value is ASCII, and None for the others (the general parser then reads
them, which ``test_steering.py`` checks is the registrar's own answer). Checked over
the torture and phone corpora, generated REGISTER variants, generated To values and
arbitrary bytes. Under ``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C twin must
be the one in use.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import steering
from tests.sip.c_twins import c_module, needs, under_make_test
from tests.sip.test_fast_paths import name_addrs
from tests.sip.test_fastlane import LINE_ENDS, SHARED, VARIANT_CHOICES, torture_messages, variant

_shapes = c_module("_shapes")
needs_c = needs(_shapes, "_shapes")


def assert_twin(data: bytes) -> None:
    assert _shapes is not None, "make test runs the compiled core: run `make core`"
    got = _shapes.register_to_user(data)
    expected = steering._plain_to_user(data)
    m = steering._TO_RE.search(data)  # the first To line, as the reference finds it
    if m is not None and not m.group(1).isascii():
        assert got is None, data
    else:
        assert got == expected, data


def request(to_line: bytes, eol: bytes = b"\r\n") -> bytes:
    return eol.join(
        [
            b"REGISTER sip:pbx SIP/2.0",
            b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
            b"From: <sip:1001@pbx>;tag=1",
            to_line,
            b"Call-ID: c",
            b"CSeq: 1 REGISTER",
            b"",
            b"",
        ]
    )


@needs_c
@pytest.mark.parametrize(
    ("line", "user"),
    [
        (b"To: <sip:1001@pbx>", "1001"),
        (b"t: <sip:1001@pbx>", "1001"),
        (b"tO \t:\t <sip:1001@pbx>;x=y \x0b", "1001"),
        (b'To: "Desk" <sips:1001@pbx:5061>', "1001"),
        (b"To: <sip:1001@pbx:0>", None),  # port out of range
        (b"To: <sip:1001@pbx:65536>", None),
        (b"To: <sip:pbx>", None),  # no user
        (b"To: sip:1001@pbx", None),  # no angle brackets: not the plain shape
        (b"Topic: <sip:9@pbx>\r\nTo: <sip:1001@pbx>", "1001"),  # not a To line
        (b'To: "J\xc3\xb6rg" <sip:1001@pbx>', None),  # not ASCII: the general parser
    ],
)
def test_the_usual_shapes(line: bytes, user: str | None) -> None:
    assert _shapes is not None
    assert _shapes.register_to_user(request(line)) == user
    assert_twin(request(line))
    assert_twin(request(line, b"\n"))


@needs_c
def test_no_to_and_bad_arguments() -> None:
    assert _shapes is not None
    assert _shapes.register_to_user(b"REGISTER sip:pbx SIP/2.0\r\n\r\n") is None
    assert _shapes.register_to_user(b"") is None
    assert _shapes.register_to_user(b"\nto") is None
    assert _shapes.register_to_user(b"\nto:") is None  # an empty value is no name-addr
    with pytest.raises(TypeError):
        _shapes.register_to_user("REGISTER")


@needs_c
@pytest.mark.parametrize(("name", "data"), torture_messages(), ids=lambda v: str(v)[:40])
def test_torture_messages(name: str, data: bytes) -> None:
    assert_twin(data)


@needs_c
def test_phone_corpus() -> None:
    corpus = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    found = 0
    for record in corpus:
        raw = record["raw"].encode("utf-8", "surrogateescape")
        assert_twin(raw)
        found += _shapes is not None and _shapes.register_to_user(raw) is not None
    assert found >= len(corpus) // 2


@needs_c
@settings(max_examples=1000, deadline=None)
@given(VARIANT_CHOICES, LINE_ENDS)
def test_generated_variants(choices: dict[str, int], eol: str) -> None:
    assert_twin(variant(choices, eol))


@needs_c
@settings(max_examples=2000, deadline=None)
@given(name_addrs(), st.sampled_from([b"To", b"t", b"TO", b"tO ", b"To\t"]))
def test_generated_to_values(text: str, name: bytes) -> None:
    assert_twin(request(name + b": " + text.encode("utf-8", "surrogateescape")))


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=40))
def test_arbitrary_bytes(head: bytes, tail: bytes) -> None:
    assert_twin(head)
    assert_twin(b"REGISTER x\r\nTo:" + head + b"\r\n" + tail)


@under_make_test
def test_make_test_uses_the_c_twin() -> None:
    assert _shapes is not None and steering.plain_to_user is _shapes.register_to_user
