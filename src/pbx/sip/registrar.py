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
from collections.abc import Callable
from dataclasses import dataclass

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

#: The expiry heap is never rebuilt below this many entries (see ``_compact``).
_MIN_HEAP_LIMIT = 1024


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


@dataclass(slots=True, init=False)
class Binding:
    """One contact bound to an extension.

    Its ``__init__`` is written out (here and in the other classes built per REGISTER):
    the one ``dataclass`` generates is interpreted Python even in the compiled core,
    and costs several times a compiled one.
    """

    contact: NameAddr
    contact_raw: str
    call_id: str
    cseq: int
    expires_at: float
    expires: int
    source: Source
    user_agent: str | None

    def __init__(
        self,
        contact: NameAddr,
        contact_raw: str,
        call_id: str,
        cseq: int,
        expires_at: float,
        expires: int,
        source: Source,
        user_agent: str | None,
    ) -> None:
        self.contact = contact
        self.contact_raw = contact_raw
        self.call_id = call_id
        self.cseq = cseq
        self.expires_at = expires_at
        self.expires = expires
        self.source = source
        self.user_agent = user_agent


@dataclass(slots=True, init=False)
class _Plan:
    """What one REGISTER will do, computed fully before anything is applied."""

    upserts: list[tuple[str, NameAddr, str, int]]
    removals: list[str]

    def __init__(self) -> None:
        self.upserts = []
        self.removals = []


def _format_param(name: str, value: str | None) -> str:
    if value is None:
        return f";{name}"
    if _TOKEN_VALUE_RE.match(value):
        return f";{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f';{name}="{escaped}"'


@dataclass(slots=True, init=False)
class RegisterInput:
    """What the registrar reads from a REGISTER, parsed and checked for syntax.

    Not frozen only because a frozen dataclass costs microseconds to build (one
    ``object.__setattr__`` per field) and one is built per REGISTER; nothing changes it.
    Its ``__init__`` is written out for the same reason (see ``Binding``).

    ``fields`` are the request's header fields as the parser produced them, carried
    into the events for device identification.
    """

    uri: str
    extension: str
    contacts: tuple[tuple[str, NameAddr], ...]
    wildcard: bool
    expires: int | None  # the Expires header
    user_agent: str | None
    call_id: str
    cseq: CSeq
    authorizations: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]

    def __init__(
        self,
        uri: str,
        extension: str,
        contacts: tuple[tuple[str, NameAddr], ...],
        wildcard: bool,
        expires: int | None,
        user_agent: str | None,
        call_id: str,
        cseq: CSeq,
        authorizations: tuple[str, ...],
        fields: tuple[tuple[str, str], ...],
    ) -> None:
        self.uri = uri
        self.extension = extension
        self.contacts = contacts
        self.wildcard = wildcard
        self.expires = expires
        self.user_agent = user_agent
        self.call_id = call_id
        self.cseq = cseq
        self.authorizations = authorizations
        self.fields = fields


def read_register(request: Request) -> RegisterInput:
    """The registrar's view of a REGISTER; ``SipError(400)`` for what it cannot accept.

    Order matters for which 400 a broken request gets: To, then Contact, then
    Expires, then the ``Contact: *`` rules, all before any challenge.
    """
    headers = request.headers
    to = parse_name_addr(headers.get("to") or "", "To")
    if not to.uri.is_sip:
        raise SipError(400, "To is not a SIP or SIPS URI")
    extension = to.uri.user_unescaped
    if not extension:
        raise SipError(400, "To URI has no user part")
    contacts, wildcard = read_contacts(headers.values("contact"))
    expires_text = headers.get("expires")
    expires = None if expires_text is None else parse_delta_seconds(expires_text, "Expires")
    if wildcard and (expires != 0 or contacts):
        raise SipError(400, "Contact: * needs Expires: 0 and no other contact")
    return RegisterInput(
        uri=request.uri,
        extension=extension,
        contacts=contacts,
        wildcard=wildcard,
        expires=expires,
        user_agent=headers.get("user-agent"),
        call_id=headers.get("call-id") or "",
        cseq=parse_cseq(headers.get("cseq") or ""),
        authorizations=tuple(headers.get_all("authorization")),
        fields=headers.fields,
    )


def read_contacts(values: list[str]) -> tuple[tuple[tuple[str, NameAddr], ...], bool]:
    """Contact values -> ((raw, parsed), ...) and whether it is ``Contact: *``."""
    if any(v.strip() == "*" for v in values):
        if len(values) != 1:
            raise SipError(400, "Contact: * must be the only contact")
        return (), True
    contacts: list[tuple[str, NameAddr]] = []
    for raw in values:
        if not raw:
            raise SipError(400, "empty Contact value")
        contact = parse_name_addr(raw, "Contact")
        expires = param(contact.params, "expires")
        if expires is not None:
            parse_delta_seconds(expires, "Contact expires")
        contacts.append((raw, contact))
    return tuple(contacts), False


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
        # Each 401's WWW-Authenticate fields, around the nonce (``_challenge``).
        self._templates = tuple(
            digest.challenge_template(policy.realm, algorithm) for algorithm in policy.algorithms
        )
        self._bindings: dict[str, dict[str, Binding]] = {}
        # (due, extension, key): every live binding has an entry due no later than
        # its expires_at. A new binding, or a refresh that shortens one, pushes an
        # entry; a refresh that does not pushes nothing (see ``expire``). Entries left
        # behind by removals and shortenings are skipped when they come up, and
        # ``_compact`` rebuilds the heap from the live bindings once it has doubled.
        self._heap: list[tuple[float, str, str]] = []
        self._heap_limit = _MIN_HEAP_LIMIT
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
        status, reason, extra, events = self.decide(read_register(request), source, now)
        return build_response(request.headers, source, status, reason, extra), events

    def decide(
        self, register: RegisterInput, source: Source, now: float
    ) -> tuple[int, str, list[tuple[str, str]], list[Event]]:
        """Everything after parsing: domain, digest, Contact rules, the bindings.

        Returns the status, reason and extra header fields of the answer (the caller
        copies Via, From, To, Call-ID and CSeq) and the events; raises ``SipError``
        before any binding changed. Both the general path (``handle``) and the UDP
        fast lane (``pbx.sip.fastlane``) come here, so there is one set of rules.
        """
        if self.policy.domains:
            self._check_domain(register.uri)
        extension = register.extension
        user_agent = register.user_agent
        failure = self._authenticate(register, source, now)
        if failure is not None:
            return failure
        cseq = register.cseq
        call_id = register.call_id
        fields = register.fields
        events: list[Event] = []
        if register.wildcard:
            self._check_order_all(extension, call_id, cseq)
            for key in list(self._bindings.get(extension, {})):
                events.append(self._remove(extension, key, fields, now, BindingRemoved))
        else:
            plan = self._plan(extension, register.contacts, register.expires, call_id, cseq)
            events.extend(
                self._apply(extension, plan, user_agent, fields, source, call_id, cseq, now)
            )
        events.append(
            Registered(
                extension=extension,
                source=source,
                user_agent=user_agent,
                contacts=tuple(raw for raw, _ in register.contacts),
                at=now,
                headers=fields,
            )
        )
        return 200, "OK", self._ok(extension, now), events

    def _check_domain(self, request_uri: str) -> None:
        uri = parse_uri(request_uri)
        if uri.host_bare not in self.policy.domains and uri.host.lower() not in self.policy.domains:
            raise SipError(403, "Domain Not Served")

    # ------------------------------------------------------------------- digest

    def _challenge(self, now: float, stale: bool = False) -> list[tuple[str, str]]:
        """The WWW-Authenticate fields of a 401, one per algorithm, with a new nonce."""
        nonce = self._nonces.issue(now)
        if not stale:
            return [
                ("www-authenticate", f"{before}{nonce}{after}") for before, after in self._templates
            ]
        realm = self.policy.realm
        return [
            ("www-authenticate", digest.challenge_header(realm, alg, nonce, stale))
            for alg in self.policy.algorithms
        ]

    def _authenticate(
        self, register: RegisterInput, source: Source, now: float
    ) -> tuple[int, str, list[tuple[str, str]], list[Event]] | None:
        """None when the request is authenticated; otherwise the answer to send."""
        creds = self._credentials(register.authorizations)
        if creds is None:
            return 401, "Unauthorized", self._challenge(now), []
        extension = register.extension
        user_agent = register.user_agent
        algorithm = digest.normalize_algorithm(creds.algorithm)
        if algorithm not in self.policy.algorithms:
            return 401, "Unauthorized", self._challenge(now), []
        status = self._nonces.check(creds.nonce, creds.nonce_count, now)
        if status is _STALE:
            return 401, "Unauthorized", self._challenge(now, stale=True), []
        if status is not _VALID:
            event = AuthFailed(extension, source, user_agent, f"nonce {status.value}", now)
            return 401, "Unauthorized", self._challenge(now), [event]
        if not _same_uri(creds.uri, register.uri):
            raise SipError(400, "Authorization uri does not match the Request-URI")
        ha1 = self._lookup(creds.username, algorithm)
        known = ha1 is not None
        if ha1 is None:
            ha1 = digest.unknown_user_ha1(self._secret, creds.username, creds.realm, algorithm)
        good = digest.verify(creds, ha1, "REGISTER")
        if not good or not known or creds.username != extension:
            reason = (
                "unknown extension"
                if not known
                else "username does not match To"
                if good
                else "wrong password"
            )
            event = AuthFailed(extension, source, user_agent, reason, now)
            return 403, "Forbidden", [], [event]
        if not self._nonces.accept(creds.nonce, creds.nonce_count):
            event = AuthFailed(extension, source, user_agent, "nonce replay", now)
            return 401, "Unauthorized", self._challenge(now), [event]
        return None

    def _credentials(self, authorizations: tuple[str, ...]) -> digest.Credentials | None:
        """The Digest credentials for our realm, or None (challenge).

        Credentials in another scheme (RFC 4475 ``regaut01``) or for another realm are
        treated as absent: the answer is a challenge, never a 400.
        """
        for value in authorizations:
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
        contacts: tuple[tuple[str, NameAddr], ...],
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
        if len(existing) + len(plan.upserts) > policy.max_contacts:  # else it cannot exceed
            after = set(existing) - set(plan.removals) | {upsert[0] for upsert in plan.upserts}
            if len(after) > policy.max_contacts:
                raise SipError(403, "Too Many Contacts")
        return plan

    def _apply(
        self,
        extension: str,
        plan: _Plan,
        user_agent: str | None,
        fields: tuple[tuple[str, str], ...],
        source: Source,
        call_id: str,
        cseq: CSeq,
        now: float,
    ) -> list[Event]:
        events: list[Event] = [
            self._remove(extension, key, fields, now, BindingRemoved) for key in plan.removals
        ]
        table = self._bindings.setdefault(extension, {})
        for key, contact, raw, expires in plan.upserts:
            expires_at = now + expires
            previous = table.get(key)
            binding = Binding(
                contact, raw, call_id, cseq.seq, expires_at, expires, source, user_agent
            )
            table[key] = binding
            if previous is None or expires_at < previous.expires_at:
                # A refresh that does not shorten the binding pushes nothing: its
                # entry, due no later, stays queued and ``expire`` requeues it then.
                heapq.heappush(self._heap, (expires_at, extension, key))
                if len(self._heap) > self._heap_limit:
                    self._compact()
            # The two kinds every registration makes are built here by name, so that
            # the compiled core calls their constructors directly: ``kind(...)`` with
            # a variable class takes the generic call protocol, 1.4% of a SIP worker
            # under load (bench/HISTORY.md, 2026-12-07).
            event: Event
            if previous is None:
                event = BindingCreated(
                    extension, source, user_agent, raw, contact.uri_text, contact.params,
                    call_id, expires, now, fields,
                )  # fmt: skip
            else:
                event = BindingRefreshed(
                    extension, source, user_agent, raw, contact.uri_text, contact.params,
                    call_id, expires, now, fields,
                )  # fmt: skip
            events.append(event)
        if not table:
            del self._bindings[extension]
        return events

    def _remove(
        self,
        extension: str,
        key: str,
        fields: tuple[tuple[str, str], ...],
        now: float,
        kind: type[BindingEvent],
    ) -> BindingEvent:
        """Drop a binding and return the event of its end (removed or expired)."""
        table = self._bindings[extension]
        binding = table.pop(key)
        if not table:
            del self._bindings[extension]
        contact = binding.contact
        return kind(
            extension=extension,
            source=binding.source,
            user_agent=binding.user_agent,
            contact=binding.contact_raw,
            contact_uri=contact.uri_text,
            contact_params=contact.params,
            call_id=binding.call_id,
            expires=0,
            at=now,
            headers=fields,
        )

    def _compact(self) -> None:
        """Rebuild the expiry heap from the live bindings.

        Why: an entry left behind stays until its own time comes, up to the granted
        Expires later. A phone that unregisters and registers again every few seconds,
        or shortens its Expires each time, would leave hundreds; thousands of such
        requests a second would grow the server by megabytes a second. Rebuilding
        once the heap has doubled keeps it within twice the bindings, at a cost linear
        in the bindings, paid once per as many pushes: O(1) amortised.
        """
        heap = [
            (binding.expires_at, extension, key)
            for extension, table in self._bindings.items()
            for key, binding in table.items()
        ]
        heapq.heapify(heap)
        self._heap = heap
        self._heap_limit = max(_MIN_HEAP_LIMIT, 2 * len(heap))

    def expire(self, now: float) -> list[Event]:
        """Remove bindings whose time ran out; forget expired nonces."""
        events: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, extension, key = heapq.heappop(heap)
            binding = self._bindings.get(extension, {}).get(key)
            if binding is None:
                continue  # removed since: an entry left behind
            if binding.expires_at > now:
                # Refreshed since the entry was queued: due again when it now ends.
                heapq.heappush(heap, (binding.expires_at, extension, key))
                continue
            events.append(self._remove(extension, key, (), now, BindingExpired))
        self._nonces.expire(now)
        return events

    # ----------------------------------------------------------------- response

    def _ok(self, extension: str, now: float) -> list[tuple[str, str]]:
        """The 200's Contact fields (every binding of the extension) and Date."""
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
        return extra


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
