"""Events the registrar emits, as immutable dataclasses (h11 style; built the cheap
way ``pbx.sip.frozen`` describes).

They carry everything the phone inventory needs (source address and transport,
extension, User-Agent, the Contact as sent and the request's headers for MAC
identification) so that the tracker never has to look at SIP bytes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx.sip.frozen import assign_once, refuse_delete


@dataclass(init=False, unsafe_hash=True, slots=True)
class Source:
    """Where a message really came from (the packet's address, not what Via claims)."""

    host: str
    port: int
    transport: str  # "udp" | "tcp" | "tls"

    def __init__(self, host: str, port: int, transport: str) -> None:
        self.host = host
        self.port = port
        self.transport = transport

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


@dataclass(init=False, unsafe_hash=True)
class BindingEvent:
    """Common fields of every binding event.

    ``contact`` is the Contact header value for this binding exactly as the phone
    sent it; ``contact_params`` its header parameters (``expires``, ``+sip.instance``,
    ``mac`` ...) with lowercase names; ``headers`` the REGISTER's header fields as
    (lowercase long name, value) pairs, in order, for device identification.
    ``at`` is the core's ``now`` (seconds on the caller's clock; the tracker stamps
    rows with its own wall clock).
    """

    extension: str
    source: Source
    user_agent: str | None
    contact: str
    contact_uri: str
    contact_params: tuple[tuple[str, str | None], ...]
    call_id: str
    expires: int
    at: float
    headers: tuple[tuple[str, str], ...] = ()

    def __init__(
        self,
        extension: str,
        source: Source,
        user_agent: str | None,
        contact: str,
        contact_uri: str,
        contact_params: tuple[tuple[str, str | None], ...],
        call_id: str,
        expires: int,
        at: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.extension = extension
        self.source = source
        self.user_agent = user_agent
        self.contact = contact
        self.contact_uri = contact_uri
        self.contact_params = contact_params
        self.call_id = call_id
        self.expires = expires
        self.at = at
        self.headers = headers

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


@dataclass(init=False, unsafe_hash=True)
class BindingCreated(BindingEvent):
    """A new contact was bound to the extension."""


@dataclass(init=False, unsafe_hash=True)
class BindingRefreshed(BindingEvent):
    """An existing binding was re-registered (its expiry moved)."""


@dataclass(init=False, unsafe_hash=True)
class BindingRemoved(BindingEvent):
    """The phone removed a binding (``Expires: 0``, ``expires=0`` or ``Contact: *``)."""


@dataclass(init=False, unsafe_hash=True)
class BindingExpired(BindingEvent):
    """A binding ran out without being refreshed."""


@dataclass(init=False, unsafe_hash=True, slots=True)
class AuthFailed:
    """A REGISTER carried credentials that did not verify (or named no known user).

    ``extension`` is what the sender claimed; it is logged, never revealed to them.
    """

    extension: str
    source: Source
    user_agent: str | None
    reason: str
    at: float

    def __init__(
        self, extension: str, source: Source, user_agent: str | None, reason: str, at: float
    ) -> None:
        self.extension = extension
        self.source = source
        self.user_agent = user_agent
        self.reason = reason
        self.at = at

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


@dataclass(init=False, unsafe_hash=True, slots=True)
class Registered:
    """An authenticated REGISTER was accepted (emitted once per request, after the
    binding events), so a tracker can record the phone even for a fetch-only
    REGISTER that changed no binding."""

    extension: str
    source: Source
    user_agent: str | None
    contacts: tuple[str, ...]
    at: float
    headers: tuple[tuple[str, str], ...] = ()

    def __init__(
        self,
        extension: str,
        source: Source,
        user_agent: str | None,
        contacts: tuple[str, ...],
        at: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.extension = extension
        self.source = source
        self.user_agent = user_agent
        self.contacts = contacts
        self.at = at
        self.headers = headers

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


Event = BindingEvent | AuthFailed | Registered
