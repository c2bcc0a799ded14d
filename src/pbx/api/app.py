"""``create_app``: the FastAPI application over a given store and service status.

No module-level app or settings: the wiring builds the store and status at start-up
and calls ``create_app(store, status)``; tests build as many apps as they like.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

import pbx
from pbx.api.errors import install_error_handlers
from pbx.api.routes import health, page, phones
from pbx.api.status import ServiceStatus
from pbx.phones.store import PhoneStore

DESCRIPTION = """\
Inventory of every phone that registered with the pbx SIP registrar.

* Phone objects start with the columns of `registered_phones`, in table order:
  `id, mac_address, extension_number, user_agent, ip_address, first_registered,
  last_registered, contact_uri`, then `registered` and `expires_at`.
* Timestamps are ISO 8601 UTC with `Z` (`2026-11-27T16:12:46Z`; microseconds only
  when not whole seconds).
* MACs are written as 12 lowercase hex digits and accepted in any common spelling.
* Listings are streamed, newest `last_registered` first.
* Errors are JSON `{"error": code, "detail": text}`; a trailing slash is accepted
  on every route.
"""


class StripTrailingSlash:
    """Route ``/x/`` as ``/x`` (same answer, no redirect): scripts add slashes freely."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def create_app(store: PhoneStore, status: ServiceStatus) -> FastAPI:
    """The API and web page over ``store`` and ``status`` (neither is closed by the app)."""
    app = FastAPI(
        title="pbx phone inventory",
        version=pbx.__version__,
        description=DESCRIPTION,
        redirect_slashes=False,
    )
    app.state.store = store
    app.state.status = status
    install_error_handlers(app)
    app.include_router(phones.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.WEB_DIR), name="static")
    app.add_middleware(StripTrailingSlash)
    return app
