"""The phone inventory's vocabulary: what we observed, what we keep, and how to ask.

``Sighting`` is one authenticated registration; ``PhoneRecord`` is one row of
``registered_phones``; ``PhoneStore`` is the protocol that the memory and SQL stores
implement (``memory.py``, ``sql.py``), so that the tracker and the API never know
which one they hold.

Constructors normalise and enforce the column limits (h11 style): a sighting that
PostgreSQL would reject (a VARCHAR overflow) cannot exist, so one bad phone can
never make a whole group commit fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

#: Column widths of ``registered_phones`` (the users' schema, kept exactly).
MAC_LEN = 20
EXTENSION_LEN = 20
USER_AGENT_LEN = 255
IP_LEN = 50
CONTACT_LEN = 255

#: Sort key used for rows whose ``last_registered`` is NULL (written by a user script):
#: they come last, in both stores.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(UTC)


def _limited(name: str, value: str | None, limit: int, *, truncate: bool) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit:
        if truncate:
            return value[:limit]
        raise ValueError(f"{name} longer than {limit} characters: {value[:60]!r}")
    return value


@dataclass(frozen=True, slots=True)
class Sighting:
    """One authenticated registration observed: the unit the store records.

    ``mac_address`` is the identity module's normalised MAC (or None when the phone
    revealed none). Free text (User-Agent, Contact) is cut to its column width;
    identifiers (extension, IP, MAC) that do not fit are refused.
    """

    extension: str
    ip_address: str
    mac_address: str | None
    user_agent: str | None
    contact_uri: str | None
    at: datetime

    def __post_init__(self) -> None:
        ext = _limited("extension", self.extension, EXTENSION_LEN, truncate=False)
        ip = _limited("ip_address", self.ip_address, IP_LEN, truncate=False)
        if ext is None or ip is None:
            raise ValueError("a sighting needs an extension and an IP address")
        set_ = object.__setattr__
        set_(self, "extension", ext)
        set_(self, "ip_address", ip)
        set_(
            self, "mac_address", _limited("mac_address", self.mac_address, MAC_LEN, truncate=False)
        )
        set_(
            self,
            "user_agent",
            _limited("user_agent", self.user_agent, USER_AGENT_LEN, truncate=True),
        )
        set_(
            self,
            "contact_uri",
            _limited("contact_uri", self.contact_uri, CONTACT_LEN, truncate=True),
        )
        set_(self, "at", as_utc(self.at))

    def __reduce__(self) -> tuple[Callable[..., Sighting], tuple[Any, ...]]:
        """Pickle as a plain tuple: SIP workers send every sighting to the main process,
        and the dataclass default (a state dict per object, checks on load) cost about
        three times as much both ways. The fields were checked when it was built."""
        return _restore_sighting, (
            self.extension,
            self.ip_address,
            self.mac_address,
            self.user_agent,
            self.contact_uri,
            self.at,
        )


def _restore_sighting(
    extension: str,
    ip_address: str,
    mac_address: str | None,
    user_agent: str | None,
    contact_uri: str | None,
    at: datetime,
) -> Sighting:
    sighting = object.__new__(Sighting)
    set_ = object.__setattr__
    set_(sighting, "extension", extension)
    set_(sighting, "ip_address", ip_address)
    set_(sighting, "mac_address", mac_address)
    set_(sighting, "user_agent", user_agent)
    set_(sighting, "contact_uri", contact_uri)
    set_(sighting, "at", at)
    return sighting


@dataclass(frozen=True, slots=True)
class PhoneRecord:
    """One row of ``registered_phones``; datetimes are aware UTC (None only when a
    user script wrote NULL)."""

    id: int
    mac_address: str | None
    extension_number: str
    user_agent: str | None
    ip_address: str
    first_registered: datetime | None
    last_registered: datetime | None
    contact_uri: str | None

    def sort_key(self) -> tuple[float, int]:
        """Newest ``last_registered`` first, then id: the order every listing uses."""
        last = self.last_registered or EPOCH
        return (-last.timestamp(), self.id)


@dataclass(frozen=True, slots=True)
class PhoneFilter:
    """What to list; every field is optional and they combine with AND.

    ``has_mac`` True keeps only phones whose MAC is known, False only those without.
    """

    extension: str | None = None
    mac: str | None = None
    ip: str | None = None
    has_mac: bool | None = None

    def matches(self, record: PhoneRecord) -> bool:
        """The same predicate the SQL store turns into a WHERE clause."""
        if self.extension is not None and record.extension_number != self.extension:
            return False
        if self.mac is not None and record.mac_address != self.mac:
            return False
        if self.ip is not None and record.ip_address != self.ip:
            return False
        return self.has_mac is None or (record.mac_address is not None) == self.has_mac


ALL = PhoneFilter()


class PhoneStore(Protocol):
    """The inventory as the rest of the program sees it.

    ``record`` applies a whole batch in one transaction (group commit) following the
    tracking rules of ``memory.PhoneTable``; listings are ordered newest
    ``last_registered`` first, then by id.
    """

    async def record(self, sightings: Sequence[Sighting]) -> None:
        """Apply the sightings, in order, all in one transaction."""
        ...

    async def clear(self) -> int:
        """Delete every row (one DELETE) and return how many there were."""
        ...

    async def list(self, filter: PhoneFilter = ALL) -> list[PhoneRecord]:
        """Every matching phone, in listing order."""
        ...

    def iter(self, filter: PhoneFilter = ALL, batch: int = 500) -> AsyncIterator[PhoneRecord]:
        """Stream matching phones in listing order, holding at most ``batch`` in memory."""
        ...

    async def count(self) -> int:
        """How many rows the inventory holds."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...
