"""The phone inventory's vocabulary: what we observed, what we keep, and how to ask.

``Sighting`` is one authenticated registration (``sighting.py``, compiled: a SIP
worker builds one per registration); ``PhoneRecord`` is one row of
``registered_phones``; ``PhoneStore`` is the protocol that the memory and SQL stores
implement (``memory.py``, ``sql.py``), so that the tracker and the API never know
which one they hold.

``Sighting``'s constructor enforces the column limits (``sighting.py`` says why).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pbx.phones.sighting import Sighting as Sighting
from pbx.phones.sighting import as_utc as as_utc

#: Sort key used for rows whose ``last_registered`` is NULL (written by a user script):
#: they come last, in both stores.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
