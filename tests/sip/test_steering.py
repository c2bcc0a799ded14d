"""Steering reads the extension exactly as the registrar does: over the torture and
phone corpora and thousands of generated REGISTER variants, ``register_extension``
is the extension ``read_register`` keys the bindings by (or None when the general
path refuses the request, which then carries no extension state). Whole and byte
exact, as the workers receive them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from pbx.sip.message import Request
from pbx.sip.parse import ParseError, parse_message
from pbx.sip.registrar import read_register
from pbx.sip.steering import owner, owner_hash, register_extension
from tests.sip.test_fastlane import (
    LINE_ENDS,
    SHARED,
    VARIANT_CHOICES,
    torture_messages,
    variant,
)


def registrar_extension(data: bytes) -> str | None:
    """The extension the registrar would key this REGISTER's bindings by."""
    try:
        message = parse_message(data)
    except ParseError:
        return None
    if not isinstance(message, Request) or message.method != "REGISTER":
        return None
    try:
        return read_register(message).extension
    except Exception:
        return None


def assert_same(data: bytes) -> None:
    expected = registrar_extension(data)
    if expected is not None:
        assert register_extension(data) == expected


@pytest.mark.parametrize(("name", "data"), torture_messages(), ids=lambda v: str(v)[:40])
def test_torture_messages(name: str, data: bytes) -> None:
    assert_same(data)


def test_phone_corpus() -> None:
    corpus = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    read = 0
    for record in corpus:
        raw = record["raw"].encode("utf-8", "surrogateescape")
        assert_same(raw)
        read += register_extension(raw) is not None
    assert read >= len(corpus) // 2  # the corpus is REGISTERs: most must be read


@settings(max_examples=1000, deadline=None)
@given(VARIANT_CHOICES, LINE_ENDS)
def test_generated_variants(choices: dict[str, int], eol: str) -> None:
    assert_same(variant(choices, eol))


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("To: <sip:1001@pbx>", "1001"),
        ("t: <sip:1001@pbx>", "1001"),
        ("TO :  <sip:1001@pbx>;x=y", "1001"),
        ('To: "Desk" <sips:1001@pbx:5061>', "1001"),
        ("To: sip:%31001@pbx", "1001"),  # escaped: read by the general parser
        ("To: <sip:pbx>", None),  # no user: the registrar refuses it
    ],
)
def test_to_shapes(to: str, expected: str | None) -> None:
    data = (
        "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        f"From: <sip:1001@pbx>;tag=1\r\n{to}\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    assert register_extension(data) == expected
    assert_same(data)


def test_other_methods_and_garbage_are_not_steered() -> None:
    assert register_extension(b"OPTIONS sip:pbx SIP/2.0\r\nTo: <sip:1001@pbx>\r\n\r\n") is None
    assert register_extension(b"REGISTER \xff\xfe") is None


def test_owner_is_stable_and_spread() -> None:
    # Pinned: every worker process must compute the same owner, so it cannot be
    # Python's hash() (salted per interpreter); the kernel's filter computes the same
    # multiply-add (tests/transport/test_kernel_steering.py).
    assert owner_hash("1000") == 1507423
    assert [owner(str(n), 2) for n in range(1000, 1008)] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert [owner(str(n), 3) for n in range(1000, 1008)] == [1, 2, 0, 1, 2, 0, 1, 2]
    counts = [0, 0, 0]
    for n in range(100000, 110000):
        counts[owner(str(n), 3)] += 1
    assert min(counts) > 3000
