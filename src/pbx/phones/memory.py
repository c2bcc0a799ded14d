"""The tracking rules, once, over an in-memory table; and the memory store built on it.

``PhoneTable`` is the single implementation of how a sighting changes the inventory.
``MemoryPhoneStore`` keeps the whole inventory in one (used while the database is
down); the SQL store loads only the rows a batch can touch into one, applies the
batch, and writes back the difference. Both stores therefore follow the same rules
by construction, and one test suite checks them against each other.

Rules (the table's two UNIQUE constraints are kept true after every sighting):

* Look the phone up by (MAC, extension) when the sighting has a MAC, else by
  (IP, extension).
* Found: refresh ``last_registered``, IP, User-Agent, Contact, and learn the MAC if
  the row had none. A known value is never replaced by a missing one.
* Not found: insert with ``first_registered = last_registered = at``.
* A MAC-less sighting whose (IP, extension) row has a MAC updates that row: same
  phone, it just did not repeat its MAC.
* Conflicts, resolved deliberately and logged on ``pbx.phones``:

  - MAC M seen at IP Y where a MAC-less row (Y, E) exists: that row was M all along,
    so it is *adopted* (learns M). If a row (M, E) exists too, the two are *merged*
    into the (M, E) row with the earliest ``first_registered``; the MAC-less row goes.
  - MAC B seen at IP X where the row (A, X, E) of another MAC exists: IP X now
    belongs to B. ``ip_address`` is NOT NULL and (IP, extension) UNIQUE, so A's row
    cannot stay where it is, and moving B into it would turn phone A into phone B
    in the inventory. Decision: A's stale row is *deleted* (its content is logged at
    WARNING, so nothing disappears without trace); A gets a fresh row when it
    registers again from its new address.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pbx.phones.store import ALL, PhoneFilter, PhoneRecord, Sighting

log = logging.getLogger("pbx.phones")


@dataclass(slots=True)
class _Row:
    id: int
    mac_address: str | None
    extension_number: str
    user_agent: str | None
    ip_address: str
    first_registered: datetime | None
    last_registered: datetime | None
    contact_uri: str | None

    @classmethod
    def of(cls, r: PhoneRecord) -> _Row:
        return cls(
            r.id,
            r.mac_address,
            r.extension_number,
            r.user_agent,
            r.ip_address,
            r.first_registered,
            r.last_registered,
            r.contact_uri,
        )

    def record(self) -> PhoneRecord:
        return PhoneRecord(
            self.id,
            self.mac_address,
            self.extension_number,
            self.user_agent,
            self.ip_address,
            self.first_registered,
            self.last_registered,
            self.contact_uri,
        )


@dataclass(frozen=True, slots=True)
class Changes:
    """Net effect of a batch on the rows a table was loaded with (for the SQL store)."""

    deleted: list[int] = field(default_factory=list)
    updated: list[PhoneRecord] = field(default_factory=list)
    inserted: list[PhoneRecord] = field(default_factory=list)
    #: (old, new) rows of ``updated`` whose IP changed, for write ordering.
    moved: list[tuple[PhoneRecord, PhoneRecord]] = field(default_factory=list)


class PhoneTable:
    """Rows of ``registered_phones`` with both unique indexes, and the tracking rules.

    ``next_id`` allocates ids for inserted rows (the memory store counts up; the SQL
    store hands out negative placeholders and lets the database number them).
    """

    def __init__(
        self, rows: Iterable[PhoneRecord] = (), next_id: Callable[[], int] | None = None
    ) -> None:
        self._rows: dict[int, _Row] = {}
        self._by_mac: dict[tuple[str, str], _Row] = {}
        self._by_ip: dict[tuple[str, str], _Row] = {}
        self._original: dict[int, PhoneRecord] = {}
        for record in rows:
            self._original[record.id] = record
            self._add(_Row.of(record))
        if next_id is None:
            counter = itertools.count(max(self._rows, default=0) + 1)
            next_id = counter.__next__
        self._next_id = next_id

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def records(self) -> list[PhoneRecord]:
        """Every row, in listing order."""
        return sorted((r.record() for r in self._rows.values()), key=PhoneRecord.sort_key)

    def changes(self) -> Changes:
        """What happened to the rows the table was created with, net."""
        out = Changes()
        for rid in self._original:
            if rid not in self._rows:
                out.deleted.append(rid)
        for row in self._rows.values():
            old = self._original.get(row.id)
            new = row.record()
            if old is None:
                out.inserted.append(new)
            elif new != old:
                out.updated.append(new)
                if new.ip_address != old.ip_address:
                    out.moved.append((old, new))
        return out

    # -- the rules -----------------------------------------------------------------------

    def apply(self, s: Sighting) -> None:
        """Change the table as one sighting demands (see the module docstring)."""
        ext = s.extension
        at_ip = self._by_ip.get((s.ip_address, ext))
        if s.mac_address is None:
            if at_ip is None:
                self._insert(s)
            else:
                self._refresh(at_ip, s)
            return
        at_mac = self._by_mac.get((s.mac_address, ext))
        if at_mac is None:
            if at_ip is None:
                self._insert(s)
            elif at_ip.mac_address is None:
                log.info(
                    "phone %s@%s: MAC-less row %d adopts MAC %s",
                    ext,
                    s.ip_address,
                    at_ip.id,
                    s.mac_address,
                )
                self._refresh(at_ip, s)
            else:
                self._evict(at_ip, s)
                self._insert(s)
            return
        if at_ip is not None and at_ip is not at_mac:
            if at_ip.mac_address is None:
                log.info(
                    "phone %s MAC %s: merging MAC-less row %d (%s) into row %d",
                    ext,
                    s.mac_address,
                    at_ip.id,
                    s.ip_address,
                    at_mac.id,
                )
                self._remove(at_ip)
                at_mac.first_registered = _earliest(at_mac.first_registered, at_ip.first_registered)
                at_mac.user_agent = at_mac.user_agent or at_ip.user_agent
                at_mac.contact_uri = at_mac.contact_uri or at_ip.contact_uri
            else:
                self._evict(at_ip, s)
        self._refresh(at_mac, s)

    def clear(self) -> int:
        """Forget every row; return how many there were."""
        n = len(self._rows)
        self._rows.clear()
        self._by_mac.clear()
        self._by_ip.clear()
        return n

    # -- mechanics -----------------------------------------------------------------------

    def _evict(self, stale: _Row, s: Sighting) -> None:
        log.warning(
            "IP %s on extension %s now belongs to MAC %s: deleting stale row %r",
            s.ip_address,
            s.extension,
            s.mac_address,
            stale.record(),
        )
        self._remove(stale)

    def _insert(self, s: Sighting) -> None:
        self._add(
            _Row(
                self._next_id(),
                s.mac_address,
                s.extension,
                s.user_agent,
                s.ip_address,
                s.at,
                s.at,
                s.contact_uri,
            )
        )

    def _refresh(self, row: _Row, s: Sighting) -> None:
        ext = row.extension_number
        if row.ip_address != s.ip_address:
            del self._by_ip[(row.ip_address, ext)]
            row.ip_address = s.ip_address
            self._by_ip[(row.ip_address, ext)] = row
        if row.mac_address is None and s.mac_address is not None:
            row.mac_address = s.mac_address
            self._by_mac[(row.mac_address, ext)] = row
        row.last_registered = s.at
        row.user_agent = s.user_agent or row.user_agent
        row.contact_uri = s.contact_uri or row.contact_uri

    def _add(self, row: _Row) -> None:
        self._rows[row.id] = row
        self._by_ip[(row.ip_address, row.extension_number)] = row
        if row.mac_address is not None:
            self._by_mac[(row.mac_address, row.extension_number)] = row

    def _remove(self, row: _Row) -> None:
        del self._rows[row.id]
        del self._by_ip[(row.ip_address, row.extension_number)]
        if row.mac_address is not None:
            del self._by_mac[(row.mac_address, row.extension_number)]


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class MemoryPhoneStore:
    """``PhoneStore`` in process memory: instant, and lost at exit.

    Used when the database is unreachable; it has no I/O, so every method completes
    without yielding except ``iter``, which yields to the loop between batches.
    """

    def __init__(self, rows: Iterable[PhoneRecord] = ()) -> None:
        self._table = PhoneTable(rows)

    async def record(self, sightings: Sequence[Sighting]) -> None:
        for s in sightings:
            self._table.apply(s)

    async def clear(self) -> int:
        return self._table.clear()

    async def list(self, filter: PhoneFilter = ALL) -> list[PhoneRecord]:
        return [r for r in self._table.records() if filter.matches(r)]

    async def iter(self, filter: PhoneFilter = ALL, batch: int = 500) -> AsyncIterator[PhoneRecord]:
        for i, record in enumerate(await self.list(filter), 1):
            yield record
            if i % batch == 0:
                await asyncio.sleep(0)

    async def count(self) -> int:
        return len(self._table)

    async def close(self) -> None:
        return None
