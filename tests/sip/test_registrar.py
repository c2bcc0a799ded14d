"""The registrar with digest authentication, driven like aioquic: every call gets ``now``.

A test phone (``Phone``) answers the registrar's 401 with a digest it computes itself
with hashlib from the RFC formulas, so a bug shared by the code and the test is unlikely.
Nothing sleeps: expiry and nonce lifetimes are moved by passing a later ``now``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from pbx.sip.errors import SipError
from pbx.sip.events import (
    AuthFailed,
    BindingCreated,
    BindingEvent,
    BindingExpired,
    BindingRefreshed,
    BindingRemoved,
    Event,
    Registered,
    Source,
)
from pbx.sip.grammar import parse_name_addr
from pbx.sip.message import Headers, Request, make_headers
from pbx.sip.registrar import Registrar, RegistrarPolicy

REALM = "pbx"
SECRET = b"registrar-test-secret-0123456789"
DATE = "Sat, 13 Nov 2010 23:29:00 GMT"
PASSWORDS = {"100": "secret100", "101": "pw-101"}


def _h(algorithm: str, text: str) -> str:
    """The test's own hash, written from RFC 7616, not imported from the code."""
    return hashlib.new({"MD5": "md5", "SHA-256": "sha256"}[algorithm], text.encode()).hexdigest()


def lookup(username: str, algorithm: str) -> str | None:
    """HA1 as a user database stores it."""
    password = PASSWORDS.get(username)
    return None if password is None else _h(algorithm, f"{username}:{REALM}:{password}")


def make_registrar(**policy: object) -> Registrar:
    return Registrar(RegistrarPolicy(realm=REALM, **policy), lookup, SECRET, date=lambda: DATE)  # type: ignore[arg-type]


@dataclass
class Result:
    """A response, or the SipError the endpoint would turn into one."""

    status: int
    headers: Headers
    events: list[Event]

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name)

    def contacts(self) -> dict[str, int]:
        """URI -> expires of every Contact a 200 lists."""
        out: dict[str, int] = {}
        for value in self.headers.values("contact"):
            contact = parse_name_addr(value, "Contact")
            out[contact.uri_text] = int(dict(contact.params)["expires"] or -1)
        return out


_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


def challenge_params(value: str) -> dict[str, str]:
    assert value.startswith("Digest ")
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(value)
    }


@dataclass
class Phone:
    """A SIP phone registering extension ``user`` (the To user) over ``transport``."""

    registrar: Registrar
    user: str = "100"
    password: str = "secret100"
    auth_user: str | None = None  # username in credentials, when it differs from user
    host: str = "192.0.2.4"
    port: int = 5062
    transport: str = "udp"
    call_id: str = "call-1@192.0.2.4"
    cseq: int = 0
    uri: str = "sip:example.com"
    user_agent: str = "TestPhone/1.0"
    nc: int = 0
    last_challenge: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> Source:
        return Source(self.host, self.port, self.transport)

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    def request(
        self,
        contacts: Sequence[str] | None = None,
        expires: int | str | None = None,
        authorization: str | None = None,
        cseq: int | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> Request:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        fields = [
            (
                "Via",
                f"SIP/2.0/{self.transport.upper()} {self.host}:{self.port};branch=z9hG4bK{cseq}",
            ),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.user}@example.com>;tag=ft1"),
            ("To", f"<sip:{self.user}@example.com>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} REGISTER"),
            ("User-Agent", self.user_agent),
        ]
        for contact in [self.contact] if contacts is None else contacts:
            fields.append(("Contact", contact))
        if expires is not None:
            fields.append(("Expires", str(expires)))
        if authorization is not None:
            fields.append(("Authorization", authorization))
        fields.extend(extra)
        return Request("REGISTER", self.uri, "SIP/2.0", make_headers(fields))

    def send(self, request: Request, now: float) -> Result:
        try:
            response, events = self.registrar.handle(request, self.source, now)
        except SipError as exc:
            return Result(exc.status, make_headers(exc.headers), [])
        if response.status == 401:
            self.last_challenge = challenge_params(response.headers.get("www-authenticate") or "")
        return Result(response.status, response.headers, events)

    def authorization(
        self,
        challenge: dict[str, str] | None = None,
        password: str | None = None,
        uri: str | None = None,
        realm: str | None = None,
        nc: int | None = None,
    ) -> str:
        """What the phone answers to a challenge (RFC 7616 §3.4.1, qop=auth)."""
        challenge = challenge or self.last_challenge
        algorithm = challenge.get("algorithm", "MD5")
        realm = realm or challenge["realm"]
        username = self.auth_user or self.user
        uri = uri or self.uri
        if nc is None:
            self.nc += 1
            nc = self.nc
        cnonce = "0a4f113b"
        ha1 = _h(algorithm, f"{username}:{realm}:{password or self.password}")
        ha2 = _h(algorithm, f"REGISTER:{uri}")
        nonce = challenge["nonce"]
        response = _h(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        return (
            f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}, qop=auth, nc={nc:08x}, '
            f'cnonce="{cnonce}"'
        )

    def register(
        self,
        now: float,
        contacts: Sequence[str] | None = None,
        expires: int | str | None = None,
        **kw: object,
    ) -> Result:
        """Send a REGISTER, answer the 401, return the final result."""
        first = self.send(self.request(contacts, expires), now)
        assert first.status == 401, first
        assert first.events == []
        return self.send(
            self.request(contacts, expires, authorization=self.authorization(**kw)),  # type: ignore[arg-type]
            now,
        )


def binding_events(events: list[Event]) -> list[tuple[str, str, int]]:
    """(kind, contact URI, expires) of every binding event, in order."""
    return [
        (type(e).__name__, e.contact_uri, e.expires) for e in events if isinstance(e, BindingEvent)
    ]


# ------------------------------------------------------------------- full flow


def test_challenge_then_200() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    first = phone.send(phone.request(expires=600), now=1000.0)
    assert first.status == 401
    assert first.events == []
    assert registrar.binding_count() == 0
    challenge = phone.last_challenge
    assert challenge["realm"] == REALM
    assert challenge["algorithm"] == "MD5"
    assert challenge["qop"] == "auth"
    assert "stale" not in challenge
    assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", challenge["nonce"])
    assert first.headers.get("call-id") == phone.call_id
    assert first.headers.get("cseq") == "1 REGISTER"

    final = phone.send(phone.request(expires=600, authorization=phone.authorization()), 1000.0)
    assert final.status == 200
    assert final.contacts() == {"sip:100@192.0.2.4:5062": 600}
    assert final.headers.get("date") == DATE
    assert final.headers.get("cseq") == "2 REGISTER"
    assert binding_events(final.events) == [("BindingCreated", "sip:100@192.0.2.4:5062", 600)]
    assert isinstance(final.events[-1], Registered)
    assert [b.contact.uri_text for b in registrar.bindings("100")] == ["sip:100@192.0.2.4:5062"]


def test_nonce_is_reusable_with_increasing_nc() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    assert phone.register(0.0, expires=600).status == 200
    again = phone.send(phone.request(expires=600, authorization=phone.authorization()), 10.0)
    assert again.status == 200
    assert binding_events(again.events) == [("BindingRefreshed", "sip:100@192.0.2.4:5062", 600)]


def test_200_lists_every_binding_with_remaining_expires() -> None:
    registrar = make_registrar()
    desk = Phone(registrar)
    assert desk.register(0.0, expires=600).status == 200
    soft = Phone(registrar, host="192.0.2.9", port=5070, call_id="call-2@192.0.2.9")
    result = soft.register(100.0, expires=900)
    assert result.status == 200
    assert result.contacts() == {"sip:100@192.0.2.4:5062": 500, "sip:100@192.0.2.9:5070": 900}
    # a fetch (no Contact) lists them too and changes nothing
    fetch = soft.send(soft.request(contacts=[], authorization=soft.authorization()), 300.0)
    assert fetch.status == 200
    assert fetch.contacts() == {"sip:100@192.0.2.4:5062": 300, "sip:100@192.0.2.9:5070": 700}
    assert binding_events(fetch.events) == []
    assert [type(e) for e in fetch.events] == [Registered]


def test_expires_header_versus_contact_param_and_clamping() -> None:
    registrar = make_registrar(min_expires=60, max_expires=7200, default_expires=3600)
    phone = Phone(registrar)
    result = phone.register(
        0.0,
        contacts=[
            "<sip:a@192.0.2.4>;expires=120",
            "<sip:b@192.0.2.4>",
            "<sip:c@192.0.2.4>;expires=99999",
        ],
        expires=300,
    )
    assert result.status == 200
    assert result.contacts() == {
        "sip:a@192.0.2.4": 120,
        "sip:b@192.0.2.4": 300,
        "sip:c@192.0.2.4": 7200,
    }
    other = Phone(registrar, user="101", password="pw-101")
    assert other.register(0.0).contacts() == {"sip:101@192.0.2.4:5062": 3600}
    huge = Phone(registrar, user="101", password="pw-101", call_id="x")
    assert huge.register(0.0, expires="99999999999999").contacts() == {
        "sip:101@192.0.2.4:5062": 7200
    }


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [
        (None, 59),
        (["<sip:100@192.0.2.4>;expires=1"], None),
        (["<sip:100@192.0.2.4>;expires=30"], 3600),
    ],
)
def test_423_with_min_expires(contacts: list[str] | None, expires: int | None) -> None:
    registrar = make_registrar(min_expires=60)
    result = Phone(registrar).register(0.0, contacts=contacts, expires=expires)
    assert result.status == 423
    assert result.headers.get("min-expires") == "60"
    assert registrar.binding_count() == 0


def test_several_contacts_in_one_field_and_repeated_fields() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    result = phone.register(
        0.0,
        contacts=[
            '"Desk" <sip:100@192.0.2.4>, <sip:100@192.0.2.5;transport=tcp>',
            "sip:100@192.0.2.6",
        ],
        expires=600,
    )
    assert result.status == 200
    assert set(result.contacts()) == {
        "sip:100@192.0.2.4",
        "sip:100@192.0.2.5;transport=tcp",
        "sip:100@192.0.2.6",
    }
    assert [k for k, *_ in binding_events(result.events)] == ["BindingCreated"] * 3
    # the same contact twice in one request is one binding
    dup = Phone(registrar, user="101", password="pw-101")
    twice = dup.register(0.0, contacts=["<sip:101@h>", "<sip:101@H>;expires=600"], expires=600)
    assert len(twice.contacts()) == 1


# --------------------------------------------------------------- removal


def test_contact_star_with_expires_0_removes_everything() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, contacts=["<sip:100@192.0.2.4>", "<sip:100@192.0.2.5>"], expires=600)
    result = phone.register(10.0, contacts=["*"], expires=0)
    assert result.status == 200
    assert result.contacts() == {}
    assert sorted(binding_events(result.events)) == [
        ("BindingRemoved", "sip:100@192.0.2.4", 0),
        ("BindingRemoved", "sip:100@192.0.2.5", 0),
    ]
    assert registrar.bindings("100") == []
    assert registrar.expire(10_000.0) == []


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [(["*"], 3600), (["*"], None), (["*", "<sip:100@h>"], 0), (["*, <sip:100@h>"], 0)],
)
def test_contact_star_misused_is_400_before_any_challenge(
    contacts: list[str], expires: int | None
) -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    result = phone.send(phone.request(contacts=contacts, expires=expires), 0.0)
    assert result.status == 400


def test_expires_0_removes_one_contact() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, contacts=["<sip:100@192.0.2.4>", "<sip:100@192.0.2.5>"], expires=600)
    result = phone.register(5.0, contacts=["<sip:100@192.0.2.4>;expires=0"])
    assert result.status == 200
    assert result.contacts() == {"sip:100@192.0.2.5": 595}
    assert binding_events(result.events) == [("BindingRemoved", "sip:100@192.0.2.4", 0)]
    # removing what is not bound is not an error and emits nothing
    again = phone.register(6.0, contacts=["<sip:100@192.0.2.9>"], expires=0)
    assert again.status == 200
    assert binding_events(again.events) == []


# ---------------------------------------------------------- ordering and limits


def test_call_id_and_cseq_ordering() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.cseq = 10
    assert phone.register(0.0, expires=600).status == 200  # CSeq 11, 12
    older = phone.send(phone.request(expires=900, cseq=5, authorization=phone.authorization()), 1.0)
    assert older.status == 400
    same = phone.send(phone.request(expires=900, cseq=12, authorization=phone.authorization()), 1.0)
    assert same.status == 400
    assert [b.expires for b in registrar.bindings("100")] == [600]
    rebooted = Phone(registrar, call_id="new-call-id@192.0.2.4")
    result = rebooted.register(2.0, expires=900)  # CSeq 1, 2 with a new Call-ID
    assert result.status == 200
    assert binding_events(result.events) == [("BindingRefreshed", "sip:100@192.0.2.4:5062", 900)]
    assert [b.call_id for b in registrar.bindings("100")] == ["new-call-id@192.0.2.4"]


def test_contact_star_with_older_cseq_is_refused() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.cseq = 10
    phone.register(0.0, expires=600)
    star = phone.request(contacts=["*"], expires=0, cseq=3, authorization=phone.authorization())
    assert phone.send(star, 1.0).status == 400
    assert registrar.binding_count() == 1


def test_max_contacts_is_403_and_changes_nothing() -> None:
    registrar = make_registrar(max_contacts=2)
    phone = Phone(registrar)
    assert phone.register(0.0, contacts=["<sip:100@h1>", "<sip:100@h2>"], expires=600).status == 200
    result = phone.register(1.0, contacts=["<sip:100@h3>"], expires=600)
    assert result.status == 403
    assert sorted(b.contact.uri_text for b in registrar.bindings("100")) == [
        "sip:100@h1",
        "sip:100@h2",
    ]
    # replacing one is fine: the count after the request is what matters
    swap = phone.register(2.0, contacts=["<sip:100@h1>;expires=0", "<sip:100@h3>"], expires=600)
    assert swap.status == 200
    assert set(swap.contacts()) == {"sip:100@h2", "sip:100@h3"}


# ----------------------------------------------------------------------- expiry


def test_expiry_without_sleeping() -> None:
    registrar = make_registrar(nonce_ttl=30.0)
    phone = Phone(registrar)
    phone.register(1000.0, contacts=["<sip:100@h1>"], expires=60)
    phone.register(1010.0, contacts=["<sip:100@h2>"], expires=120)
    assert registrar.next_timer() == pytest.approx(1030.0)  # the nonce goes first
    assert registrar.expire(1059.9) == []
    expired = registrar.expire(1060.0)
    assert [
        (type(e), e.contact_uri, e.expires) for e in expired if isinstance(e, BindingEvent)
    ] == [(BindingExpired, "sip:100@h1", 0)]
    assert registrar.next_timer() == pytest.approx(1130.0)
    assert [b.contact.uri_text for b in registrar.bindings("100")] == ["sip:100@h2"]
    assert registrar.expire(1200.0)[0].contact_uri == "sip:100@h2"  # type: ignore[union-attr]
    assert registrar.binding_count() == 0
    assert registrar.next_timer() is None


def test_refresh_moves_expiry() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, expires=60)
    phone.register(50.0, expires=60)
    assert registrar.expire(60.0) == []
    assert registrar.binding_count() == 1
    assert len(registrar.expire(110.0)) == 1


def test_refreshes_do_not_pile_up_expiry_entries() -> None:
    """A refresh must not leave an expiry entry queued for each one before it (until
    its own time, Expires 3600 later), or a phone refreshing every second would grow
    the server by an entry a second for an hour; entries that shortened bindings
    leave behind are bounded too."""
    registrar = make_registrar()
    steady, busy = Phone(registrar, user="101", password="pw-101"), Phone(registrar)
    steady.register(0.0, expires=7200)
    for second in range(1, 3001):
        busy.register(float(second), expires=3600)
    assert len(registrar._heap) == 2  # one entry a binding: refreshes push nothing
    for second in range(3001, 6001):  # each refresh shortens the binding by 1 s
        busy.register(float(second), expires=14000 - 2 * second)
    assert len(registrar._heap) <= 2048
    assert registrar.binding_count() == 2
    # Expiry follows the latest refresh of each binding, and only that.
    assert registrar.expire(7199.0) == []
    gone = registrar.expire(7200.0)
    assert [(type(e), e.extension) for e in gone] == [(BindingExpired, "101")]
    assert registrar.expire(7999.0) == []
    gone = registrar.expire(8000.0)
    assert [(type(e), e.extension) for e in gone] == [(BindingExpired, "100")]
    assert registrar.binding_count() == 0
    assert registrar.expire(12000.0) == []  # what shortenings left behind, dropped
    assert registrar.next_timer() is None


def test_expiry_after_refreshes_that_lengthen_and_shorten() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, expires=100)
    phone.register(10.0, expires=300)  # lengthened: due at 310, its entry says 100
    phone.register(20.0, expires=50)  # shortened: due at 70
    phone.register(30.0, expires=200)  # lengthened again: due at 230
    for now in (70.0, 100.0, 229.0):
        assert registrar.expire(now) == [], now
        assert registrar.binding_count() == 1
    assert [type(e) for e in registrar.expire(230.0)] == [BindingExpired]
    assert registrar.expire(400.0) == []


# ------------------------------------------------------------------ digest rules


def test_stale_nonce_gets_stale_true() -> None:
    registrar = make_registrar(nonce_ttl=300.0)
    phone = Phone(registrar)
    phone.send(phone.request(expires=600), 0.0)
    late = phone.send(phone.request(expires=600, authorization=phone.authorization()), 300.5)
    assert late.status == 401
    assert phone.last_challenge["stale"] == "true"
    assert late.events == []
    assert registrar.binding_count() == 0
    # the fresh nonce works at once, without the user typing anything
    ok = phone.send(phone.request(expires=600, authorization=phone.authorization()), 300.5)
    assert ok.status == 200


def test_nonce_still_valid_at_ttl() -> None:
    registrar = make_registrar(nonce_ttl=300.0)
    phone = Phone(registrar)
    phone.send(phone.request(expires=600), 0.0)
    assert (
        phone.send(phone.request(expires=600, authorization=phone.authorization()), 300.0).status
        == 200
    )


def test_replayed_authorization_is_refused() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.send(phone.request(expires=600), 0.0)
    challenge = phone.last_challenge
    captured = phone.request(expires=600, authorization=phone.authorization())
    assert phone.send(captured, 1.0).status == 200
    replay = phone.send(captured, 2.0)
    assert replay.status == 401
    assert [type(e) for e in replay.events] == [AuthFailed]
    assert "replay" in replay.events[0].reason  # type: ignore[union-attr]
    # same nc on a new request (new CSeq) is a replay too
    again = phone.request(expires=600, authorization=phone.authorization(challenge, nc=phone.nc))
    assert phone.send(again, 3.0).status == 401
    assert [b.expires_at for b in registrar.bindings("100")] == [601.0]


def test_username_must_equal_to_user() -> None:
    registrar = make_registrar()
    phone = Phone(registrar, user="100", auth_user="101", password="pw-101")  # 101's real password
    result = phone.register(0.0)
    assert result.status == 403
    assert [type(e) for e in result.events] == [AuthFailed]
    assert result.events[0].extension == "100"
    assert registrar.binding_count() == 0


def test_wrong_realm_gets_a_challenge() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    result = phone.register(0.0, realm="other")
    assert result.status == 401
    assert result.events == []
    assert registrar.binding_count() == 0


def test_digest_uri_must_match_request_uri() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    assert phone.register(0.0, uri="sip:elsewhere.example.org").status == 400
    assert registrar.binding_count() == 0
    # the same URI written differently is the same URI
    same = Phone(make_registrar(), uri="sip:Example.COM")
    assert same.register(0.0, uri="sip:example.com").status == 200


def test_unknown_extension_and_wrong_password_look_alike() -> None:
    registrar = make_registrar()
    wrong = Phone(registrar, password="guess").register(0.0)
    unknown = Phone(registrar, user="999", password="guess").register(0.0)
    assert wrong.status == unknown.status
    assert wrong.status in (401, 403)
    assert [n for n, _ in wrong.headers.fields] == [n for n, _ in unknown.headers.fields]
    assert {type(e) for e in wrong.events + unknown.events} == {AuthFailed}
    assert registrar.binding_count() == 0


@pytest.mark.parametrize(
    ("algorithms", "use"),
    [(("SHA-256", "MD5"), 0), (("SHA-256", "MD5"), 1), (("MD5", "SHA-256"), 1), (("SHA-256",), 0)],
)
def test_sha256_and_md5_challenges_in_configured_order(
    algorithms: tuple[str, ...], use: int
) -> None:
    registrar = make_registrar(algorithms=algorithms)
    phone = Phone(registrar)
    first = phone.send(phone.request(), 0.0)
    offered = [challenge_params(v) for v in first.all("www-authenticate")]
    assert [c["algorithm"] for c in offered] == list(algorithms)
    assert len({c["nonce"] for c in offered}) == 1
    result = phone.send(phone.request(authorization=phone.authorization(offered[use])), 0.0)
    assert result.status == 200


def test_algorithm_not_configured_gets_a_challenge() -> None:
    registrar = make_registrar(algorithms=("MD5",))
    phone = Phone(registrar)
    phone.send(phone.request(), 0.0)
    sha = dict(phone.last_challenge, algorithm="SHA-256")
    result = phone.send(phone.request(authorization=phone.authorization(sha)), 0.0)
    assert result.status == 401
    assert registrar.binding_count() == 0


def _bad_authorizations(phone: Phone) -> dict[str, str | None]:
    challenge = phone.last_challenge
    forged = dict(challenge, nonce="A" * len(challenge["nonce"]))
    return {
        "none": None,
        "basic": "Basic MTAwOnNlY3JldDEwMA==",
        "wrong password": phone.authorization(password="nope"),
        "wrong realm": phone.authorization(realm="elsewhere"),
        "forged nonce": phone.authorization(forged),
    }


def test_no_unauthenticated_request_creates_or_refreshes_a_binding() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, expires=600)
    before = [(b.expires_at, b.cseq) for b in registrar.bindings("100")]
    stranger = Phone(registrar, user="101", password="pw-101")
    stranger.send(stranger.request(), 1.0)
    for who in (phone, stranger):
        who.send(who.request(), 1.0)  # a challenge to answer badly
        for name, authorization in _bad_authorizations(who).items():
            for contacts in (None, ["*"], ["<sip:x@h>;expires=0"]):
                request = who.request(contacts, 0 if contacts else 3600, authorization)
                result = who.send(request, 2.0)
                assert result.status in (401, 403), (name, contacts)
                assert binding_events(result.events) == [], name
                assert not any(isinstance(e, Registered) for e in result.events)
    assert [(b.expires_at, b.cseq) for b in registrar.bindings("100")] == before
    assert registrar.bindings("101") == []


# ------------------------------------------------------------------ events, domains


def test_events_carry_what_the_inventory_needs() -> None:
    registrar = make_registrar()
    phone = Phone(registrar, transport="tcp", host="203.0.113.5", port=49152)
    phone.user_agent = "Yealink SIP-T46S 66.86.0.15"
    contact = '<sip:100@10.0.0.5:5062;transport=tcp>;+sip.instance="<urn:uuid:1-2>";reg-id=1'
    result = phone.register(7.0, contacts=[contact], expires=600)
    created = result.events[0]
    assert isinstance(created, BindingCreated)
    assert created.extension == "100"
    assert created.source == Source("203.0.113.5", 49152, "tcp")
    assert created.user_agent == "Yealink SIP-T46S 66.86.0.15"
    assert created.contact == contact
    assert created.contact_uri == "sip:100@10.0.0.5:5062;transport=tcp"
    assert created.contact_params == (("+sip.instance", "<urn:uuid:1-2>"), ("reg-id", "1"))
    assert created.call_id == phone.call_id
    assert created.expires == 600
    assert created.at == 7.0
    assert ("user-agent", "Yealink SIP-T46S 66.86.0.15") in created.headers
    registered = result.events[-1]
    assert isinstance(registered, Registered)
    assert registered.contacts == (contact,)
    assert registered.source == created.source
    # the 200 gives the params back, quoted where needed
    listed = result.headers.get("contact") or ""
    assert parse_name_addr(listed, "Contact").params == (
        ("+sip.instance", "<urn:uuid:1-2>"),
        ("reg-id", "1"),
        ("expires", "600"),
    )


def test_refresh_and_removal_events() -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    phone.register(0.0, expires=600)
    refreshed = phone.register(1.0, expires=300).events[0]
    assert isinstance(refreshed, BindingRefreshed)
    assert refreshed.expires == 300
    removed = phone.register(2.0, expires=0).events[0]
    assert isinstance(removed, BindingRemoved)
    assert removed.expires == 0
    assert removed.extension == "100"


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("sip:example.com", 401),
        ("sip:EXAMPLE.com:5060", 401),
        ("sip:[2001:db8::1]", 401),
        ("sip:evil.com", 403),
    ],
)
def test_domain_check_comes_before_the_challenge(uri: str, status: int) -> None:
    registrar = make_registrar(domains=frozenset({"example.com", "2001:db8::1"}))
    phone = Phone(registrar, uri=uri)
    assert phone.send(phone.request(), 0.0).status == status


@pytest.mark.parametrize(
    "fields",
    [
        [("To", "<tel:+100>")],
        [("To", "<sip:example.com>")],
        [("Contact", "<sip:100@h>;expires=soon")],
        [("Expires", "-1")],
        [("Contact", "<sip:100@h")],
    ],
)
def test_malformed_register_is_400_before_any_challenge(fields: list[tuple[str, str]]) -> None:
    registrar = make_registrar()
    phone = Phone(registrar)
    request = phone.request(contacts=[], extra=fields)
    replaced = {name.lower() for name, _ in fields}
    base = [(n, v) for n, v in request.headers.fields if n not in replaced]
    request = Request("REGISTER", request.uri, "SIP/2.0", make_headers([*base, *fields]))
    assert phone.send(request, 0.0).status == 400


@pytest.mark.parametrize(
    ("now", "asked", "granted"),
    [(261680.23671160112, 600, 600), (31873.07012674512, 99999, 7200)],
)
def test_granted_expires_survives_float_clock_rounding(
    now: float, asked: int, granted: int
) -> None:
    """``now`` from loop.time(): (now + 600) - now can be 600.00000000001; the 200 must
    still say 600, and never more than max_expires."""
    registrar = make_registrar(max_expires=7200)
    result = Phone(registrar).register(now, expires=asked)
    assert result.contacts() == {"sip:100@192.0.2.4:5062": granted}
