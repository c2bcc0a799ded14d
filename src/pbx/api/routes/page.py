"""``/``: the human view of the inventory, a static page that reads the JSON API.

Everything is served from ``pbx/api/web`` (no CDN, no build step); the page gets a
Content-Security-Policy that allows only this origin, so it can make no external
request and injected markup (a hostile User-Agent) could run no script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

#: Only this origin; no inline script or style.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["page"])


@router.get("/", summary="Web page listing the phones", response_class=FileResponse)
async def page() -> FileResponse:
    """The inventory table (HTML; auto-refreshes from /api/registered-phones)."""
    return FileResponse(
        WEB_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )
