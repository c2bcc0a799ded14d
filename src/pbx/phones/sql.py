"""The inventory in SQLite or PostgreSQL, behind the ``PhoneStore`` protocol.

Design: a *synchronous* SQLAlchemy engine driven from one dedicated writer thread,
exposed as async methods through ``run_in_executor``. Why not an async engine:
sqlite3 has no async driver worth the name (aiosqlite is a thread anyway), psycopg's
sync path is as fast, and a single writer thread serialises every write, so SQLite
never sees two writers of ours and PostgreSQL batches never interleave. Reads go
through a small separate pool so that a listing does not queue behind a commit.

``record`` is a group commit: one transaction per batch. It loads only the rows
the batch can touch (one SELECT), applies the tracking rules of
``memory.PhoneTable`` to them in Python, and writes the net difference with one
DELETE, one executemany UPDATE and one multi-row INSERT. The rules are thus the
memory store's, line for line, and a batch of 500 costs a handful of statements.
Against other writers (users' scripts) the batch holds the write lock from its
first read: ``BEGIN IMMEDIATE`` on SQLite, ``LOCK TABLE ... SHARE ROW EXCLUSIVE``
on PostgreSQL (readers are never blocked).

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable at checkpoints, never
corrupt) and a busy timeout, so an ``sqlite3`` shell reading the file does not break
the registrar.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Row,
    create_engine,
    delete,
    event,
    func,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError

from pbx.phones.checkpoint import CHECKPOINT_INTERVAL, WRITER_BOUND_PAGES, WalCheckpointer
from pbx.phones.memory import Changes, PhoneTable
from pbx.phones.models import registered_phones as T
from pbx.phones.store import ALL, EPOCH, PhoneFilter, PhoneRecord, Sighting
from pbx.stalls import slow_commits

log = logging.getLogger("pbx.phones")

R = TypeVar("R")

#: How long a writer waits for a lock held by someone else (a user's sqlite3 shell).
BUSY_TIMEOUT_MS = 5000
#: Sightings per lookup query (keeps bound parameters far below every backend's limit).
LOOKUP_CHUNK = 500
_EPOCH_NAIVE = EPOCH.replace(tzinfo=None)
#: Upsert rows as ``_HotPath.folded`` returns them.
_Rows = list[tuple[Any, ...]]


# -- migrations ----------------------------------------------------------------------------


def migrations_dir() -> Path:
    """The Alembic folder at the repository root (the project is installed editable)."""
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config() -> Config:
    """An Alembic config built in code, so that no working directory is assumed."""
    cfg = Config(str(migrations_dir() / "alembic.ini"))
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision the database says it is at (None: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(url: str) -> None:
    """Bring the database to the newest schema; called at start-up, idempotent."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


# -- engine --------------------------------------------------------------------------------


def make_engine(url: str) -> Engine:
    """An engine with the connection settings this store relies on.

    SQLite: WAL, synchronous=NORMAL, busy timeout, and transactions begun by us
    (``BEGIN`` or, with the ``sqlite_begin="IMMEDIATE"`` execution option, ``BEGIN
    IMMEDIATE``) instead of pysqlite's implicit, late BEGIN. PostgreSQL: connections
    are checked before use, so the store recovers by itself after a server restart.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _record(row: Row[Any]) -> PhoneRecord:
    m = row._mapping
    return PhoneRecord(
        id=m["id"],
        mac_address=m["mac_address"],
        extension_number=m["extension_number"],
        user_agent=m["user_agent"],
        ip_address=m["ip_address"],
        first_registered=_aware(m["first_registered"]),
        last_registered=_aware(m["last_registered"]),
        contact_uri=m["contact_uri"],
    )


# -- queries -------------------------------------------------------------------------------

_SORT = func.coalesce(T.c.last_registered, literal(_EPOCH_NAIVE, DateTime))

_COLUMNS = (
    "id, mac_address, extension_number, user_agent, ip_address, "
    "first_registered, last_registered, contact_uri"
)


#: Rows per upsert statement: 7 values each stays far below SQLite's 32,766 and
#: PostgreSQL's 65,535 bound parameters.
_UPSERT_ROWS = 500


class _HotPath:
    """Driver-level SQL for ``record()``: the per-row cost of SQLAlchemy's parameter
    processing was most of a 500-sighting batch, so the three statements of a batch
    are plain SQL in the driver's paramstyle with values converted here.

    Timestamps are written as SQLAlchemy's SQLite DATETIME writes them (text
    ``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts correctly as text) and as naive
    datetimes to psycopg; both read paths therefore see one format.
    """

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        p = self.p = "?" if sqlite else "%s"
        self.update = (
            f"UPDATE registered_phones SET mac_address={p}, user_agent={p}, ip_address={p}, "
            f"first_registered={p}, last_registered={p}, contact_uri={p} WHERE id={p}"
        )
        self.insert = (
            "INSERT INTO registered_phones (mac_address, extension_number, user_agent, "
            "ip_address, first_registered, last_registered, contact_uri) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})"
        )
        self.park = f"UPDATE registered_phones SET ip_address={p} WHERE id={p}"
        # The common case as upserts (see ``_upsert``): a phone with a MAC is found by
        # (MAC, extension), one without by (IP, extension); a known value is never
        # replaced by a missing one (COALESCE).
        self._row = f"({p}, {p}, {p}, {p}, {p}, {p}, {p})"
        self._on_mac = (
            " ON CONFLICT (mac_address, extension_number) DO UPDATE SET "
            "ip_address = excluded.ip_address, "
            "user_agent = COALESCE(excluded.user_agent, registered_phones.user_agent), "
            "contact_uri = COALESCE(excluded.contact_uri, registered_phones.contact_uri), "
            "last_registered = excluded.last_registered"
        )
        self._on_ip = (
            " ON CONFLICT (ip_address, extension_number) DO UPDATE SET "
            "user_agent = COALESCE(excluded.user_agent, registered_phones.user_agent), "
            "contact_uri = COALESCE(excluded.contact_uri, registered_phones.contact_uri), "
            "last_registered = excluded.last_registered"
        )
        self._upserts: dict[tuple[int, bool], str] = {}
        # PostgreSQL takes a whole batch as seven arrays, one parameter per column:
        # psycopg adapts seven lists instead of seven values a row (its client-side
        # CPU per row halved, measured: 23 -> 11 µs on 500-row batches), and the text
        # is the same whatever the batch size, so psycopg prepares it once. The arrays
        # go in binary (%b): psycopg writes a text array in Python, quoting and
        # escaping element by element with regular expressions (8.4 µs a row, 50-row
        # batches), and a binary one in 1.4 µs; the server parses it more cheaply too.
        self._unnest = (
            f"{self.insert.partition(' VALUES ')[0]} SELECT * FROM unnest("
            "%b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], "
            "%b::timestamp[], %b::timestamp[], %b::varchar[])"
        )
        # One row each (bench/drivers.py measures drivers with these).
        self.upsert_mac = self.insert + self._on_mac
        self.upsert_ip = self.insert + self._on_ip

    def upsert(self, rows: int, by_mac: bool) -> str:
        """SQLite: one statement upserting ``rows`` rows (7 values each), keyed by MAC
        or IP (PostgreSQL takes arrays instead: ``upsert_columns``).

        One statement, not ``executemany``: the driver lets go of the interpreter lock
        around every statement it runs, and under load each time it wants the lock
        back it waits for the event loop's switch interval. One statement per batch
        is one wait instead of one per phone.
        """
        key = (rows, by_mac)
        statement = self._upserts.get(key)
        if statement is None:
            values = ", ".join([self._row] * rows)
            statement = f"{self.insert.partition(' VALUES ')[0]} VALUES {values}"
            statement += self._on_mac if by_mac else self._on_ip
            if len(self._upserts) < 256:
                self._upserts[key] = statement
        return statement

    def upsert_columns(self, by_mac: bool) -> str:
        """PostgreSQL: one statement upserting any number of rows given as seven
        column arrays (see ``columns``), keyed by MAC or IP."""
        return self._unnest + (self._on_mac if by_mac else self._on_ip)

    def upsert_both_columns(self) -> str:
        """PostgreSQL: both upserts as one statement (the MAC-keyed one in a WITH),
        fourteen arrays: the rows with a MAC, then those without.

        One statement is one round trip in autocommit, and atomic on its own. Its
        two parts share a snapshot, which is harmless here: ``_upsert`` only takes
        this path when they touch different extensions, and both unique keys
        include the extension, so neither part can meet a row of the other.
        """
        return f"WITH by_mac AS ({self.upsert_columns(True)} RETURNING 1) " + (
            self.upsert_columns(False)
        )

    @staticmethod
    def columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
        """``rows`` (as ``folded`` returns them) turned into the seven column lists
        that ``upsert_columns`` takes."""
        return [list(column) for column in zip(*rows, strict=True)]

    def folded(self, sightings: Sequence[Sighting], by_mac: bool) -> _Rows | None:
        """The upsert rows for ``sightings``, one per key: what running their upserts
        one after another would leave (later values win, missing ones keep earlier
        ones, first seen and last seen times). A statement may not touch a row twice
        (PostgreSQL refuses), hence one row per key.

        None when a phone with a MAC shows up at two IPs within the batch: the
        intermediate row could meet another row's (IP, extension), so that batch
        goes through the general rules instead.
        """
        merged: dict[tuple[str | None, str], list[Any]] = {}
        for s in sightings:
            key = (s.mac_address if by_mac else s.ip_address, s.extension)
            row = merged.get(key)
            if row is None:
                merged[key] = [
                    s.mac_address, s.extension, s.user_agent, s.ip_address, s.at, s.at,
                    s.contact_uri,
                ]  # fmt: skip
                continue
            if row[3] != s.ip_address:
                return None
            if s.user_agent is not None:
                row[2] = s.user_agent
            if s.contact_uri is not None:
                row[6] = s.contact_uri
            row[5] = s.at
        ts = self.ts_out
        out: _Rows = []
        for r in merged.values():
            # A phone seen once in the batch (nearly all) has one time for both
            # columns: converted once, not twice (half the cost of this method).
            first = ts(r[4])
            last = first if r[5] is r[4] else ts(r[5])
            out.append((r[0], r[1], r[2], r[3], first, last, r[6]))
        return out

    def sighting_params(self, s: Sighting) -> tuple[Any, ...]:
        at = self.ts_out(s.at)
        return (s.mac_address, s.extension, s.user_agent, s.ip_address, at, at, s.contact_uri)

    def select_where_in(self, column: str, n: int) -> str:
        marks = ", ".join([self.p] * n)
        return f"SELECT {_COLUMNS} FROM registered_phones WHERE {column} IN ({marks})"

    def delete_ids(self, n: int) -> str:
        return f"DELETE FROM registered_phones WHERE id IN ({', '.join([self.p] * n)})"

    def ts_out(self, value: datetime | None) -> datetime | str | None:
        if value is None:
            return None
        if self.sqlite and value.tzinfo is UTC:
            # A Sighting's time is always in UTC (``as_utc``): its ISO text without
            # the "+00:00" is the same text, a third cheaper than converting first.
            return value.isoformat(" ", "microseconds")[:26]
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    @staticmethod
    def ts_in(value: datetime | str | None) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def record(self, row: Sequence[Any]) -> PhoneRecord:
        return PhoneRecord(
            row[0], row[1], row[2], row[3], row[4], self.ts_in(row[5]), self.ts_in(row[6]), row[7]
        )

    def update_params(self, r: PhoneRecord) -> tuple[Any, ...]:
        return (
            r.mac_address,
            r.user_agent,
            r.ip_address,
            self.ts_out(r.first_registered),
            self.ts_out(r.last_registered),
            r.contact_uri,
            r.id,
        )

    def insert_params(self, r: PhoneRecord) -> tuple[Any, ...]:
        return (
            r.mac_address,
            r.extension_number,
            r.user_agent,
            r.ip_address,
            self.ts_out(r.first_registered),
            self.ts_out(r.last_registered),
            r.contact_uri,
        )


def _where(f: PhoneFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.extension is not None:
        out.append(T.c.extension_number == f.extension)
    if f.mac is not None:
        out.append(T.c.mac_address == f.mac)
    if f.ip is not None:
        out.append(T.c.ip_address == f.ip)
    if f.has_mac is not None:
        out.append(T.c.mac_address.is_not(None) if f.has_mac else T.c.mac_address.is_(None))
    return out


def _chunks(items: Sequence[R], size: int) -> Iterable[Sequence[R]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Cursor:
    """A streaming SELECT of the listing, used from one thread only."""

    def __init__(self, engine: Engine, filter: PhoneFilter, batch: int) -> None:
        self._batch = batch
        self._conn = engine.connect().execution_options(stream_results=True, yield_per=batch)
        query = select(T).where(*_where(filter)).order_by(_SORT.desc(), T.c.id)
        self._result = self._conn.execute(query)

    def next_batch(self) -> builtins.list[PhoneRecord]:
        return [_record(row) for row in self._result.fetchmany(self._batch)]

    def close(self) -> None:
        self._result.close()
        self._conn.close()


class SqlPhoneStore:
    """``PhoneStore`` over a SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).

    The schema must exist: call ``upgrade_to_head(url)`` first (start-up does).
    Database errors propagate to the caller (the tracker falls back to memory).
    """

    def __init__(
        self,
        url: str,
        *,
        readers: int = 2,
        checkpoint_interval: float = CHECKPOINT_INTERVAL,
        wal_bound_pages: int = WRITER_BOUND_PAGES,
    ) -> None:
        self._engine = make_engine(url)
        self._postgres = self._engine.dialect.name == "postgresql"
        sqlite = self._engine.dialect.name == "sqlite"
        self._sql = _HotPath(sqlite=sqlite)
        #: Batches written by the upsert fast path (the rest took the general rules).
        self.upsert_batches = 0
        #: SQLite: the WAL checkpoints, off the writer's commits (``pbx.phones.checkpoint``).
        self.checkpointer = WalCheckpointer(self._engine, checkpoint_interval) if sqlite else None
        self._wal_bound_pages = int(wal_bound_pages)
        #: Commits that held their phones' answers past SIP's retransmission timer.
        self.slow_commits = slow_commits()
        self._conn: Connection | None = None  # the writer thread's own connection
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pbx-phones-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="pbx-phones-reader")

    @property
    def engine(self) -> Engine:
        """The engine, for checks and tests; writes must go through the store."""
        return self._engine

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- protocol ----------------------------------------------------------------------

    async def record(self, sightings: Sequence[Sighting]) -> None:
        if sightings:
            await self._run(self._writer, self._record_sync, builtins.list(sightings))

    async def clear(self) -> int:
        return await self._run(self._writer, self._clear_sync)

    async def list(self, filter: PhoneFilter = ALL) -> builtins.list[PhoneRecord]:
        return await self._run(self._readers, self._list_sync, filter)

    async def iter(self, filter: PhoneFilter = ALL, batch: int = 500) -> AsyncIterator[PhoneRecord]:
        """One query, one sort, read ``batch`` rows at a time through a cursor.

        The cursor lives on a thread of its own for the life of the listing (a
        sqlite3 connection must stay on the thread that opened it), and the listing
        is one consistent snapshot. Paging with LIMIT instead re-sorted the whole
        table for every page: 100,000 phones took 9 s to the last byte.
        """
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1, thread_name_prefix="pbx-phones-stream")
        cursor: _Cursor | None = None
        try:
            cursor = await loop.run_in_executor(thread, _Cursor, self._engine, filter, batch)
            while True:
                rows = await loop.run_in_executor(thread, cursor.next_batch)
                for record in rows:
                    yield record
                if len(rows) < batch:
                    return
        finally:
            if cursor is not None:
                await loop.run_in_executor(thread, cursor.close)
            thread.shutdown(wait=False)

    async def count(self) -> int:
        return await self._run(self._readers, self._count_sync)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._close_sync)

    # -- synchronous work, on the executor threads -------------------------------------

    def _in_write_transaction(self, work: Callable[[Connection], R]) -> R:
        """Run ``work`` in one write transaction on the writer's persistent connection.

        Keeping the connection saves a pool checkout and a ping per batch. When it
        turns out to be dead (server restarted), the batch, which was rolled back, is
        retried once on a fresh connection; any other error goes to the caller.
        """
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._writer_connection()
            conn = self._conn
            try:
                with conn.begin():
                    if self._postgres:
                        conn.exec_driver_sql(
                            "LOCK TABLE registered_phones IN SHARE ROW EXCLUSIVE MODE"
                        )
                    return work(conn)
            except DBAPIError as e:
                if e.connection_invalidated or conn.invalidated:
                    self._conn = None
                    conn.close()
                    if attempt == 1:
                        log.warning("database connection lost; retrying the batch once")
                        continue
                raise
        raise AssertionError("unreachable")

    def _writer_connection(self) -> Connection:
        """The writer's kept connection: ``BEGIN IMMEDIATE`` transactions, and on SQLite
        a checkpoint inside its commits only past ``wal_bound_pages`` (the checkpointer
        thread runs them; ``pbx.phones.checkpoint`` says why both)."""
        conn = self._engine.connect()
        conn.execution_options(sqlite_begin="IMMEDIATE")
        if self.checkpointer is not None:
            conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                f"PRAGMA wal_autocheckpoint={self._wal_bound_pages}"
            )
        return conn

    def _record_sync(self, sightings: builtins.list[Sighting]) -> None:
        started = time.monotonic()
        try:
            self._record_batch(sightings)
        finally:
            if self.checkpointer is not None:
                self.checkpointer.written()
        self.slow_commits.observe(time.monotonic() - started, len(sightings))

    def _record_batch(self, sightings: builtins.list[Sighting]) -> None:
        if self._upsert(sightings):
            self.upsert_batches += 1
            return

        def work(conn: Connection) -> None:
            placeholder = itertools.count(-1, -1)
            rows = self._load(conn, sightings).values()
            table = PhoneTable(rows, next_id=placeholder.__next__)
            for s in sightings:
                table.apply(s)
            self._write(conn, table.changes())

        self._in_write_transaction(work)

    def _upsert(self, sightings: Sequence[Sighting]) -> bool:
        """The fast path: the whole batch as upserts in one transaction, on the driver.

        It gives the same result as the rules in ``memory.PhoneTable`` whenever no
        sighting meets a row of the *other* unique key (a MAC appearing at the IP of
        another row of the extension: adoption, merge, eviction). Such a conflict
        raises IntegrityError, the transaction is rolled back, and the caller runs the
        general path, which resolves and logs it. The MAC-keyed and IP-keyed upserts
        run one after the other (on PostgreSQL as the two parts of one statement), so
        they may only be split when no extension has sightings of both kinds (rows,
        and so order, never cross extensions).

        The statements go straight to the DBAPI connection under the writer's
        persistent SQLAlchemy connection: for a batch of one, SQLAlchemy's transaction
        and savepoint bookkeeping cost more than the write itself. A connection found
        dead is replaced and the batch tried once more, as in the general path.
        """
        sql = self._sql
        mac_sightings = [s for s in sightings if s.mac_address is not None]
        ip_sightings = [s for s in sightings if s.mac_address is None]
        if (
            mac_sightings
            and ip_sightings
            and {s.extension for s in mac_sightings} & {s.extension for s in ip_sightings}
        ):
            return False
        with_mac = sql.folded(mac_sightings, by_mac=True)
        without = sql.folded(ip_sightings, by_mac=False)
        if with_mac is None or without is None:
            return False
        dbapi = self._engine.dialect.loaded_dbapi
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._writer_connection()
            raw: Any = self._conn.connection.dbapi_connection
            try:
                if self._postgres:
                    self._upsert_postgres(raw, with_mac, without)
                else:
                    self._upsert_sqlite(raw, with_mac, without)
                return True
            except dbapi.IntegrityError:
                return False
            except (dbapi.OperationalError, dbapi.InterfaceError):
                dead, self._conn = self._conn, None
                if dead is not None:  # not already dropped by _upsert_postgres
                    dead.invalidate()
                if attempt == 1:
                    log.warning("database connection lost; retrying the batch once")
                    continue
                raise
        raise AssertionError("unreachable")

    def _upsert_sqlite(self, raw: Any, with_mac: _Rows, without: _Rows) -> None:
        """The fast path's statements in one ``BEGIN IMMEDIATE`` transaction."""
        sql = self._sql
        cursor = raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for rows, by_mac in ((with_mac, True), (without, False)):
                for chunk in _chunks(rows, _UPSERT_ROWS):
                    flat = [value for row in chunk for value in row]
                    cursor.execute(sql.upsert(len(chunk), by_mac), flat)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        cursor.close()

    def _upsert_postgres(self, raw: Any, with_mac: _Rows, without: _Rows) -> None:
        """The fast path as one statement run in autocommit: one round trip.

        In a transaction psycopg sends BEGIN, the statement and COMMIT as three round
        trips, and under load each is a wait for the PostgreSQL backend and then for
        this thread to be scheduled again; a batch of 190 phones at 10,000/s took 14
        ms to commit, most of it waiting. A single statement is atomic and, with
        ``synchronous_commit`` on, durable when its answer arrives. The connection
        goes back to transactions for the general path; if it cannot (it broke
        mid-statement), it is dropped.
        """
        sql = self._sql
        if with_mac and without:
            statement = sql.upsert_both_columns()
            params = [*sql.columns(with_mac), *sql.columns(without)]
        else:
            by_mac = bool(with_mac)
            statement = sql.upsert_columns(by_mac)
            params = sql.columns(with_mac if by_mac else without)
        raw.autocommit = True
        try:
            with raw.cursor() as cursor:
                cursor.execute(statement, params)
        finally:
            try:
                raw.autocommit = False
            except Exception:
                # Not idle: the statement broke off with the connection. The caller
                # sees the driver's error; never reuse a connection in autocommit.
                dead, self._conn = self._conn, None
                if dead is not None:
                    dead.invalidate()

    def _load(self, conn: Connection, sightings: Sequence[Sighting]) -> dict[int, PhoneRecord]:
        """Every row a sighting of the batch could find, before or after others moved.

        Two lookups, by IP and by MAC, each on the leading column of its UNIQUE index:
        a superset (other extensions come along) that the planner serves with one index
        probe per value. Filtering on the extension too makes SQLite probe the cross
        product of both IN lists (measured: 40 times slower for 500 sightings).
        """
        found: dict[int, PhoneRecord] = {}
        for chunk in _chunks(sightings, LOOKUP_CHUNK):
            ips = tuple({s.ip_address for s in chunk})
            macs = tuple({s.mac_address for s in chunk if s.mac_address is not None})
            for column, values in (("ip_address", ips), ("mac_address", macs)):
                if not values:
                    continue
                sql = self._sql.select_where_in(column, len(values))
                for row in conn.exec_driver_sql(sql, values):
                    if row[0] not in found:
                        found[row[0]] = self._sql.record(row)
        return found

    def _write(self, conn: Connection, ch: Changes) -> None:
        """Apply the net difference; every intermediate state keeps both constraints.

        Deletes go first (they free keys), then updates, then inserts. Rows that move
        onto an IP another moved row is leaving (a DHCP shuffle within one batch) are
        first parked on a placeholder IP unique to the row, inside the transaction.
        """
        sql = self._sql
        for ids in _chunks(ch.deleted, 500):
            conn.exec_driver_sql(sql.delete_ids(len(ids)), tuple(ids))
        leaving = {(old.ip_address, old.extension_number) for old, _new in ch.moved}
        parked = [
            (f"~moving~{new.id}", new.id)
            for _old, new in ch.moved
            if (new.ip_address, new.extension_number) in leaving
        ]
        if parked:
            conn.exec_driver_sql(sql.park, parked)
        if ch.updated:
            conn.exec_driver_sql(sql.update, [sql.update_params(r) for r in ch.updated])
        if ch.inserted:
            conn.exec_driver_sql(sql.insert, [sql.insert_params(r) for r in ch.inserted])

    def _clear_sync(self) -> int:
        removed = self._in_write_transaction(lambda conn: int(conn.execute(delete(T)).rowcount))
        if self.checkpointer is not None:
            self.checkpointer.written()
        return removed

    def _list_sync(self, filter: PhoneFilter) -> builtins.list[PhoneRecord]:
        query = select(T).where(*_where(filter)).order_by(_SORT.desc(), T.c.id)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _count_sync(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(T)).scalar_one())

    def _close_sync(self) -> None:
        self._writer.submit(self._drop_connection).result()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._engine.dispose()
