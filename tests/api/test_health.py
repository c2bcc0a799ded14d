"""``/api/health``: component states from the service, the inventory size, the verdict."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pbx.api.app import create_app
from pbx.api.status import StaticStatus
from pbx.phones.store import PhoneStore
from tests.api.conftest import NOW, Phones


def test_health_ok_with_components_and_count(client: TestClient, seeded: Phones) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert list(body)[:4] == ["status", "sip", "database", "phones"]
    assert body == {
        "status": "ok",
        # Two bindings are live at NOW; the third expired.
        "sip": {"status": "up", "transports": ["udp", "tcp"], "bindings": 2},
        "database": {"status": "connected", "type": "sqlite", "pending": 0},
        "phones": 4,
    }


def test_health_degraded_while_database_in_fallback(
    store: PhoneStore, status: StaticStatus, seeded: Phones
) -> None:
    status.database = {"status": "fallback", "type": "sqlite", "pending": 17}
    with TestClient(create_app(store, status)) as client:
        body = client.get("/api/health").json()
    assert body["status"] == "degraded"
    assert body["database"] == {"status": "fallback", "type": "sqlite", "pending": 17}
    assert body["phones"] == 4


def test_health_passes_extra_components_through(store: PhoneStore) -> None:
    class Status(StaticStatus):
        def health(self) -> dict[str, object]:
            return {**super().health(), "uptime_seconds": 12, "started": NOW}

    with TestClient(create_app(store, Status())) as client:
        body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["uptime_seconds"] == 12
    assert body["started"] == "2026-11-27T16:30:00Z"
    assert body["phones"] == 0


def test_health_degraded_when_inventory_unreadable(broken_client: TestClient) -> None:
    response = broken_client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["phones"] is None
