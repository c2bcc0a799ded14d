"""The C twin of the fast lane's first step (``_headsplit.c``) must give what its
Python reference (``fastlane._split_register``) gives, for every input.

Both run on the same bytes and must return equal results, None for the same inputs,
raise the same SipError, and call ``canonical`` with the same names in the same
order: over the torture and phone corpora whole, byte by byte (every prefix), with
each byte replaced by the ones the reading turns on (CR, LF, colon, space, tab, the
whitespace ``str.strip`` removes, non-ASCII), and over generated messages. Under
``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C module must be the one in use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import fastlane
from pbx.sip.errors import SipError
from pbx.sip.parse import MAX_MESSAGE_SIZE, canonical_header, known_header_names
from tests.sip.c_twins import c_module, needs, under_make_test
from tests.sip.test_fastlane import SHARED, torture_messages

_headsplit = c_module("_headsplit")
c_split = _headsplit.split_register if _headsplit is not None else None
needs_c = needs(_headsplit, "_headsplit")

#: Bytes whose handling differs: line ends, the colon, folding, strip's whitespace
#: (VT, FF, 0x1C-0x1F), a byte strip keeps (0x1B), NUL, non-ASCII, an ordinary letter.
PROBES = b"\r\n: \t\x0b\x0c\x1c\x1f\x1b\x00\x80\xffA"

PLAIN = (
    b"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:40001;rport;branch=z9hG4bK-1-0\r\n"
    b"f: <sip:100001@127.0.0.1>;tag=1\r\n"
    b"To:\t <sip:100001@127.0.0.1> \x0b\r\n"
    b"Call-ID: 1-1234@127.0.0.1\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:100001@127.0.0.1:5060>\r\n"
    b"Expires:\r\n"
    b"X-Custom: a\r\n"
    b"x-custom: b\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def outcome(split: Callable[..., Any], data: bytes, max_size: int, known: dict[str, str]) -> Any:
    """(result or the SipError's status and reason, the names ``canonical`` was asked)."""
    asked: list[str] = []

    def canonical(raw: str) -> str:
        asked.append(raw)
        return canonical_header(raw)

    try:
        result: Any = split(data, max_size, dict(known), canonical)
    except SipError as exc:
        result = ("SipError", exc.status, exc.reason)
    return result, asked


def assert_same(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Any:
    """The C result, after checking that the reference gives the same."""
    assert c_split is not None, "make test runs the compiled core: run `make core`"
    # One snapshot of the memo for both, without X-Custom, so that ``canonical`` is
    # called and its calls compared (names it learns go to the real memo, not here).
    known = {k: v for k, v in known_header_names().items() if k.lower() != "x-custom"}
    expected = outcome(fastlane._split_register, data, max_size, known)
    got = outcome(c_split, data, max_size, known)
    assert got == expected, data
    if isinstance(got[0], tuple) and isinstance(got[0][-1], dict):
        # Same order of names in the dict too (the first occurrence's place).
        assert list(got[0][2]) == list(expected[0][2])
    return got[0]


def corpus() -> list[bytes]:
    records = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    phones = [r["raw"].encode("utf-8", "surrogateescape") for r in records]
    return [PLAIN, *phones, *(data for _, data in torture_messages())]


@needs_c
def test_the_plain_register_is_read() -> None:
    uri, fields, by_name = assert_same(PLAIN)
    assert uri == "sip:127.0.0.1:5060"
    assert fields[1] == ("from", "<sip:100001@127.0.0.1>;tag=1")
    assert fields[2] == ("to", "<sip:100001@127.0.0.1>")  # HT, space and VT stripped
    assert fields[6] == ("expires", "")
    assert by_name["x-custom"] == "b"  # the last of a repeated header
    assert len(by_name) == len(fields) - 1


@needs_c
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\n\r\n",  # no header: read, no fields
        b"REGISTER sip: SIP/2.0\r\n\r\n",  # an empty URI
        b"REGISTER sip:a\x7f SIP/2.0\r\nVia: x\r\n\r\n",
        b"REGISTER sips:a SIP/2.0\r\nVia: x\r\n\r\n",
        b"REGISTER SIP:a SIP/2.0\r\nVia: x\r\n\r\n",
        b"REGISTER sip:a SIP/2.0 \r\nVia: x\r\n\r\n",
        b"REGISTER sip:a  SIP/2.0\r\nVia: x\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia: x\r\n\r\nbody\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia: x\r\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia: x\r\n\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia x\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\n:x\r\n\r\n",  # an empty name: SipError from canonical
        b"REGISTER sip:a SIP/2.0\r\nV ia: x\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia: x\r\n y\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia:\r\n\r\n",
        b"REGISTER sip:a SIP/2.0\r\nVia:a:b:c\r\n\r\n",
    ],
)
def test_edges(data: bytes) -> None:
    assert_same(data)


@needs_c
def test_the_size_limit() -> None:
    assert assert_same(PLAIN, len(PLAIN)) is not None
    assert assert_same(PLAIN, len(PLAIN) - 1) is None


@needs_c
def test_corpora_whole_and_every_prefix() -> None:
    read = 0
    for data in corpus():
        read += assert_same(data) is not None
        for end in range(len(data)):
            assert_same(data[:end])
            if data[:end].endswith(b"\r\n"):
                assert_same(data[:end] + b"\r\n")  # cut at a line, then ended
    assert read >= 30  # the plain phones and torture messages are read, not refused


@needs_c
def test_every_byte_replaced_by_every_probe() -> None:
    for data in [PLAIN, *corpus()[1:8]]:
        for at in range(len(data) - 4):
            for probe in PROBES:
                assert_same(data[:at] + bytes([probe]) + data[at + 1 :])


LINE = st.text(alphabet=":; \t\x0b\x1cabVvTo-\x00\r\n\x80", max_size=12)


@needs_c
@settings(max_examples=400, deadline=None)
@given(st.lists(LINE, max_size=6), st.sampled_from(["sip:a", "sip:", "sips:a", "sip:a b"]))
def test_generated_messages(lines: list[str], uri: str) -> None:
    head = "\r\n".join([f"REGISTER {uri} SIP/2.0", *lines])
    assert_same(head.encode("utf-8", "surrogateescape") + b"\r\n\r\n")


@needs_c
def test_bad_arguments_are_type_errors() -> None:
    assert c_split is not None
    with pytest.raises(TypeError):
        c_split("text", 10, {}, canonical_header)
    with pytest.raises(TypeError):
        c_split(PLAIN, 10, [], canonical_header)
    with pytest.raises(TypeError):
        c_split(PLAIN, "10", {}, canonical_header)


@under_make_test
def test_make_test_reads_with_the_c_module() -> None:
    assert c_split is not None and fastlane.split_register is c_split
    assert Path(str(fastlane.__file__)).suffix == ".so"
