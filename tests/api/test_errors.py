"""Bad input is a 400, unknown routes a 404, and every error is the same JSON shape;
a trailing slash changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Phones

LIST = "/api/registered-phones"


def assert_error(response_status: int, body: object, status: int, code: str | None = None) -> None:
    assert response_status == status
    assert isinstance(body, dict)
    assert set(body) == {"error", "detail"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code


BAD_MACS = [
    "zz",
    "0004f28e5a7",  # 11 digits
    "0004f28e5a79aa",  # 14 digits
    "00:04:f2:8e:5a",  # five octets
    "00:04-f2:8e:5a:79",  # mixed separators
    "01:00:5e:00:00:01",  # multicast
    "ff:ff:ff:ff:ff:ff",  # broadcast
    "00:00:00:00:00:00",  # all zero
    "g0:04:f2:8e:5a:79",
]


@pytest.mark.parametrize("mac", BAD_MACS)
def test_malformed_mac_in_path_is_400(client: TestClient, mac: str) -> None:
    response = client.get(f"{LIST}/mac/{mac}")
    assert_error(response.status_code, response.json(), 400, "invalid_mac")
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("mac", BAD_MACS)
def test_malformed_mac_in_query_is_400(client: TestClient, mac: str) -> None:
    response = client.get(LIST, params={"mac": mac})
    assert_error(response.status_code, response.json(), 400, "invalid_mac")


BAD_IPS = ["999.1.1.1", "192.0.2", "192.0.2.1.5", "::g", "2001:db8:::1", "host.example", "[::1"]


@pytest.mark.parametrize("ip", BAD_IPS)
def test_malformed_ip_in_path_is_400(client: TestClient, ip: str) -> None:
    response = client.get(f"{LIST}/ip/{ip}")
    assert_error(response.status_code, response.json(), 400, "invalid_ip")


@pytest.mark.parametrize("ip", BAD_IPS)
def test_malformed_ip_in_query_is_400(client: TestClient, ip: str) -> None:
    response = client.get(LIST, params={"ip": ip})
    assert_error(response.status_code, response.json(), 400, "invalid_ip")


@pytest.mark.parametrize(
    "params", [{"has_mac": "maybe"}, {"stale": "2"}, {"stale": ""}, {"has_mac": "truee"}]
)
def test_bad_boolean_filter_is_400_naming_the_parameter(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get(LIST, params=params)
    body = response.json()
    assert_error(response.status_code, body, 400, "invalid_parameter")
    assert next(iter(params)) in body["detail"]


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/registered-phones/serial/x", "/nope/", "/static/missing.js"]
)
def test_unknown_route_is_json_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert_error(response.status_code, response.json(), 404, "not_found")
    assert response.headers["content-type"] == "application/json"


def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = client.post(LIST, json=[])
    assert_error(response.status_code, response.json(), 405, "method_not_allowed")


def test_unreadable_store_is_json_503(broken_client: TestClient) -> None:
    response = broken_client.get(LIST)
    assert_error(response.status_code, response.json(), 503, "store_unavailable")


TRAILING = [
    LIST,
    f"{LIST}?extension=1001",
    f"{LIST}/extension/1001",
    f"{LIST}/mac/00:04:f2:8e:5a:79",
    f"{LIST}/ip/2001:db8::12",
    "/api/health",
    "/",
    "/static/app.js",
    "/static/style.css",
    "/openapi.json",
]


@pytest.mark.parametrize("url", TRAILING)
def test_trailing_slash_gives_the_same_answer_without_redirect(
    client: TestClient, seeded: Phones, url: str
) -> None:
    path, _, query = url.partition("?")
    slashed = path.rstrip("/") + "/" + (f"?{query}" if query else "")
    plain = client.get(url, follow_redirects=False)
    with_slash = client.get(slashed, follow_redirects=False)
    assert plain.status_code == 200
    assert with_slash.status_code == 200
    assert with_slash.content == plain.content
