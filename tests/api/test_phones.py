"""The listing endpoints: exact shape, timestamps, order, filters, MAC and IP spellings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pbx.api.schemas import PhonePublic
from pbx.phones.store import PhoneStore
from tests.api.conftest import PHONE_KEYS, SEED_KEYS, T0, Phones, seed, sighting

LIST = "/api/registered-phones"


def get_list(client: TestClient, url: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, list)
    return body


def macs(rows: list[dict[str, Any]]) -> list[str | None]:
    return [row["mac_address"] for row in rows]


def ips(rows: list[dict[str, Any]]) -> list[str]:
    return [row["ip_address"] for row in rows]


def test_keys_are_the_table_columns_in_order_then_live_state(
    client: TestClient, seeded: Phones
) -> None:
    rows = get_list(client, LIST)
    assert len(rows) == 4
    for row in rows:
        assert list(row)[: len(SEED_KEYS)] == SEED_KEYS
        assert list(row) == PHONE_KEYS


def test_openapi_model_declares_the_same_keys_in_the_same_order() -> None:
    assert list(PhonePublic.model_fields) == PHONE_KEYS


def test_a_phone_object_in_full(client: TestClient, seeded: Phones) -> None:
    first = get_list(client, LIST)[0]
    assert isinstance(first["id"], int)
    assert {k: v for k, v in first.items() if k != "id"} == {
        "mac_address": "0004f28e5a79",
        "extension_number": "1001",
        "user_agent": "PolycomVVX-VVX_411-UA/5.9.5.0614_0004f28e5a79",
        "ip_address": "192.0.2.10",
        "first_registered": "2026-11-27T16:00:00Z",
        "last_registered": "2026-11-27T16:01:00Z",
        "contact_uri": "sip:1001@192.0.2.10:5060",
        "registered": True,
        "expires_at": "2026-11-27T16:35:00Z",
    }


def test_timestamps_are_iso_utc_with_z_and_round_trip(client: TestClient, seeded: Phones) -> None:
    rows = get_list(client, LIST)
    by_ip = {row["ip_address"]: row for row in rows}
    # Fractional seconds are kept, not rounded away.
    assert by_ip["192.0.2.13"]["last_registered"] == "2026-11-27T16:00:20.500000Z"
    assert by_ip["2001:db8::12"]["expires_at"] == "2026-11-27T16:31:30.250000Z"
    for row, s in zip(rows, seeded.in_order, strict=True):
        assert datetime.fromisoformat(row["last_registered"]) == s.at
        for key in ("first_registered", "last_registered", "expires_at"):
            value = row[key]
            assert value is None or (value.endswith("Z") and "+" not in value)
    assert datetime.fromisoformat(by_ip["192.0.2.10"]["first_registered"]) == T0


def test_listing_is_newest_last_registered_first(client: TestClient, seeded: Phones) -> None:
    rows = get_list(client, LIST)
    assert ips(rows) == [s.ip_address for s in seeded.in_order]
    stamps = [row["last_registered"] for row in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_registered_and_expires_at_follow_live_bindings(client: TestClient, seeded: Phones) -> None:
    state = {
        row["ip_address"]: (row["registered"], row["expires_at"]) for row in get_list(client, LIST)
    }
    assert state == {
        "192.0.2.10": (True, "2026-11-27T16:35:00Z"),
        "192.0.2.11": (False, None),  # binding expired one second before NOW
        "192.0.2.13": (False, None),  # never bound
        "2001:db8::12": (True, "2026-11-27T16:31:30.250000Z"),
    }


def test_empty_inventory_is_an_empty_array(client: TestClient) -> None:
    response = client.get(LIST)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"extension": "1001"}, ["192.0.2.10", "192.0.2.11"]),
        ({"extension": "1002"}, ["2001:db8::12"]),
        ({"extension": "4242"}, []),
        ({"has_mac": "true"}, ["192.0.2.10", "192.0.2.11", "192.0.2.13"]),
        ({"has_mac": "false"}, ["2001:db8::12"]),
        ({"stale": "true"}, ["192.0.2.11", "192.0.2.13"]),
        ({"stale": "false"}, ["192.0.2.10", "2001:db8::12"]),
        ({"ip": "192.0.2.13"}, ["192.0.2.13"]),
        ({"ip": "2001:DB8:0:0:0:0:0:12"}, ["2001:db8::12"]),
        ({"mac": "C0:74:AD:CA:6F:20"}, ["192.0.2.11"]),
        ({"extension": "1001", "stale": "false"}, ["192.0.2.10"]),
        ({"extension": "1001", "has_mac": "false"}, []),
        ({"mac": "0004f28e5a79", "extension": "1003"}, []),
    ],
)
def test_query_filters(
    client: TestClient, seeded: Phones, params: dict[str, str], expected: list[str]
) -> None:
    assert ips(get_list(client, LIST, **params)) == expected


def test_extension_endpoint_newest_first(client: TestClient, seeded: Phones) -> None:
    rows = get_list(client, f"{LIST}/extension/1001")
    assert macs(rows) == ["0004f28e5a79", "c074adca6f20"]
    assert all(row["extension_number"] == "1001" for row in rows)
    assert all(list(row) == PHONE_KEYS for row in rows)


def test_extension_endpoint_unknown_is_empty(client: TestClient, seeded: Phones) -> None:
    assert get_list(client, f"{LIST}/extension/9999") == []


MAC_SPELLINGS = [
    "0004f28e5a79",
    "0004F28E5A79",
    "00:04:f2:8e:5a:79",
    "00:04:F2:8E:5A:79",
    "00-04-f2-8e-5a-79",
    "00-04-F2-8E-5A-79",
    "0004.f28e.5a79",
    "0004.F28E.5A79",
]


@pytest.mark.parametrize("spelling", MAC_SPELLINGS)
def test_mac_endpoint_accepts_every_spelling(
    client: TestClient, seeded: Phones, spelling: str
) -> None:
    rows = get_list(client, f"{LIST}/mac/{spelling}")
    assert ips(rows) == ["192.0.2.10"]
    assert macs(rows) == ["0004f28e5a79"]


@pytest.mark.parametrize("spelling", MAC_SPELLINGS)
def test_mac_query_accepts_every_spelling(
    client: TestClient, seeded: Phones, spelling: str
) -> None:
    assert ips(get_list(client, LIST, mac=spelling)) == ["192.0.2.10"]


def test_mac_endpoint_unknown_mac_is_empty(client: TestClient, seeded: Phones) -> None:
    assert get_list(client, f"{LIST}/mac/00:11:22:33:44:55") == []


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("192.0.2.11", "192.0.2.11"),
        ("2001:db8::12", "2001:db8::12"),
        ("2001:DB8::12", "2001:db8::12"),
        ("2001:0db8:0000:0000:0000:0000:0000:0012", "2001:db8::12"),
        ("[2001:db8::12]", "2001:db8::12"),
        ("::ffff:192.0.2.11", "192.0.2.11"),
    ],
)
def test_ip_endpoint_normalises_the_address(
    client: TestClient, seeded: Phones, spelling: str, stored: str
) -> None:
    assert ips(get_list(client, f"{LIST}/ip/{spelling}")) == [stored]


def test_ip_endpoint_unknown_address_is_empty(client: TestClient, seeded: Phones) -> None:
    assert get_list(client, f"{LIST}/ip/198.51.100.1") == []


def test_same_mac_on_two_extensions_lists_both(
    client: TestClient, store: PhoneStore, seeded: Phones
) -> None:
    seed(store, [sighting("1009", "192.0.2.10", "0004f28e5a79", T0.replace(hour=17))])
    rows = get_list(client, f"{LIST}/mac/00:04:f2:8e:5a:79")
    assert [row["extension_number"] for row in rows] == ["1009", "1001"]
