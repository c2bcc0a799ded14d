"""The web page at ``/``, its assets, and the OpenAPI documentation."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSETS = {
    "/static/app.js": "text/javascript",
    "/static/style.css": "text/css",
}


def test_page_is_html_with_table_filter_and_health(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for marker in (
        'id="phones"',
        'id="filter"',
        'id="health"',
        "/static/app.js",
        "/static/style.css",
    ):
        assert marker in html
    assert '<meta name="viewport"' in html


def test_page_forbids_other_origins(client: TestClient) -> None:
    csp = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "script-src 'self'" in csp


@pytest.mark.parametrize(("path", "media"), ASSETS.items())
def test_assets_are_served_locally(client: TestClient, path: str, media: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert len(response.content) > 100


@pytest.mark.parametrize("path", ["/", *ASSETS])
def test_no_external_references(client: TestClient, path: str) -> None:
    text = client.get(path).text
    assert not re.search(r"https?://|(?:src|href)=[\"']//|url\(\s*[\"']?(?:https?:)?//", text)
    assert "@import" not in text


def test_script_never_writes_markup_from_data(client: TestClient) -> None:
    # User agents and contacts come from the network; the page must only use textContent.
    script = client.get("/static/app.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script
    assert "/api/registered-phones" in script and "/api/health" in script


def test_openapi_documents_every_route_with_summary_and_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/registered-phones",
        "/api/registered-phones/extension/{number}",
        "/api/registered-phones/mac/{mac}",
        "/api/registered-phones/ip/{ip}",
        "/api/health",
    ):
        get = paths[path]["get"]
        assert get["summary"]
        assert "200" in get["responses"]
    listing = paths["/api/registered-phones"]["get"]
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["type"] == "array"
    assert ok["items"]["$ref"].endswith("/PhonePublic")
    assert listing["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorPublic"
    )
    params = {p["name"] for p in listing["parameters"]}
    assert params == {"extension", "mac", "ip", "has_mac", "stale"}
    assert list(spec["components"]["schemas"]["PhonePublic"]["properties"])[:3] == [
        "id",
        "mac_address",
        "extension_number",
    ]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
