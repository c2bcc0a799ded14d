"""Registrar events -> ``registered_phones`` rows, with group commit and a memory fallback.

Why it is shaped this way:

* **A 200 OK means the row is committed.** ``submit`` returns an awaitable that the
  transport waits for before it answers. Sightings queue up while a transaction is in
  flight and the next transaction takes them all (group commit), so durability costs
  one commit per batch, not per phone.
* **SIP never stops for the database.** When a commit fails because the database is
  unreachable (missing at start-up or lost later), the batch is recorded in an
  in-memory store instead (the API serves it, health says ``fallback``) and remembered.
  A background task retries with exponential backoff; once the database answers, the
  boot cleanup runs if it never did, the remembered sightings are replayed through the
  same tracking rules in order (so nothing is duplicated), and only then does the
  tracker switch back.
* The database is only touched through the ``PhoneStore`` protocol.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

from pbx.phones.identity import identify_mac
from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.sighting import Sighting
from pbx.phones.store import ALL, PhoneFilter, PhoneRecord, PhoneStore
from pbx.sip.events import Event, Registered

log = logging.getLogger("pbx.phones")

#: A commit carrying at least this many phones means the tracker is busy: the next
#: one waits ``commit_delay`` for its batch to fill.
BUSY_BATCH = 4

#: Opens the real store: migrations, connection check. Raises when unreachable.
StoreOpener = Callable[[], Awaitable[PhoneStore]]


def sighting_from(event: Registered, at: datetime) -> Sighting:
    """One authenticated REGISTER as an inventory observation.

    The IP is the packet's real source (a phone behind NAT is where it really comes
    from); the Contact is the first one as sent (None for a fetch or ``Contact: *``, so
    a known Contact is kept); the MAC comes from the identity module's trusted places.
    """
    contact = event.contacts[0] if event.contacts else None
    return Sighting(
        extension=event.extension,
        ip_address=event.source.host,
        mac_address=identify_mac(event.headers),
        user_agent=event.user_agent,
        contact_uri=contact,
        at=at,
    )


def sightings_of(events: Sequence[Event], at: datetime) -> list[Sighting]:
    """The sightings among registrar events (one per ``Registered``), all stamped ``at``.

    A registration that cannot be a row (e.g. an extension longer than the column) is
    logged and left out: the phone still gets its answer.
    """
    sightings: list[Sighting] = []
    for event in events:
        if not isinstance(event, Registered):
            continue
        try:
            sightings.append(sighting_from(event, at))
        except ValueError as exc:
            log.warning("not tracking a registration of %r: %s", event.extension, exc)
    return sightings


class Tracker:
    """Turns ``Registered`` events into committed rows; see the module docstring."""

    def __init__(
        self,
        open_store: StoreOpener,
        *,
        clear_on_boot: bool = True,
        max_batch: int = 2000,
        commit_delay: float = 0.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open_store = open_store
        self._clear_on_boot = clear_on_boot
        self._booted = False
        self._max_batch = max_batch
        self._commit_delay = commit_delay
        self._last_batch = 0
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._clock = clock
        self._store: PhoneStore | None = None
        self._memory = MemoryPhoneStore()
        self._pending: list[Sighting] = []
        self._queue: list[Sighting] = []
        # One future per group commit, shared by every request whose sightings it
        # carries: completing it releases all their responses at once.
        self._waiter: asyncio.Future[None] | None = None
        self._batch_opened = 0.0  # loop time of the first sighting of the open batch
        self._inflight: asyncio.Future[None] | None = None
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.committed = 0
        self.batches = 0

    # ------------------------------------------------------------------ status

    @property
    def state(self) -> str:
        """``connected`` when rows go to the database, ``fallback`` while in memory."""
        return "connected" if self._store is not None else "fallback"

    @property
    def pending(self) -> int:
        """Sightings recorded in memory and not yet written back."""
        return len(self._pending)

    @property
    def store(self) -> PhoneStore:
        """The store the API should read: the database, or memory during an outage."""
        return self._store if self._store is not None else self._memory

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the database (or start in fallback) and start the writer."""
        await self._try_open()
        if self._store is None:
            self._start_reconnect()
        self._tasks.append(asyncio.create_task(self._writer(), name="pbx-tracker-writer"))

    async def close(self) -> None:
        """Flush what is queued, stop the tasks, close the store."""
        await self.flush()
        for task in [*self._tasks, self._reconnecting]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def flush(self) -> None:
        """Wait until everything submitted so far is recorded (for tests and shutdown)."""
        for waiter in (self._inflight, self._waiter):
            if waiter is not None:
                await waiter

    # ------------------------------------------------------------------ intake

    def submit(self, events: tuple[Event, ...]) -> Awaitable[None] | None:
        """Queue the sightings in ``events``; the awaitable completes once recorded."""
        return self.submit_sightings(sightings_of(events, self._clock()))

    def submit_sightings(self, sightings: Sequence[Sighting]) -> Awaitable[None] | None:
        """Queue sightings made elsewhere (a SIP worker process); None when empty."""
        if not sightings:
            return None
        self._queue.extend(sightings)
        if self._waiter is None:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            self._batch_opened = loop.time()
            self._wakeup.set()
        return self._waiter

    # ------------------------------------------------------------------ writing

    async def _writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                if self._last_batch >= BUSY_BATCH and self._commit_delay > 0:
                    # Under load (the last commit carried several phones), let the
                    # batch fill for a moment: a commit has a fixed cost (about a
                    # quarter of a millisecond on SQLite, a round trip on PostgreSQL)
                    # that many small batches pay over and over. At a low rate
                    # batches stay small and nothing waits (PostgreSQL's
                    # commit_siblings idea). The moment counts from the batch's first
                    # phone, so none waits longer than the delay plus one commit.
                    loop = asyncio.get_running_loop()
                    wait = self._batch_opened + self._commit_delay - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                sightings, waiter = self._queue, self._waiter
                self._last_batch = len(sightings)
                self._queue, self._waiter = [], None
                self._inflight = waiter
                try:
                    for start in range(0, len(sightings), self._max_batch):
                        await self._write(sightings[start : start + self._max_batch])
                finally:
                    self._inflight = None
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)

    async def _write(self, sightings: list[Sighting]) -> None:
        try:
            if self._store is not None:
                try:
                    await self._store.record(sightings)
                    self.committed += len(sightings)
                    self.batches += 1
                    return
                except Exception as exc:
                    if not _is_unavailable(exc):
                        raise
                    log.error("database unavailable, tracking in memory: %s", _short(exc))
                    lost, self._store = self._store, None
                    self._start_reconnect()
                    # The reconnect opens a fresh store; release this one's threads and
                    # connections in the background (never hold the answers up for it).
                    closing = asyncio.create_task(_close_quietly(lost))
                    self._closing.add(closing)
                    closing.add_done_callback(self._closing.discard)
            self._pending.extend(sightings)
            await self._memory.record(sightings)
        except Exception:
            log.exception("could not record %d sightings", len(sightings))

    # ------------------------------------------------------------ reconnecting

    def _start_reconnect(self) -> None:
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(
                self._reconnect(), name="pbx-tracker-reconnect"
            )

    async def _try_open(self) -> PhoneStore | None:
        try:
            store = await self._open_store()
        except Exception as exc:
            log.error("database unavailable: %s", _short(exc))
            return None
        try:
            if not self._booted and self._clear_on_boot:
                removed = await store.clear()
                log.info("boot cleanup: removed %d rows from registered_phones", removed)
            self._booted = True
        except Exception as exc:
            log.error("database unavailable during boot cleanup: %s", _short(exc))
            await store.close()
            return None
        if not self._pending:
            self._store = store
        return store

    async def _reconnect(self) -> None:
        delay = self._retry_initial
        store: PhoneStore | None = None
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)
            if store is None:
                store = await self._try_open()
                if store is None:
                    continue
                if self._store is store:  # nothing was pending: already switched
                    log.info("database is back; tracking there again")
                    self._memory = MemoryPhoneStore()
                    return
            try:
                await self._write_back(store)
            except Exception as exc:
                log.error("write-back failed, will retry: %s", _short(exc))
                continue
            log.info("database is back; tracking there again")
            self._store = store
            self._memory = MemoryPhoneStore()
            return

    async def _write_back(self, store: PhoneStore) -> None:
        """Replay the sightings kept in memory, oldest first, in batches.

        New sightings may arrive (into memory) while this runs; the loop ends only when
        none are left, and the caller switches stores without yielding in between.
        """
        while self._pending:
            chunk: Sequence[Sighting] = self._pending[: self._max_batch]
            await store.record(chunk)
            del self._pending[: len(chunk)]
            log.info("wrote back %d sightings (%d left)", len(chunk), len(self._pending))


async def _close_quietly(store: PhoneStore) -> None:
    try:
        await store.close()
    except Exception as exc:
        log.debug("closing the lost store: %s", _short(exc))


def _is_unavailable(exc: BaseException) -> bool:
    """Database errors that mean 'cannot reach it now', as opposed to a bug."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"OperationalError", "InterfaceError", "DisconnectionError"})


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class TrackedStore:
    """A ``PhoneStore`` that always reads whichever store the tracker uses now, so the
    API keeps serving during an outage without knowing there is one."""

    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker

    async def record(self, sightings: Sequence[Sighting]) -> None:
        await self._tracker.store.record(sightings)

    async def clear(self) -> int:
        return await self._tracker.store.clear()

    async def list(self, filter: PhoneFilter = ALL) -> builtins.list[PhoneRecord]:
        return await self._tracker.store.list(filter)

    def iter(self, filter: PhoneFilter = ALL, batch: int = 500) -> AsyncIterator[PhoneRecord]:
        return self._tracker.store.iter(filter, batch)

    async def count(self) -> int:
        return await self._tracker.store.count()

    async def close(self) -> None:
        """The tracker owns the real store and closes it."""
