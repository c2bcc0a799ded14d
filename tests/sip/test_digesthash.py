"""The C twin of the MD5 digest response (``_digesthash.c``) must give what its Python
reference (``digest._expected_response``, hashlib's MD5) gives for every input it
accepts: generated str of every kind (surrogates as the parser keeps raw bytes),
lengths around every block boundary, with and without qop; and the wrapper
(``digest.expected_response``) what the reference gives for both algorithms.
Under ``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C module must be the one in use.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip import digest
from tests.sip.c_twins import c_module, needs, under_make_test

_digesthash = c_module("_digesthash")
needs_c = needs(_digesthash, "_digesthash")
texts = st.lists(
    st.characters(codec="utf-8") | st.sampled_from(["\udc80", "\udcff", ":", "é"]), max_size=90
).map("".join)


def c_response(*args: str | None) -> str:
    assert _digesthash is not None, "make test runs the compiled core: run `make core`"
    return str(_digesthash.response(*args))


@needs_c
@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["MD5", "md5", "SHA-256", "sha-256"]),
    texts,
    texts,
    texts,
    texts,
    st.one_of(st.none(), st.tuples(texts, texts)),
)
def test_c_agrees_with_the_reference(
    algorithm: str, ha1: str, method: str, uri: str, nonce: str, qop: tuple[str, str] | None
) -> None:
    nc, cnonce = qop if qop is not None else (None, None)
    q = "auth" if qop is not None else None
    expected = digest._expected_response(algorithm, ha1, method, uri, nonce, nc, cnonce, q)
    if algorithm == "MD5":
        assert c_response(algorithm, ha1, method, uri, nonce, nc, cnonce, q) == expected
    assert digest.expected_response(algorithm, ha1, method, uri, nonce, nc, cnonce, q) == expected


@needs_c
def test_every_length_around_the_blocks() -> None:
    # ha2 is H(method ":" uri): uri lengths 0..200 put the padding everywhere in a
    # block (55, 56 and 64 bytes are the edges), and the second hash follows.
    for n in range(200):
        uri = "u" * n
        ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
        want = hashlib.md5(f"h:n:00000001:c:auth:{ha2}".encode()).hexdigest()
        assert c_response("MD5", "h", "REGISTER", uri, "n", "00000001", "c", "auth") == want
        want = hashlib.md5(f"{uri}:n:{ha2}".encode()).hexdigest()
        assert c_response("MD5", uri, "REGISTER", uri, "n", None, None, None) == want


@needs_c
def test_rfc_2617_example() -> None:
    # RFC 2617 §3.5 (Mufasa), the response every digest implementation is checked by.
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    got = c_response(
        "MD5", ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001", "0a4f113b", "auth",
    )  # fmt: skip
    assert got == "6629fae49393a05397450978507c4ef1"


@needs_c
def test_what_it_refuses() -> None:
    assert _digesthash is not None
    with pytest.raises(ValueError):
        _digesthash.response("md5", "h", "M", "u", "n", None, None, None)  # not normalised
    with pytest.raises(ValueError):
        _digesthash.response("SHA-256", "h", "M", "u", "n", None, None, None)
    with pytest.raises(ValueError):
        _digesthash.response("MD5", "h", "M", "u", "n", "1", "c", "auth-int")
    with pytest.raises(ValueError):
        _digesthash.response("MD5", "h", "M", "u", "n", None, "c", "auth")
    with pytest.raises(TypeError):
        _digesthash.response("MD5", b"h", "M", "u", "n", None, None, None)
    with pytest.raises(TypeError):
        _digesthash.response("MD5")


def test_the_wrapper_keeps_the_references_errors() -> None:
    with pytest.raises(ValueError, match="unsupported digest algorithm 'MD5-sess'"):
        digest.expected_response("MD5-sess", "h", "M", "u", "n", "1", "c", "auth")
    with pytest.raises(ValueError, match="unsupported qop"):
        digest.expected_response("MD5", "h", "M", "u", "n", "1", "c", "auth-int")
    with pytest.raises(ValueError, match="needs nc and cnonce"):
        digest.expected_response("sha-256", "h", "M", "u", "n", None, "c", "auth")


@under_make_test
def test_make_test_uses_the_c_module() -> None:
    assert _digesthash is not None and digest._c_response is _digesthash.response
