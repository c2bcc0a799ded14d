"""One suite for every PhoneStore: memory, a SQLite file and a real PostgreSQL.

The tracking rules are asserted row by row, then a seeded random workload checks
that the SQL stores (batched) end exactly where the memory store (one sighting at a
time) ends.
"""

from __future__ import annotations

import logging
import pickle
import random
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.models import UQ_IP_EXTENSION, UQ_MAC_EXTENSION
from pbx.phones.sql import SqlPhoneStore, current_revision, head_revision, upgrade_to_head
from pbx.phones.store import PhoneFilter, PhoneRecord, PhoneStore, Sighting

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
MAC_A, MAC_B, MAC_C = "000b82aaaaaa", "000b82bbbbbb", "000b82cccccc"


def see(
    ext: str = "100",
    ip: str = "10.0.0.1",
    mac: str | None = None,
    *,
    t: float = 0,
    ua: str | None = None,
    contact: str | None = None,
) -> Sighting:
    return Sighting(
        extension=ext,
        ip_address=ip,
        mac_address=mac,
        user_agent=ua,
        contact_uri=contact,
        at=T0 + timedelta(seconds=t),
    )


def at(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


async def only(store: PhoneStore) -> PhoneRecord:
    rows = await store.list()
    assert len(rows) == 1, rows
    return rows[0]


def shape(r: PhoneRecord) -> tuple[Any, ...]:
    """A row without its id (ids differ between backends after deletes)."""
    return (
        r.extension_number,
        r.mac_address,
        r.ip_address,
        r.user_agent,
        r.contact_uri,
        r.first_registered,
        r.last_registered,
    )


# -- basic recording -----------------------------------------------------------------------


async def test_empty_store(store: PhoneStore) -> None:
    assert await store.count() == 0
    assert await store.list() == []
    await store.record([])
    assert await store.count() == 0


async def test_new_phone_is_inserted_with_both_timestamps(store: PhoneStore) -> None:
    await store.record([see(mac=MAC_A, ua="Grandstream HT801", contact="sip:100@10.0.0.1:5060")])
    r = await only(store)
    assert (r.extension_number, r.mac_address, r.ip_address) == ("100", MAC_A, "10.0.0.1")
    assert (r.user_agent, r.contact_uri) == ("Grandstream HT801", "sip:100@10.0.0.1:5060")
    assert r.first_registered == r.last_registered == T0
    assert r.first_registered is not None and r.first_registered.tzinfo == UTC


async def test_refresh_updates_last_registered_only_forward(store: PhoneStore) -> None:
    await store.record([see(mac=MAC_A, ua="fw 1", contact="sip:a@1")])
    first = await only(store)
    await store.record([see(mac=MAC_A, t=60, ua="fw 2", contact="sip:a@2")])
    r = await only(store)
    assert r.id == first.id
    assert (r.first_registered, r.last_registered) == (T0, at(60))
    assert (r.user_agent, r.contact_uri) == ("fw 2", "sip:a@2")


async def test_known_values_are_never_overwritten_by_missing_ones(store: PhoneStore) -> None:
    await store.record([see(mac=MAC_A, ua="Yealink T46", contact="sip:100@10.0.0.1")])
    await store.record([see(mac=None, t=30)])  # same (IP, ext), MAC and UA not repeated
    r = await only(store)
    assert (r.mac_address, r.user_agent, r.contact_uri) == (
        MAC_A,
        "Yealink T46",
        "sip:100@10.0.0.1",
    )
    assert r.last_registered == at(30)


async def test_mac_phone_that_changes_ip_keeps_its_row(store: PhoneStore) -> None:
    await store.record([see(mac=MAC_A, ip="10.0.0.1")])
    before = await only(store)
    await store.record([see(mac=MAC_A, ip="10.0.0.9", t=10)])
    r = await only(store)
    assert (r.id, r.ip_address, r.first_registered, r.last_registered) == (
        before.id,
        "10.0.0.9",
        T0,
        at(10),
    )


async def test_macless_phone_that_changes_ip_gets_a_new_row(store: PhoneStore) -> None:
    await store.record([see(ip="10.0.0.1", ua="Zoiper")])
    await store.record([see(ip="10.0.0.2", t=10, ua="Zoiper")])
    rows = await store.list()
    assert [(r.ip_address, r.first_registered) for r in rows] == [
        ("10.0.0.2", at(10)),
        ("10.0.0.1", T0),
    ]


async def test_phone_on_two_extensions_has_one_row_each(store: PhoneStore) -> None:
    await store.record([see(ext="100", mac=MAC_A), see(ext="101", mac=MAC_A, t=1)])
    rows = await store.list()
    assert sorted((r.extension_number, r.mac_address) for r in rows) == [
        ("100", MAC_A),
        ("101", MAC_A),
    ]


async def test_sightings_of_one_batch_apply_in_order(store: PhoneStore) -> None:
    await store.record(
        [
            see(ip="10.0.0.1", t=0, ua="v1"),  # new, MAC-less
            see(ip="10.0.0.1", mac=MAC_A, t=1, ua="v2"),  # adopts MAC
            see(ip="10.0.0.5", mac=MAC_A, t=2),  # moves, UA kept
            see(ip="10.0.0.5", t=3, contact="sip:x"),  # MAC not repeated
        ]
    )
    r = await only(store)
    assert (r.mac_address, r.ip_address, r.user_agent, r.contact_uri) == (
        MAC_A,
        "10.0.0.5",
        "v2",
        "sip:x",
    )
    assert (r.first_registered, r.last_registered) == (T0, at(3))


# -- conflicts: resolved deliberately, and logged ------------------------------------------


async def test_mac_seen_at_ip_of_macless_row_adopts_it(
    store: PhoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.record([see(ip="10.0.0.7", ua="SPA112")])
    before = await only(store)
    with caplog.at_level(logging.INFO, logger="pbx.phones"):
        await store.record([see(ip="10.0.0.7", mac=MAC_A, t=5)])
    r = await only(store)
    assert (r.id, r.mac_address, r.first_registered, r.user_agent) == (
        before.id,
        MAC_A,
        T0,
        "SPA112",
    )
    assert any("adopts MAC" in m for m in caplog.messages)


async def test_mac_row_and_macless_row_at_its_new_ip_are_merged(
    store: PhoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.record([see(ip="10.0.0.7", t=0, contact="sip:old")])  # MAC-less, earlier
    await store.record([see(ip="10.0.0.1", mac=MAC_A, t=10, ua="HT802")])
    mac_row = (await store.list(PhoneFilter(has_mac=True)))[0]
    with caplog.at_level(logging.INFO, logger="pbx.phones"):
        await store.record([see(ip="10.0.0.7", mac=MAC_A, t=20)])
    r = await only(store)
    assert (r.id, r.mac_address, r.ip_address) == (mac_row.id, MAC_A, "10.0.0.7")
    assert (r.first_registered, r.last_registered) == (T0, at(20))
    assert (r.user_agent, r.contact_uri) == ("HT802", "sip:old")
    assert any("merging MAC-less row" in m for m in caplog.messages)


async def test_ip_taken_by_another_mac_deletes_the_stale_row(
    store: PhoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.record([see(ip="10.0.0.1", mac=MAC_A, ua="old phone")])
    with caplog.at_level(logging.WARNING, logger="pbx.phones"):
        await store.record([see(ip="10.0.0.1", mac=MAC_B, t=5, ua="new phone")])
    r = await only(store)
    assert (r.mac_address, r.user_agent, r.first_registered) == (MAC_B, "new phone", at(5))
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1 and MAC_A in warnings[0].getMessage()


async def test_ip_taken_by_a_known_mac_moves_it_and_deletes_the_stale_row(
    store: PhoneStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.record([see(ip="10.0.0.1", mac=MAC_A), see(ip="10.0.0.2", mac=MAC_B, t=1)])
    b = (await store.list(PhoneFilter(mac=MAC_B)))[0]
    with caplog.at_level(logging.WARNING, logger="pbx.phones"):
        await store.record([see(ip="10.0.0.1", mac=MAC_B, t=5)])
    r = await only(store)
    assert (r.id, r.mac_address, r.ip_address, r.first_registered) == (
        b.id,
        MAC_B,
        "10.0.0.1",
        at(1),
    )
    assert any("deleting stale row" in m for m in caplog.messages)


async def test_ip_shuffle_within_one_batch_keeps_both_rows(store: PhoneStore) -> None:
    """A and B swap addresses through a third one: the SQL store must order its writes."""
    await store.record([see(ip="10.0.0.1", mac=MAC_A), see(ip="10.0.0.2", mac=MAC_B)])
    ids = {r.mac_address: r.id for r in await store.list()}
    await store.record(
        [
            see(ip="10.0.0.3", mac=MAC_B, t=1),
            see(ip="10.0.0.2", mac=MAC_A, t=2),
            see(ip="10.0.0.1", mac=MAC_B, t=3),
        ]
    )
    rows = {r.mac_address: r for r in await store.list()}
    assert {m: (r.id, r.ip_address, r.first_registered) for m, r in rows.items()} == {
        MAC_A: (ids[MAC_A], "10.0.0.2", T0),
        MAC_B: (ids[MAC_B], "10.0.0.1", T0),
    }


async def test_ip_chain_within_one_batch(store: PhoneStore) -> None:
    """B leaves .2 for .3, then A takes .2: the net update of A targets B's old key."""
    await store.record([see(ip="10.0.0.2", mac=MAC_B), see(ip="10.0.0.1", mac=MAC_A)])
    await store.record([see(ip="10.0.0.3", mac=MAC_B, t=1), see(ip="10.0.0.2", mac=MAC_A, t=2)])
    assert sorted((r.mac_address, r.ip_address) for r in await store.list()) == [
        (MAC_A, "10.0.0.2"),
        (MAC_B, "10.0.0.3"),
    ]


# -- reading -------------------------------------------------------------------------------


async def _populate(store: PhoneStore) -> None:
    await store.record(
        [
            see(ext="100", ip="10.0.0.1", mac=MAC_A, t=30),
            see(ext="101", ip="10.0.0.2", t=10),
            see(ext="102", ip="10.0.0.3", mac=MAC_B, t=30),
            see(ext="100", ip="10.0.0.4", t=20),
            see(ext="103", ip="10.0.0.1", mac=MAC_C, t=40),
        ]
    )


async def test_list_order_is_newest_first_then_id(store: PhoneStore) -> None:
    await _populate(store)
    rows = await store.list()
    assert [r.ip_address for r in rows] == [
        "10.0.0.1",
        "10.0.0.1",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.2",
    ]
    assert [r.extension_number for r in rows[:3]] == ["103", "100", "102"]
    assert rows[1].id < rows[2].id  # the tie at t=30 is broken by id


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (PhoneFilter(extension="100"), {"10.0.0.1", "10.0.0.4"}),
        (PhoneFilter(mac=MAC_B), {"10.0.0.3"}),
        (PhoneFilter(ip="10.0.0.1"), {"10.0.0.1"}),
        (PhoneFilter(has_mac=False), {"10.0.0.2", "10.0.0.4"}),
        (PhoneFilter(has_mac=True, extension="100"), {"10.0.0.1"}),
        (PhoneFilter(ip="10.0.0.1", extension="103"), {"10.0.0.1"}),
        (PhoneFilter(extension="999"), set()),
    ],
)
async def test_filters(store: PhoneStore, flt: PhoneFilter, expected: set[str]) -> None:
    await _populate(store)
    rows = await store.list(flt)
    assert {r.ip_address for r in rows} == expected
    assert all(flt.matches(r) for r in rows)


@pytest.mark.parametrize("batch", [1, 2, 3, 500])
async def test_iter_streams_the_same_rows_as_list(store: PhoneStore, batch: int) -> None:
    # many ties on last_registered, so page boundaries fall inside ties
    await store.record([see(ext=str(200 + i), ip=f"10.1.0.{i}", t=i // 3) for i in range(11)])
    streamed = [r async for r in store.iter(batch=batch)]
    assert streamed == await store.list()
    assert len(streamed) == 11
    flt = PhoneFilter(has_mac=False)
    assert [r async for r in store.iter(flt, batch=batch)] == await store.list(flt)


async def test_clear_deletes_everything_and_counts(store: PhoneStore) -> None:
    await _populate(store)
    assert await store.count() == 5
    assert await store.clear() == 5
    assert await store.count() == 0
    assert await store.clear() == 0


# -- the stores agree ----------------------------------------------------------------------


def _workload(seed: int, n: int) -> list[Sighting]:
    """Few extensions, IPs and MACs, so every rule and conflict fires many times."""
    rnd = random.Random(seed)
    macs = [None, None, MAC_A, MAC_B, MAC_C, "000b82dddddd"]
    out = []
    for i in range(n):
        out.append(
            see(
                ext=rnd.choice("12"),
                ip=f"10.0.0.{rnd.randint(1, 4)}",
                mac=rnd.choice(macs),
                t=i,
                ua=rnd.choice([None, "ua1", "ua2"]),
                contact=rnd.choice([None, "sip:c1", "sip:c2"]),
            )
        )
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batched_store_ends_where_one_at_a_time_memory_ends(
    store: PhoneStore, seed: int
) -> None:
    sightings = _workload(seed, 300)
    reference = MemoryPhoneStore()
    for s in sightings:
        await reference.record([s])
    for i in range(0, len(sightings), 37):
        await store.record(sightings[i : i + 37])
    assert [shape(r) for r in await store.list()] == [shape(r) for r in await reference.list()]


async def test_repeated_phones_in_one_batch_fold_like_one_at_a_time(db_url: str) -> None:
    """Batches where the same phones show up several times (a busy group commit): the
    upsert fast path writes one row per phone and must end where applying the
    sightings one at a time ends, timestamps and kept values included."""
    rnd = random.Random(7)
    phones = [("1", "10.0.1.1", MAC_A), ("1", "10.0.1.2", MAC_B), ("2", "10.0.1.3", None),
              ("3", "10.0.1.4", None), ("4", "10.0.1.4", MAC_C)]  # fmt: skip
    sightings = []
    for i in range(400):
        ext, ip, mac = rnd.choice(phones)
        sightings.append(
            see(ext=ext, ip=ip, mac=mac, t=i, ua=rnd.choice([None, "ua1", "ua2"]),
                contact=rnd.choice([None, "sip:c1", "sip:c2"]))
        )  # fmt: skip
    reference = MemoryPhoneStore()
    for s in sightings:
        await reference.record([s])
    store = SqlPhoneStore(db_url)
    try:
        for i in range(0, len(sightings), 50):
            await store.record(sightings[i : i + 50])
        assert store.upsert_batches == 8  # every batch took the fast path
        assert [shape(r) for r in await store.list()] == [shape(r) for r in await reference.list()]
    finally:
        await store.close()


async def test_a_mixed_batch_that_meets_another_key_is_undone_whole(db_url: str) -> None:
    """A batch with phones with and without a MAC (on PostgreSQL one statement of two
    upserts, run in autocommit) whose MAC part meets another row's (IP, extension):
    nothing of it stays, the general rules resolve it, and the connection is back in
    transactions for them (PostgreSQL refuses LOCK TABLE outside one)."""
    first = [see(ext="5", ip="10.0.5.1", mac=MAC_A, t=0), see(ext="6", ip="10.0.6.1", t=0)]
    batch = [
        see(ext="6", ip="10.0.6.1", ua="ua-new", t=1),  # the part without a MAC: fine
        see(ext="5", ip="10.0.5.1", mac=MAC_B, t=1),  # a new MAC at ext 5's IP: conflict
    ]
    reference = MemoryPhoneStore()
    await reference.record(first)
    await reference.record(batch)
    store = SqlPhoneStore(db_url)
    try:
        await store.record(first)
        assert store.upsert_batches == 1
        await store.record(batch)
        assert store.upsert_batches == 1  # the second batch took the general rules
        await store.record([see(ext="7", ip="10.0.7.1", mac=MAC_C, t=2)])
        await reference.record([see(ext="7", ip="10.0.7.1", mac=MAC_C, t=2)])
        assert store.upsert_batches == 2  # and the fast path works after it
        assert [shape(r) for r in await store.list()] == [shape(r) for r in await reference.list()]
    finally:
        await store.close()


async def test_the_fast_path_keeps_awkward_text_exactly(db_url: str) -> None:
    """Values that an array's text form must quote or escape (quotes, backslashes,
    commas, braces, the word NULL, blanks, non-ASCII) come back exactly as sent from
    the upsert fast path (on PostgreSQL a batch travels as column arrays), beside a
    missing value that must stay missing."""
    awkward = ['Yealink "T46U" 66.86', "a\\b,c{d}e", "NULL", "  ", "Grandstream GXP2170 é—ü"]
    batch = [
        see(ext=str(200 + i), ip=f"10.0.9.{i}", mac=mac, t=i, ua=ua, contact=f"sip:{i}@h;x={ua}")
        for i, (ua, mac) in enumerate(zip(awkward, [MAC_A, None, MAC_B, None, None], strict=True))
    ]
    batch.append(see(ext="299", ip="10.0.9.99", t=9))  # no user agent, no contact
    store = SqlPhoneStore(db_url)
    try:
        await store.record(batch)
        assert store.upsert_batches == 1
        got = {r.extension_number: r for r in await store.list()}
        for s in batch:
            row = got[s.extension]
            assert (row.user_agent, row.contact_uri) == (s.user_agent, s.contact_uri)
        assert got["299"].user_agent is None and got["299"].contact_uri is None
    finally:
        await store.close()


# -- sightings are valid by construction ---------------------------------------------------


def test_sighting_normalises_and_refuses() -> None:
    s = Sighting(
        extension=" 100 ",
        ip_address="10.0.0.1",
        mac_address="",
        user_agent="x" * 300,
        contact_uri=None,
        at=datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert (s.extension, s.mac_address, len(s.user_agent or "")) == ("100", None, 255)
    assert s.at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC) and s.at.tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        Sighting("100", "10.0.0.1", None, None, None, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="extension"):
        Sighting("1" * 21, "10.0.0.1", None, None, None, T0)
    with pytest.raises(ValueError, match="needs an extension"):
        Sighting("100", " ", None, None, None, T0)


@pytest.mark.parametrize(
    "sighting",
    [
        Sighting("100", "10.0.0.1", "0004f2a1b2c3", "Polycom", "<sip:100@10.0.0.1>", T0),
        Sighting("100", "::1", None, None, None, T0),
    ],
)
def test_sighting_crosses_a_process_boundary_whole(sighting: Sighting) -> None:
    """SIP workers pickle sightings to the main process (``Sighting.__reduce__``)."""
    copy = pickle.loads(pickle.dumps(sighting, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == sighting and copy is not sighting
    assert [getattr(copy, f.name) for f in fields(Sighting)] == [
        getattr(sighting, f.name) for f in fields(Sighting)
    ]
    assert copy.at.tzinfo == UTC
    with pytest.raises(AttributeError):
        copy.extension = "200"  # type: ignore[misc]


# -- SQL only: storage format, atomicity, schema, migrations -------------------------------


async def test_timestamps_are_stored_as_naive_utc(db_url: str) -> None:
    store = SqlPhoneStore(db_url)
    await store.record(
        [
            Sighting(
                "100",
                "10.0.0.1",
                None,
                None,
                None,
                datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            )
        ]
    )
    with store.engine.connect() as conn:
        raw = conn.execute(text("SELECT first_registered FROM registered_phones")).scalar_one()
    await store.close()
    assert str(raw).startswith("2024-01-01 12:00:00")


async def test_both_times_are_stored_in_one_text_form(db_url: str) -> None:
    """First and last seen of a phone new in the batch, and of one seen twice in it,
    are stored as naive UTC to the microsecond (SQLite: the text SQLAlchemy writes,
    which the read path and text sorting rely on)."""
    first = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    later = datetime(2024, 1, 1, 12, 0, 5, 7, tzinfo=UTC)
    store = SqlPhoneStore(db_url)
    await store.record(
        [
            Sighting("100", "10.0.0.1", None, None, None, first),
            Sighting("200", "10.0.0.2", None, None, None, first),
            Sighting("200", "10.0.0.2", None, None, None, later),
        ]
    )
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extension_number, first_registered, last_registered "
                "FROM registered_phones ORDER BY extension_number"
            )
        ).all()
    await store.close()
    assert [tuple(str(v) for v in row) for row in rows] == [
        ("100", "2024-01-01 12:00:00.123456", "2024-01-01 12:00:00.123456"),
        ("200", "2024-01-01 12:00:00.123456", "2024-01-01 12:00:05.000007"),
    ]


async def test_rows_written_by_scripts_with_null_timestamps_sort_last(db_url: str) -> None:
    store = SqlPhoneStore(db_url)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registered_phones (extension_number, ip_address) "
                "VALUES ('300', '10.9.9.9'), ('301', '10.9.9.8')"
            )
        )
    await store.record([see(ext="100", ip="10.0.0.1")])
    listed = await store.list()
    streamed = [r async for r in store.iter(batch=1)]
    await store.close()
    assert [r.extension_number for r in listed] == ["100", "300", "301"]
    assert streamed == listed and listed[1].last_registered is None


async def test_a_failing_batch_writes_nothing(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'pbx.db'}"
    upgrade_to_head(url)
    store = SqlPhoneStore(url)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON registered_phones "
                "WHEN NEW.extension_number = '666' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        )
    with pytest.raises(Exception, match="refused by test"):
        await store.record([see(ext="100"), see(ext="666")])
    assert await store.count() == 0
    await store.record([see(ext="100")])  # the store is still usable
    assert await store.count() == 1
    await store.close()


def _schema(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    insp = inspect(engine)
    columns = [
        (
            c["name"],
            type(c["type"]).__name__.upper(),
            getattr(c["type"], "length", None),
            c["nullable"],
        )
        for c in insp.get_columns("registered_phones")
    ]
    uniques = sorted(
        (u["name"], tuple(u["column_names"]))
        for u in insp.get_unique_constraints("registered_phones")
    )
    pk = insp.get_pk_constraint("registered_phones")["constrained_columns"]
    engine.dispose()
    return {"columns": columns, "uniques": uniques, "pk": pk}


@pytest.mark.postgres
def test_both_backends_end_with_the_same_schema(tmp_path: Any, fresh_postgres_db: str) -> None:
    lite = f"sqlite:///{tmp_path / 'pbx.db'}"
    for url in (lite, fresh_postgres_db):
        upgrade_to_head(url)
        upgrade_to_head(url)  # idempotent
    pg = _schema(fresh_postgres_db)
    sq = _schema(lite)
    assert sq == pg
    # and it is the users' table, exactly
    assert [c[0] for c in sq["columns"]] == [
        "id",
        "mac_address",
        "extension_number",
        "user_agent",
        "ip_address",
        "first_registered",
        "last_registered",
        "contact_uri",
    ]
    assert {c[0]: c[1:] for c in sq["columns"]} | {"id": None} == {
        "id": None,
        "mac_address": ("VARCHAR", 20, True),
        "extension_number": ("VARCHAR", 20, False),
        "user_agent": ("VARCHAR", 255, True),
        "ip_address": ("VARCHAR", 50, False),
        "first_registered": ("TIMESTAMP", None, True),
        "last_registered": ("TIMESTAMP", None, True),
        "contact_uri": ("VARCHAR", 255, True),
    }
    assert sq["columns"][0][1] == "INTEGER" and sq["pk"] == ["id"]
    assert sq["uniques"] == sorted(
        [
            (UQ_MAC_EXTENSION, ("mac_address", "extension_number")),
            (UQ_IP_EXTENSION, ("ip_address", "extension_number")),
        ]
    )


async def test_a_database_from_before_migrations_is_adopted(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("""CREATE TABLE registered_phones (
            id INTEGER PRIMARY KEY,
            mac_address VARCHAR(20), extension_number VARCHAR(20) NOT NULL,
            user_agent VARCHAR(255), ip_address VARCHAR(50) NOT NULL,
            first_registered TIMESTAMP, last_registered TIMESTAMP, contact_uri VARCHAR(255),
            UNIQUE(mac_address, extension_number), UNIQUE(ip_address, extension_number))""")
        )
        conn.execute(
            text(
                "INSERT INTO registered_phones VALUES (7, 'aabbccddeeff', '100', "
                "'old', '10.0.0.1', '2020-01-01 00:00:00', '2020-01-02 00:00:00', "
                "NULL)"
            )
        )
    upgrade_to_head(url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    engine.dispose()
    store = SqlPhoneStore(url)
    await store.record([see(mac="aabbccddeeff", ip="10.0.0.2")])
    r = await only(store)
    await store.close()
    assert (r.id, r.first_registered, r.ip_address) == (
        7,
        datetime(2020, 1, 1, tzinfo=UTC),
        "10.0.0.2",
    )


@pytest.mark.postgres
async def test_store_survives_a_postgresql_restart(
    migrated_postgres_db: str, postgres_cluster: Any
) -> None:
    """Down: record() raises (the tracker falls back). Up again: the next batch works,
    although the writer's kept connection died with the old server."""
    store = SqlPhoneStore(migrated_postgres_db)
    await store.clear()
    await store.record([see(ext="100")])
    with (
        postgres_cluster.stopped(),
        pytest.raises(Exception, match=r"(?i)connect|terminat|closed"),
    ):
        await store.record([see(ext="101")])
    await store.record([see(ext="102")])
    assert sorted(r.extension_number for r in await store.list()) == ["100", "102"]
    await store.close()
