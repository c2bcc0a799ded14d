"""The registrar (RFC 3261 §10.3): authenticate a REGISTER, then add, refresh or
remove its bindings, and say what happened as events.

Sans-IO: ``handle(request, source, now)`` returns a response and events; ``expire(now)``
removes bindings that ran out. The caller owns the clock and the sockets.

Order of checks, so that invalid input gets 400 before any challenge (RFC 4475
``regbadct``, ``unksm2``) and nothing unauthenticated touches a binding:
syntax (To, Contact, Expires) -> domain -> digest -> Contact rules (``*``, 423,
CSeq ordering, max contacts) -> apply all at once -> 200 listing every binding.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pbx.sip import digest
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
from pbx.sip.grammar import (
    CSeq,
    NameAddr,
    param,
    parse_cseq,
    parse_delta_seconds,
    parse_name_addr,
    parse_uri,
)
from pbx.sip.message import Request, Response
from pbx.sip.response import build_response

_VALID = digest.NonceStatus.VALID
_STALE = digest.NonceStatus.STALE

#: (username, algorithm) -> HA1 hex for that algorithm, or None for an unknown user.
CredentialLookup = Callable[[str, str], "str | None"]

_TOKEN_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    """What an operator configures (``registrar:`` in config.yml)."""

    realm: str = "pbx"
    domains: frozenset[str] = frozenset()  # empty: serve any Request-URI domain
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    max_contacts: int = 10
    algorithms: tuple[str, ...] = ("MD5",)
    nonce_ttl: float = 300.0


@dataclass(slots=True)
class Binding:
    """One contact bound to an extension."""

    contact: NameAddr
    contact_raw: str
    call_id: str
    cseq: int
    expires_at: float
    expires: int
    source: Source
    user_agent: str | None


@dataclass(slots=True)
class _Plan:
    """What one REGISTER will do, computed fully before anything is applied."""

    upserts: list[tuple[str, NameAddr, str, int]] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)


def _format_param(name: str, value: str | None) -> str:
    if value is None:
        return f";{name}"
    if _TOKEN_VALUE_RE.match(value):
        return f";{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f';{name}="{escaped}"'


class Registrar:
    """Bindings per extension, with digest authentication in front.

    ``lookup`` gives the HA1 of an extension for an algorithm; an unknown extension
    gets a deterministic fake HA1 so that it fails exactly like a wrong password.
    ``date`` formats the Date header of a 200 from the caller's wall clock.
    """

    def __init__(
        self,
        policy: RegistrarPolicy,
        lookup: CredentialLookup,
        secret: bytes,
        date: Callable[[], str] | None = None,
    ) -> None:
        self.policy = policy
        self._lookup = lookup
        self._secret = secret
        self._nonces = digest.NonceManager(secret, ttl=policy.nonce_ttl)
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._date = date

    # ------------------------------------------------------------------ queries

    def bindings(self, extension: str) -> list[Binding]:
        """Current bindings of an extension (possibly expired until ``expire`` runs)."""
        return list(self._bindings.get(extension, {}).values())

    def binding_count(self) -> int:
        """How many bindings exist in all."""
        return sum(len(table) for table in self._bindings.values())

    def next_timer(self) -> float | None:
        """When ``expire`` next has work to do."""
        candidates = (self._heap[0][0] if self._heap else None, self._nonces.next_expiry())
        times = [t for t in candidates if t is not None]
        return min(times) if times else None

    # ----------------------------------------------------------------- handling

    def handle(self, request: Request, source: Source, now: float) -> tuple[Response, list[Event]]:
        """Process one REGISTER whose common headers the endpoint already checked."""
        headers = request.headers
        to = parse_name_addr(headers.get("to") or "", "To")
        if not to.uri.is_sip:
            raise SipError(400, "To is not a SIP or SIPS URI")
        extension = to.uri.user_unescaped
        if not extension:
            raise SipError(400, "To URI has no user part")
        contacts, wildcard = self._parse_contacts(request)
        header_expires = self._header_expires(request)
        if wildcard and (header_expires != 0 or contacts):
            raise SipError(400, "Contact: * needs Expires: 0 and no other contact")
        self._check_domain(request)
        user_agent = headers.get("user-agent")
        failure = self._authenticate(request, extension, source, user_agent, now)
        if failure is not None:
            return failure
        cseq = parse_cseq(headers.get("cseq") or "")
        call_id = headers.get("call-id") or ""
        events: list[Event] = []
        if wildcard:
            self._check_order_all(extension, call_id, cseq)
            for key in list(self._bindings.get(extension, {})):
                events.append(self._remove(extension, key, request, source, now, BindingRemoved))
        else:
            plan = self._plan(extension, contacts, header_expires, call_id, cseq)
            events.extend(self._apply(extension, plan, request, source, call_id, cseq, now))
        events.append(
            Registered(
                extension=extension,
                source=source,
                user_agent=user_agent,
                contacts=tuple(raw for raw, _ in contacts),
                at=now,
                headers=headers.fields,
            )
        )
        return self._ok(request, source, extension, now), events

    def _parse_contacts(self, request: Request) -> tuple[list[tuple[str, NameAddr]], bool]:
        values = request.headers.values("contact")
        if any(v.strip() == "*" for v in values):
            if len(values) != 1:
                raise SipError(400, "Contact: * must be the only contact")
            return [], True
        contacts: list[tuple[str, NameAddr]] = []
        for raw in values:
            if not raw:
                raise SipError(400, "empty Contact value")
            contact = parse_name_addr(raw, "Contact")
            expires = param(contact.params, "expires")
            if expires is not None:
                parse_delta_seconds(expires, "Contact expires")
            contacts.append((raw, contact))
        return contacts, False

    def _header_expires(self, request: Request) -> int | None:
        value = request.headers.get("expires")
        if value is None:
            return None
        return parse_delta_seconds(value, "Expires")

    def _check_domain(self, request: Request) -> None:
        if not self.policy.domains:
            return
        uri = parse_uri(request.uri)
        if uri.host_bare not in self.policy.domains and uri.host.lower() not in self.policy.domains:
            raise SipError(403, "Domain Not Served")

    # ------------------------------------------------------------------- digest

    def _challenge(
        self, request: Request, source: Source, now: float, stale: bool = False
    ) -> Response:
        nonce = self._nonces.issue(now)
        extra = [
            ("www-authenticate", digest.challenge_header(self.policy.realm, alg, nonce, stale))
            for alg in self.policy.algorithms
        ]
        return build_response(request.headers, source, 401, "Unauthorized", extra)

    def _authenticate(
        self,
        request: Request,
        extension: str,
        source: Source,
        user_agent: str | None,
        now: float,
    ) -> tuple[Response, list[Event]] | None:
        """None when the request is authenticated; otherwise the response to send."""
        creds = self._credentials(request)
        if creds is None:
            return self._challenge(request, source, now), []
        algorithm = digest.normalize_algorithm(creds.algorithm)
        if algorithm not in self.policy.algorithms:
            return self._challenge(request, source, now), []
        status = self._nonces.check(creds.nonce, creds.nonce_count, now)
        if status is _STALE:
            return self._challenge(request, source, now, stale=True), []
        if status is not _VALID:
            event = AuthFailed(extension, source, user_agent, f"nonce {status.value}", now)
            return self._challenge(request, source, now), [event]
        if not _same_uri(creds.uri, request.uri):
            raise SipError(400, "Authorization uri does not match the Request-URI")
        ha1 = self._lookup(creds.username, algorithm)
        known = ha1 is not None
        if ha1 is None:
            ha1 = digest.unknown_user_ha1(self._secret, creds.username, creds.realm, algorithm)
        good = digest.verify(creds, ha1, request.method)
        if not good or not known or creds.username != extension:
            reason = (
                "unknown extension"
                if not known
                else "username does not match To"
                if good
                else "wrong password"
            )
            event = AuthFailed(extension, source, user_agent, reason, now)
            return build_response(request.headers, source, 403, "Forbidden"), [event]
        if not self._nonces.accept(creds.nonce, creds.nonce_count):
            event = AuthFailed(extension, source, user_agent, "nonce replay", now)
            return self._challenge(request, source, now), [event]
        return None

    def _credentials(self, request: Request) -> digest.Credentials | None:
        """The Digest credentials for our realm, or None (challenge).

        Credentials in another scheme (RFC 4475 ``regaut01``) or for another realm are
        treated as absent: the answer is a challenge, never a 400.
        """
        for value in request.headers.get_all("authorization"):
            try:
                creds = digest.parse_credentials(value)
            except digest.UnsupportedSchemeError:
                continue
            if creds.realm == self.policy.realm:
                return creds
        return None

    # ----------------------------------------------------------------- bindings

    def _check_order_all(self, extension: str, call_id: str, cseq: CSeq) -> None:
        for binding in self._bindings.get(extension, {}).values():
            if binding.call_id == call_id and cseq.seq <= binding.cseq:
                raise SipError(400, "Out-of-order CSeq for this Call-ID")

    def _plan(
        self,
        extension: str,
        contacts: list[tuple[str, NameAddr]],
        header_expires: int | None,
        call_id: str,
        cseq: CSeq,
    ) -> _Plan:
        policy = self.policy
        existing = self._bindings.get(extension, {})
        plan = _Plan()
        seen: set[str] = set()
        for raw, contact in contacts:
            key = contact.uri.binding_key()
            if key in seen:
                continue
            seen.add(key)
            expires_text = param(contact.params, "expires")
            if expires_text is not None:
                expires = parse_delta_seconds(expires_text, "Contact expires")
            elif header_expires is not None:
                expires = header_expires
            else:
                expires = policy.default_expires
            if 0 < expires < policy.min_expires:
                raise SipError(
                    423,
                    "Interval Too Brief",
                    (("min-expires", str(policy.min_expires)),),
                )
            old = existing.get(key)
            if old is not None and old.call_id == call_id and cseq.seq <= old.cseq:
                raise SipError(400, "Out-of-order CSeq for this Call-ID")
            if expires == 0:
                if old is not None:
                    plan.removals.append(key)
            else:
                plan.upserts.append((key, contact, raw, min(expires, policy.max_expires)))
        after = set(existing) - set(plan.removals) | {key for key, *_ in plan.upserts}
        if len(after) > policy.max_contacts:
            raise SipError(403, "Too Many Contacts")
        return plan

    def _apply(
        self,
        extension: str,
        plan: _Plan,
        request: Request,
        source: Source,
        call_id: str,
        cseq: CSeq,
        now: float,
    ) -> Iterator[Event]:
        for key in plan.removals:
            yield self._remove(extension, key, request, source, now, BindingRemoved)
        table = self._bindings.setdefault(extension, {})
        user_agent = request.headers.get("user-agent")
        for key, contact, raw, expires in plan.upserts:
            expires_at = now + expires
            kind: type[BindingEvent] = BindingRefreshed if key in table else BindingCreated
            binding = Binding(
                contact, raw, call_id, cseq.seq, expires_at, expires, source, user_agent
            )
            table[key] = binding
            heapq.heappush(self._heap, (expires_at, extension, key))
            yield self._event(kind, extension, binding, request.headers.fields, now)
        if not table:
            del self._bindings[extension]

    def _remove(
        self,
        extension: str,
        key: str,
        request: Request | None,
        source: Source,
        now: float,
        kind: type[BindingEvent],
    ) -> BindingEvent:
        table = self._bindings[extension]
        binding = table.pop(key)
        if not table:
            del self._bindings[extension]
        fields = request.headers.fields if request is not None else ()
        return self._event(kind, extension, binding, fields, now, expires=0)

    @staticmethod
    def _event(
        kind: type[BindingEvent],
        extension: str,
        binding: Binding,
        fields: tuple[tuple[str, str], ...],
        now: float,
        expires: int | None = None,
    ) -> BindingEvent:
        return kind(
            extension=extension,
            source=binding.source,
            user_agent=binding.user_agent,
            contact=binding.contact_raw,
            contact_uri=binding.contact.uri_text,
            contact_params=binding.contact.params,
            call_id=binding.call_id,
            expires=binding.expires if expires is None else expires,
            at=now,
            headers=fields,
        )

    def expire(self, now: float) -> list[Event]:
        """Remove bindings whose time ran out; forget expired nonces."""
        events: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires_at, extension, key = heapq.heappop(heap)
            binding = self._bindings.get(extension, {}).get(key)
            if binding is None or binding.expires_at != expires_at:
                continue  # refreshed or removed since: a stale heap entry
            events.append(self._remove(extension, key, None, binding.source, now, BindingExpired))
        self._nonces.expire(now)
        return events

    # ----------------------------------------------------------------- response

    def _ok(self, request: Request, source: Source, extension: str, now: float) -> Response:
        extra: list[tuple[str, str]] = []
        for binding in self._bindings.get(extension, {}).values():
            # now + expires - now is not always expires in floating point: allow a
            # millisecond of error, and never list more than was granted.
            remaining = max(0, min(binding.expires, math.ceil(binding.expires_at - now - 1e-3)))
            params = "".join(
                _format_param(name, value)
                for name, value in binding.contact.params
                if name != "expires"
            )
            extra.append(("contact", f"<{binding.contact.uri_text}>{params};expires={remaining}"))
        if self._date is not None:
            extra.append(("date", self._date()))
        return build_response(request.headers, source, 200, "OK", extra)


def _same_uri(digest_uri: str, request_uri: str) -> bool:
    """RFC 2617 §3.2.2.5: the digest-uri must name the Request-URI.

    Compared as parsed SIP URIs (case of scheme/host, default port) when both parse,
    else literally.
    """
    if digest_uri == request_uri:
        return True
    try:
        a, b = parse_uri(digest_uri), parse_uri(request_uri)
    except SipError:
        return False
    return (a.scheme, a.user, a.host.lower(), a.port) == (b.scheme, b.user, b.host.lower(), b.port)
