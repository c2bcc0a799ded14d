"""Public shapes of the API, and the one function that turns a record into JSON.

The phone object's first eight keys are exactly the columns of the users'
``registered_phones`` table, in table order, so scripts written against the table
read the API unchanged; ``registered`` and ``expires_at`` come after them.

Timestamps: ISO 8601 in UTC with a ``Z`` suffix, seconds precision when the value
is whole seconds (``2026-11-27T16:12:46Z``), else microseconds
(``2026-11-27T16:12:46.250000Z``); ``null`` when unknown. Python's
``datetime.fromisoformat`` and JavaScript's ``Date`` both parse this.

Listings are streamed, so handlers do not pass through these models at run time;
the models document the shapes in OpenAPI and a test holds ``phone_json`` to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pbx.phones.store import PhoneRecord


def iso_utc(value: datetime | None) -> str | None:
    """``value`` as the API writes timestamps (see module docstring)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def phone_json(record: PhoneRecord, expires_at: datetime | None) -> dict[str, Any]:
    """One phone as the API shows it; key order is part of the contract."""
    return {
        "id": record.id,
        "mac_address": record.mac_address,
        "extension_number": record.extension_number,
        "user_agent": record.user_agent,
        "ip_address": record.ip_address,
        "first_registered": iso_utc(record.first_registered),
        "last_registered": iso_utc(record.last_registered),
        "contact_uri": record.contact_uri,
        "registered": expires_at is not None,
        "expires_at": iso_utc(expires_at),
    }


class PhonePublic(BaseModel):
    """A phone of the inventory: one row of ``registered_phones`` plus its live state."""

    id: int = Field(description="Row id in registered_phones.")
    mac_address: str | None = Field(
        description="MAC address as 12 lowercase hex digits; null when the phone revealed none.",
        examples=["0004f28e5a79"],
    )
    extension_number: str = Field(examples=["1001"])
    user_agent: str | None = Field(examples=["PolycomVVX-VVX_411-UA/5.9.5.0614_0004f28e5a79"])
    ip_address: str = Field(
        description="Source address of the last REGISTER (IPv6 compressed, no brackets).",
        examples=["192.0.2.17"],
    )
    first_registered: datetime | None = Field(
        description="First registration, ISO 8601 UTC (Z).", examples=["2026-11-27T16:12:46Z"]
    )
    last_registered: datetime | None = Field(
        description="Latest registration, ISO 8601 UTC (Z).", examples=["2026-11-27T16:42:46Z"]
    )
    contact_uri: str | None = Field(examples=["sip:1001@192.0.2.17:5060"])
    registered: bool = Field(description="True while the phone has a live SIP binding.")
    expires_at: datetime | None = Field(
        description="When the live binding expires (ISO 8601 UTC); null when not registered."
    )


class ErrorPublic(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Stable machine-readable code.", examples=["invalid_mac"])
    detail: str = Field(description="What was wrong, for humans.")


class HealthPublic(BaseModel):
    """Service health; ``degraded`` while the database is unreachable (memory fallback)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "degraded"]
    sip: dict[str, Any] = Field(
        examples=[{"status": "up", "transports": ["udp", "tcp"], "bindings": 12}]
    )
    database: dict[str, Any] = Field(
        examples=[{"status": "connected", "type": "sqlite", "pending": 0}]
    )
    phones: int | None = Field(description="Rows in the inventory; null if it cannot be read.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "Malformed MAC, IP or filter value."},
    503: {"model": ErrorPublic, "description": "The inventory cannot be read right now."},
}
