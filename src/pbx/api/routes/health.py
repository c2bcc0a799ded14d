"""``/api/health``: one object a monitor or the web page can read at a glance.

Always HTTP 200 while the process answers; ``status`` says ``degraded`` when a
component is in a degraded state (the database in memory fallback, SIP down) or
the inventory cannot be counted, so monitors read the body, not the status code.
Datetimes in ``health()`` are written like every other API timestamp (ISO 8601 UTC
with ``Z``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from pbx.api.deps import StatusDep, StoreDep
from pbx.api.schemas import HealthPublic, iso_utc

log = logging.getLogger("pbx.api")
router = APIRouter(prefix="/api", tags=["health"])

#: Component states that make the service ``degraded``.
DEGRADED_STATES = frozenset({"fallback", "down", "error", "disconnected"})


def _state(component: object) -> object:
    return component.get("status") if isinstance(component, Mapping) else None


@router.get(
    "/health",
    summary="Service health",
    response_model=HealthPublic,
    response_class=JSONResponse,
)
async def health(store: StoreDep, status: StatusDep) -> JSONResponse:
    """SIP and database state from the service, and the inventory size."""
    parts: dict[str, Any] = dict(status.health())
    sip = parts.pop("sip", {})
    database = parts.pop("database", {})
    phones: int | None
    try:
        phones = await store.count()
    except Exception:
        log.exception("health: cannot count the phone inventory")
        phones = None
    degraded = phones is None or any(
        _state(c) in DEGRADED_STATES for c in (sip, database, *parts.values())
    )
    body = {
        "status": "degraded" if degraded else "ok",
        "sip": sip,
        "database": database,
        "phones": phones,
        **parts,
    }
    return JSONResponse(jsonable_encoder(body, custom_encoder={datetime: iso_utc}))
