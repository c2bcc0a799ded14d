"""Digest authentication: RFC vectors, parsing tables, the nonce life cycle, replay.

Expected responses are either published RFC vectors or computed here with hashlib
directly, independently of the code under test. Time is a number we pass in: nothing
sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest

from pbx.sip.digest import (
    ALGORITHMS,
    Credentials,
    NonceManager,
    NonceStatus,
    UnsupportedSchemeError,
    challenge_header,
    challenge_template,
    expected_response,
    ha1,
    parse_credentials,
    unknown_user_ha1,
    verify,
)
from pbx.sip.errors import SipError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SECRET = b"0123456789abcdef-test-secret"


def _h(algorithm: str, text: str) -> str:
    """The test's own hash, written from the RFC, not imported from the module."""
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return hashlib.new(name, text.encode()).hexdigest()


def _client_response(
    algorithm: str,
    user: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """What a phone computes (RFC 7616 §3.4.1 with qop=auth; RFC 2069 without)."""
    a1 = _h(algorithm, f"{user}:{realm}:{password}")
    a2 = _h(algorithm, f"{method}:{uri}")
    if nc is None:
        return _h(algorithm, f"{a1}:{nonce}:{a2}")
    return _h(algorithm, f"{a1}:{nonce}:{nc}:{cnonce}:auth:{a2}")


# --------------------------------------------------------------------- known answers


@dataclass(frozen=True)
class Vector:
    name: str
    header: str
    password: str
    method: str
    response: str


VECTORS = [
    Vector(
        "RFC 2617 §3.5 (MD5, qop=auth)",
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
        'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
        "Circle Of Life",
        "GET",
        "6629fae49393a05397450978507c4ef1",
    ),
    Vector(
        "RFC 7616 §3.9.1 (SHA-256)",
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
        "Circle of Life",
        "GET",
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    ),
    Vector(
        "RFC 7616 §3.9.1 (MD5)",
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="8ca523f5e9506fed4657c9700eebdbec", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
        "Circle of Life",
        "GET",
        "8ca523f5e9506fed4657c9700eebdbec",
    ),
]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_rfc_vectors(vector: Vector) -> None:
    creds = parse_credentials(vector.header)
    h1 = ha1(creds.algorithm, creds.username, creds.realm, vector.password)
    assert (
        expected_response(
            creds.algorithm,
            h1,
            vector.method,
            creds.uri,
            creds.nonce,
            creds.nc,
            creds.cnonce,
            creds.qop,
        )
        == vector.response
    )
    assert verify(creds, h1, vector.method)
    wrong = ha1(creds.algorithm, creds.username, creds.realm, vector.password + "x")
    assert not verify(creds, wrong, vector.method)
    assert not verify(creds, h1, "POST")


def test_sipp_style_md5_register() -> None:
    """sipp's [authentication username=1000 password=secret1000] against our challenge."""
    nonce = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    cnonce = "6b8b4567"
    uri = "sip:127.0.0.1"
    response = _client_response(
        "MD5", "1000", "pbx", "secret1000", "REGISTER", uri, nonce, "00000001", cnonce
    )
    header = (
        f'Digest username="1000",realm="pbx",cnonce="{cnonce}",nc=00000001,qop=auth,'
        f'uri="{uri}",nonce="{nonce}",response="{response}",algorithm=MD5'
    )
    creds = parse_credentials(header)
    assert creds.nonce_count == 1
    assert verify(creds, ha1("MD5", "1000", "pbx", "secret1000"), "REGISTER")
    assert not verify(creds, ha1("MD5", "1000", "pbx", "secret1001"), "REGISTER")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rfc2069_form_without_qop(algorithm: str) -> None:
    nonce = "4914d427"
    uri = "sip:192.168.1.10"
    response = _client_response(algorithm, "100", "asterisk", "pw", "REGISTER", uri, nonce)
    creds = parse_credentials(
        f'Digest username="100",realm="asterisk",uri="{uri}",response="{response}",'
        f'nonce="{nonce}",algorithm={algorithm}'
    )
    assert creds.qop is None
    assert creds.nonce_count is None
    assert verify(creds, ha1(algorithm, "100", "asterisk", "pw"), "REGISTER")
    assert not verify(creds, ha1(algorithm, "100", "asterisk", "pw2"), "REGISTER")


def test_ha1_values_and_algorithm_names() -> None:
    assert ha1("MD5", "1000", "pbx", "secret1000") == _h("MD5", "1000:pbx:secret1000")
    assert ha1("sha-256", "1000", "pbx", "secret1000") == _h("SHA-256", "1000:pbx:secret1000")
    assert ha1("md5", "a", "b", "c") == ha1("MD5", "a", "b", "c")
    for bad in ("MD5-sess", "SHA-512-256", "SHA-256-sess", ""):
        with pytest.raises(ValueError):
            ha1(bad, "a", "b", "c")


def test_uppercase_response_accepted_and_garbage_refused() -> None:
    nonce, uri = "abc", "sip:pbx"
    good = _client_response("MD5", "u", "pbx", "pw", "REGISTER", uri, nonce, "00000001", "c")
    h1 = ha1("MD5", "u", "pbx", "pw")
    for response, ok in (
        (good, True),
        (good.upper(), True),
        (good[:-1], False),
        ("é" * 32, False),
        ("", False),
    ):
        creds = Credentials("u", "pbx", nonce, uri, response, "MD5", "c", "auth", "00000001")
        assert verify(creds, h1, "REGISTER") is ok, response


@pytest.mark.parametrize(
    ("algorithm", "qop"),
    [
        ("MD5-sess", "auth"),
        ("SHA-256-sess", "auth"),
        ("SHA-512-256", "auth"),
        ("MD5", "auth-int"),
        ("MD5", "bogus"),
    ],
)
def test_unsupported_algorithm_or_qop_fails_verification(algorithm: str, qop: str) -> None:
    # A response that would be right if the variant were ignored must still fail.
    response = _client_response("MD5", "u", "r", "pw", "REGISTER", "sip:r", "n", "00000001", "c")
    creds = Credentials("u", "r", "n", "sip:r", response, algorithm, "c", qop, "00000001")
    assert not verify(creds, ha1("MD5", "u", "r", "pw"), "REGISTER")
    assert verify(
        Credentials("u", "r", "n", "sip:r", response, "MD5", "c", "auth", "00000001"),
        ha1("MD5", "u", "r", "pw"),
        "REGISTER",
    )


# ---------------------------------------------------------------------------- parsing

BASE = 'username="1000", realm="pbx", nonce="n1", uri="sip:pbx", response="abcd"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Digest {BASE}", {"username": "1000", "algorithm": "MD5", "qop": None}),
        (f"digest {BASE}", {"username": "1000"}),
        (f"DIGEST\t {BASE}", {"username": "1000"}),
        # no spaces at all after commas, and lots of them around '=' and ','
        (
            'Digest username="1000",realm="pbx",nonce="n1",uri="sip:pbx",response="abcd"',
            {"realm": "pbx"},
        ),
        (
            'Digest  username = "1000" ,  realm="pbx" ,nonce= "n1",uri ="sip:pbx" , '
            'response="abcd"  ',
            {"nonce": "n1", "uri": "sip:pbx"},
        ),
        # folded header (LWS with CRLF) as a parser that did not unfold would pass it
        (
            'Digest username="1000",\r\n realm="pbx", nonce="n1", uri="sip:pbx",'
            '\r\n\tresponse="abcd"',
            {"realm": "pbx", "response": "abcd"},
        ),
        # parameter names are case-insensitive; algorithm and qop are normalised
        (
            'Digest USERNAME="1000", Realm="pbx", NONCE="n1", Uri="sip:pbx", '
            'Response="abcd", Algorithm=sha-256, QOP=Auth, CNonce="c", NC=0000000a',
            {"algorithm": "SHA-256", "qop": "auth", "cnonce": "c", "nc": "0000000a"},
        ),
        # backslash escapes in quoted strings; commas and '=' inside quotes
        (
            r'Digest username="a\"b\\c", realm="p,b=x", nonce="n1", uri="sip:pbx", '
            r'response="abcd"',
            {"username": 'a"b\\c', "realm": "p,b=x"},
        ),
        # unquoted values, including a sloppy unquoted URI
        (
            "Digest username=1000, realm=pbx, nonce=n1, uri=sip:pbx;transport=udp, response=abcd",
            {"username": "1000", "uri": "sip:pbx;transport=udp"},
        ),
        # quoted qop (some phones), empty list elements and a trailing comma
        (
            f'Digest {BASE},, qop="auth", cnonce="x", nc=00000002,',
            {"qop": "auth", "nc": "00000002"},
        ),
        # empty quoted values are values
        (
            'Digest username="", realm="", nonce="n1", uri="sip:pbx", response="abcd"',
            {"username": "", "realm": ""},
        ),
        # unknown parameters are ignored; opaque is kept
        (f'Digest {BASE}, opaque="op", userhash=false, foo="bar"', {"opaque": "op"}),
        # non-ASCII user names survive
        (
            'Digest username="jürgen", realm="pbx", nonce="n1", uri="sip:pbx", response="abcd"',
            {"username": "jürgen"},
        ),
    ],
)
def test_parse_accepts(header: str, expected: dict[str, str | None]) -> None:
    creds = parse_credentials(header)
    for name, value in expected.items():
        assert getattr(creds, name) == value, name


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ('"Digest" username="1000"', "no scheme"),
        ("Digest", "missing username"),
        (f'Digest {BASE}, username="1001"', "duplicate username"),
        (f'Digest {BASE}, USERNAME="1000"', "duplicate username"),
        (f'Digest {BASE}, nc=00000001, NC=00000001, qop=auth, cnonce="c"', "duplicate nc"),
        ('Digest realm="pbx", nonce="n1", uri="sip:pbx", response="abcd"', "missing username"),
        ('Digest username="1", nonce="n1", uri="sip:pbx", response="abcd"', "missing realm"),
        ('Digest username="1", realm="pbx", uri="sip:pbx", response="abcd"', "missing nonce"),
        ('Digest username="1", realm="pbx", nonce="n1", response="abcd"', "missing uri"),
        ('Digest username="1", realm="pbx", nonce="n1", uri="sip:pbx"', "missing response"),
        (f"Digest {BASE}, qop=auth, nc=00000001", "qop without cnonce"),
        (f'Digest {BASE}, qop=auth, cnonce="c"', "qop without nc"),
        (f'Digest {BASE}, qop=auth, cnonce="c", nc=1', "nc is not 8 hex digits"),
        (f'Digest {BASE}, qop=auth, cnonce="c", nc=0000000g', "nc is not 8 hex digits"),
        (f'Digest {BASE}, qop=auth, cnonce="c", nc=000000001', "nc is not 8 hex digits"),
        ('Digest username="1000', "syntax"),  # unterminated quote
        ('Digest username="1000" realm="pbx"', "syntax"),  # missing comma
        ("Digest username", "syntax"),
        ("Digest =x", "syntax"),
        ('Digest username=a"b', "syntax"),
        ('Digest username="a\\\r\nb"', "syntax"),  # CR/LF may not be escaped
        ('Digest,username="1000"', "no scheme"),
        # the damaged Grandstream header from the corpus, trimmed
        (
            'Digest username="7777", realm="r", nonce="n", uri="sip:r", response="0ef4, '
            "algorithm=MD5",
            "syntax",
        ),
    ],
)
def test_parse_rejects_with_400(header: str, reason: str) -> None:
    with pytest.raises(SipError) as info:
        parse_credentials(header)
    assert info.value.status == 400
    assert info.value.reason.endswith(reason), info.value.reason
    assert not isinstance(info.value, UnsupportedSchemeError)


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "NoOneKnowsThisScheme opaque-data=here", "Bearer abc", "Negotiate"],
)
def test_other_schemes_earn_a_challenge_not_a_400(header: str) -> None:
    with pytest.raises(UnsupportedSchemeError) as info:
        parse_credentials(header)
    assert info.value.status == 401


def test_rfc4475_regaut01_unknown_scheme() -> None:
    raw = (SHARED / "sip-torture" / "rfc4475" / "regaut01.dat").read_bytes().decode()
    (value,) = [
        line.split(":", 1)[1]
        for line in raw.splitlines()
        if line.lower().startswith("authorization:")
    ]
    with pytest.raises(UnsupportedSchemeError):
        parse_credentials(value.strip())


def _corpus_authorizations() -> list[tuple[str, str]]:
    records = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    found = []
    for record in records:
        unfolded = re.sub(r"\r\n[ \t]+", " ", record["raw"])
        for line in unfolded.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() in ("authorization", "proxy-authorization"):
                found.append((record["id"], value.strip()))
    return found


def test_real_phone_headers_from_corpus() -> None:
    """Real Authorization values: each parses or is refused with a 400, nothing else."""
    outcomes: dict[str, str | Credentials] = {}
    for record_id, value in _corpus_authorizations():
        try:
            outcomes[record_id] = parse_credentials(value)
        except SipError as error:
            assert error.status == 400, record_id
            outcomes[record_id] = error.reason
    assert len(outcomes) >= 5
    polycom = outcomes["polycom-vvx350-babblevoice"]
    assert isinstance(polycom, Credentials)
    assert (polycom.username, polycom.qop, polycom.nonce_count) == ("1013", "auth", 1)
    assert polycom.uri == "sip:pierrefouquet.babblevoice.com;transport=udp"
    # The header whose closing quote was lost in publication is malformed.
    assert outcomes["grandstream-ht502-kamailio"] == "Bad Authorization: syntax"
    cisco = outcomes["cisco-7960g-sipbrute"]
    assert isinstance(cisco, Credentials)
    assert (cisco.username, cisco.nonce, cisco.qop) == ("100", "4914d427", None)


def test_credentials_is_frozen_and_slotted() -> None:
    creds = parse_credentials(f"Digest {BASE}")
    with pytest.raises(FrozenInstanceError):
        creds.username = "x"  # type: ignore[misc]
    assert not hasattr(creds, "__dict__")


# ------------------------------------------------------------------------- challenges


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("pbx", "MD5", "N", False, None),
            'Digest realm="pbx", nonce="N", algorithm=MD5, qop="auth"',
        ),
        (
            ("pbx", "sha-256", "N", True, None),
            'Digest realm="pbx", nonce="N", algorithm=SHA-256, qop="auth", stale=true',
        ),
        (
            ("pbx", "MD5", "N", False, "op"),
            'Digest realm="pbx", nonce="N", opaque="op", algorithm=MD5, qop="auth"',
        ),
        (
            ('a"b\\c', "MD5", "N", False, None),
            'Digest realm="a\\"b\\\\c", nonce="N", algorithm=MD5, qop="auth"',
        ),
    ],
)
def test_challenge_header(args: tuple[str, str, str, bool, str | None], expected: str) -> None:
    assert challenge_header(*args) == expected


def test_challenge_header_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        challenge_header("pbx\r\nX-Evil: 1", "MD5", "N", False)
    with pytest.raises(ValueError):
        challenge_header("pbx", "MD5-sess", "N", False)


def test_challenge_round_trips_through_the_parser() -> None:
    """A client that echoes our realm/nonce/opaque gets them back unchanged."""
    realm, nonce, opaque = 'we "quote", \\ too', "N0nce", "op,aque"
    header = challenge_header(realm, "MD5", nonce, True, opaque)
    params = header.removeprefix("Digest ")
    creds = parse_credentials(
        f'Digest username="u", uri="sip:x", response="r", cnonce="c", nc=00000001, {params}'
    )
    assert (creds.realm, creds.nonce, creds.opaque, creds.qop) == (realm, nonce, opaque, "auth")


@pytest.mark.parametrize("realm", ["pbx", 'a"b\\c', 'nonce="NNNN" realm', "NNNNNNNN"])
@pytest.mark.parametrize("algorithm", ["MD5", "sha-256"])
def test_challenge_template_is_the_header_around_the_nonce(realm: str, algorithm: str) -> None:
    before, after = challenge_template(realm, algorithm)
    for nonce in (NonceManager(SECRET).issue(float(n)) for n in range(5)):
        assert before + nonce + after == challenge_header(realm, algorithm, nonce, False)


def test_algorithms_strongest_first() -> None:
    assert ALGORITHMS == ("SHA-256", "MD5")


# ----------------------------------------------------------------------------- nonces


def test_nonce_lifecycle() -> None:
    nonces = NonceManager(SECRET, ttl=300.0)
    nonce = nonces.issue(0.0)
    steps: list[tuple[str, int | None, float, NonceStatus, bool]] = [
        # (what, nc, now, check says, accept afterwards)
        ("fresh", 1, 10.0, NonceStatus.VALID, False),
        ("check records nothing", 1, 11.0, NonceStatus.VALID, True),
        ("nc 1 again", 1, 12.0, NonceStatus.REPLAY, False),
        ("nc 0", 0, 12.0, NonceStatus.REPLAY, False),
        ("nc 2", 2, 13.0, NonceStatus.VALID, True),
        ("nc 2 again", 2, 14.0, NonceStatus.REPLAY, False),
        ("a jump is fine", 7, 15.0, NonceStatus.VALID, True),
        ("going back is not", 5, 16.0, NonceStatus.REPLAY, False),
        ("no-qop use of a counted nonce", None, 16.0, NonceStatus.REPLAY, False),
        ("last moment", 8, 300.0, NonceStatus.VALID, False),
        ("expired", 8, 301.0, NonceStatus.STALE, False),
    ]
    for what, nc, now, status, accept in steps:
        assert nonces.check(nonce, nc, now) is status, what
        if accept:
            assert nonces.accept(nonce, nc), what


def test_no_qop_nonce_is_single_use() -> None:
    nonces = NonceManager(SECRET)
    nonce = nonces.issue(0.0)
    assert nonces.check(nonce, None, 1.0) is NonceStatus.VALID
    assert nonces.accept(nonce, None)
    assert nonces.check(nonce, None, 2.0) is NonceStatus.REPLAY
    assert nonces.check(nonce, 1, 2.0) is NonceStatus.REPLAY
    assert not nonces.accept(nonce, None)
    assert not nonces.accept(nonce, 0xFFFFFFFF)


def test_accept_refuses_what_check_would_refuse() -> None:
    nonces = NonceManager(SECRET)
    nonce = nonces.issue(0.0)
    assert nonces.accept(nonce, 3)
    assert not nonces.accept(nonce, 3)
    assert not nonces.accept(nonce, 2)
    assert not nonces.accept(nonce, None)
    assert not nonces.accept("not-a-nonce", 1)
    assert nonces.accept(nonce, 4)


def test_nonces_are_url_safe_base64_read_back_whole() -> None:
    # Every nonce is the URL-safe alphabet (no quote, no '+' or '/' to escape), and the
    # manager reads back the ones that use '-' and '_' too (the encoding is by hand).
    nonces = NonceManager(SECRET)
    issued = [nonces.issue(float(i)) for i in range(200)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{48}", n) for n in issued)
    assert any("-" in n for n in issued) and any("_" in n for n in issued)
    for n in issued:
        assert nonces.check(n, 1, 250.0) is NonceStatus.VALID, n


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_forged_and_garbled_nonces_are_unknown() -> None:
    nonces = NonceManager(SECRET)
    nonce = nonces.issue(0.0)
    other = NonceManager(b"another secret, also 16+ bytes").issue(0.0)
    candidates = [
        other,  # well formed, wrong key
        _flip(nonce, 0),  # issue time changed
        _flip(nonce, 20),  # random part changed
        _flip(nonce, len(nonce) - 1),  # tag changed
        nonce[:-1],
        nonce + "A",
        nonce.replace(nonce[5], "+", 1),  # not URL-safe alphabet
        "",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "é" * len(nonce),
        "A" * len(nonce),
    ]
    for candidate in candidates:
        assert candidate != nonce
        assert nonces.check(candidate, 1, 1.0) is NonceStatus.UNKNOWN, candidate
        assert not nonces.accept(candidate, 1)
    assert nonces.check(nonce, 1, 1.0) is NonceStatus.VALID


@pytest.mark.parametrize("secret", [SECRET, b"a secret longer than BLAKE2s's 32-byte key" * 2])
def test_the_nonce_tag_is_keyed_blake2s_of_the_domain_and_body(secret: bytes) -> None:
    # Written out here from its definition, so that a faster way of computing it (the
    # keyed hash copied, 2026-12-07) cannot change it: nonces a running server issued
    # must still be recognised by the next version with the same secret.
    nonce = NonceManager(secret).issue(12.5)
    raw = base64.urlsafe_b64decode(nonce)
    body, tag = raw[:20], raw[20:]
    key = secret if len(secret) <= 32 else hashlib.blake2s(secret).digest()
    assert tag == hashlib.blake2s(b"pbx-nonce\0" + body, key=key, digest_size=16).digest()
    assert struct.unpack(">dI8s", body)[:2] == (12.5, 1)


def test_forgotten_nonce_is_still_stale_never_valid() -> None:
    nonces = NonceManager(SECRET, ttl=300.0)
    old = nonces.issue(0.0)
    nonces.expire(400.0)
    assert len(nonces) == 0
    assert nonces.check(old, 1, 400.0) is NonceStatus.STALE
    assert not nonces.accept(old, 1)
    # A restarted server with the same secret knows the nonce is its own, but not its
    # count: STALE, so a captured request from before the restart cannot be replayed.
    restarted = NonceManager(SECRET, ttl=300.0)
    young = nonces.issue(400.0)
    assert restarted.check(young, 1, 401.0) is NonceStatus.STALE


def test_issue_expires_and_memory_is_bounded() -> None:
    nonces = NonceManager(SECRET, ttl=300.0, max_outstanding=3)
    issued = [nonces.issue(float(t)) for t in range(5)]
    assert len(nonces) == 3
    # The oldest two were pushed out: ours, but no longer tracked.
    assert [nonces.check(n, 1, 5.0) for n in issued] == [
        NonceStatus.STALE,
        NonceStatus.STALE,
        NonceStatus.VALID,
        NonceStatus.VALID,
        NonceStatus.VALID,
    ]
    assert nonces.next_expiry() == 2.0 + 300.0
    # issue() also drops expired heads on its own.
    nonces.issue(303.5)  # those issued at 2.0 and 3.0 are over 300 s old by now
    assert len(nonces) == 2
    assert nonces.next_expiry() == 4.0 + 300.0
    nonces.expire(10_000.0)
    assert len(nonces) == 0
    assert nonces.next_expiry() is None


def test_nonces_are_unique_url_safe_and_quote_free() -> None:
    nonces = NonceManager(SECRET, max_outstanding=10_000)
    issued = {nonces.issue(0.0) for _ in range(2_000)}
    assert len(issued) == 2_000
    for nonce in issued:
        assert re.fullmatch(r"[A-Za-z0-9_-]{48}", nonce), nonce


def test_two_managers_with_one_secret_never_collide() -> None:
    """Same secret, same clock, same counter: the random part still tells them apart."""
    a, b = NonceManager(SECRET), NonceManager(SECRET)
    assert {a.issue(0.0) for _ in range(100)}.isdisjoint({b.issue(0.0) for _ in range(100)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": b"short"}, "secret"),
        ({"secret": SECRET, "ttl": 0.0}, "ttl"),
        ({"secret": SECRET, "max_outstanding": 0}, "max_outstanding"),
    ],
)
def test_nonce_manager_refuses_bad_configuration(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NonceManager(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------- the whole exchange


class Server:
    """The registrar's sequence from the module docstring, as a test double of nothing:
    it only strings the real functions together."""

    def __init__(self, users: dict[str, str]) -> None:
        self.nonces = NonceManager(SECRET)
        self.users = users

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        return [challenge_header("pbx", a, self.nonces.issue(now), stale) for a in ALGORITHMS]

    def handle(self, authorization: str, method: str, now: float) -> str:
        creds = parse_credentials(authorization)
        status = self.nonces.check(creds.nonce, creds.nonce_count, now)
        if status is not NonceStatus.VALID:
            return status.name.lower()
        password = self.users.get(creds.username)
        if password is None:
            h1 = unknown_user_ha1(SECRET, creds.username, creds.realm, creds.algorithm)
        else:
            h1 = ha1(creds.algorithm, creds.username, creds.realm, password)
        if not verify(creds, h1, method):
            return "wrong"
        assert self.nonces.accept(creds.nonce, creds.nonce_count)
        return "ok"


def _answer(challenge: str, user: str, password: str, nc: int, uri: str = "sip:pbx") -> str:
    """A phone answering one WWW-Authenticate value."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.removeprefix("Digest ")))
    algorithm, nonce = params["algorithm"], params["nonce"]
    nc_text = f"{nc:08x}"
    response = _client_response(
        algorithm, user, params["realm"], password, "REGISTER", uri, nonce, nc_text, "cn0"
    )
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm}, cnonce="cn0", '
        f"qop=auth, nc={nc_text}"
    )


@pytest.mark.parametrize("which", [0, 1], ids=ALGORITHMS)
def test_register_exchange_and_replay(which: int) -> None:
    server = Server({"1000": "secret1000"})
    challenge = server.challenge(0.0)[which]
    assert ALGORITHMS[which] in challenge

    # A wrong password fails without burning nc=1 for the real phone.
    assert server.handle(_answer(challenge, "1000", "guess", 1), "REGISTER", 1.0) == "wrong"
    legit = _answer(challenge, "1000", "secret1000", 1)
    assert server.handle(legit, "REGISTER", 2.0) == "ok"
    # The same Authorization captured and sent again is refused, now and later.
    assert server.handle(legit, "REGISTER", 3.0) == "replay"
    assert server.handle(legit, "REGISTER", 250.0) == "replay"
    assert server.handle(legit, "REGISTER", 301.0) == "stale"
    # The phone's next request on the same nonce counts up.
    assert server.handle(_answer(challenge, "1000", "secret1000", 2), "REGISTER", 4.0) == "ok"
    # A method the signature did not cover does not verify.
    assert server.handle(_answer(challenge, "1000", "secret1000", 3), "INVITE", 5.0) == "wrong"


def test_unknown_user_and_wrong_password_look_alike() -> None:
    server = Server({"1000": "secret1000"})
    challenge = server.challenge(0.0)[1]
    assert server.handle(_answer(challenge, "1000", "nope", 1), "REGISTER", 1.0) == "wrong"
    assert server.handle(_answer(challenge, "9999", "nope", 1), "REGISTER", 1.0) == "wrong"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unknown_user_ha1(algorithm: str) -> None:
    fake = unknown_user_ha1(SECRET, "9999", "pbx", algorithm)
    assert fake == unknown_user_ha1(SECRET, "9999", "pbx", algorithm.lower())
    assert len(fake) == len(ha1(algorithm, "9999", "pbx", "x"))
    assert re.fullmatch(r"[0-9a-f]+", fake)
    others = {
        unknown_user_ha1(SECRET, "9998", "pbx", algorithm),
        unknown_user_ha1(SECRET, "9999", "other", algorithm),
        unknown_user_ha1(b"another secret, also 16+ bytes", "9999", "pbx", algorithm),
    }
    assert fake not in others and len(others) == 3
    with pytest.raises(ValueError):
        unknown_user_ha1(SECRET, "9999", "pbx", "MD5-sess")
