"""Dependencies handlers declare by type: the store, the status, and checked inputs.

The store and status live on ``app.state`` (set by ``create_app``), never in module
globals, so several apps (tests, a second listener) can coexist in one process.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from pbx.api.errors import ApiError
from pbx.api.status import ServiceStatus
from pbx.phones.identity import normalize_mac
from pbx.phones.store import PhoneStore


def get_store(request: Request) -> PhoneStore:
    """The inventory the app was built with."""
    store: PhoneStore = request.app.state.store
    return store


def get_status(request: Request) -> ServiceStatus:
    """The live service status the app was built with."""
    status: ServiceStatus = request.app.state.status
    return status


StoreDep = Annotated[PhoneStore, Depends(get_store)]
StatusDep = Annotated[ServiceStatus, Depends(get_status)]


def parse_mac(text: str) -> str:
    """Any common MAC spelling -> the stored form (12 lowercase hex digits), or 400.

    Accepts ``00:15:65:12:34:56``, ``00-15-65-12-34-56``, ``0015.6512.3456`` and
    ``001565123456`` in any case; multicast and all-zero values are refused, as the
    identity module never stores them.
    """
    mac = normalize_mac(text)
    if mac is None:
        raise ApiError(
            400,
            "invalid_mac",
            f"not a unicast MAC address: {text[:60]!r} (expected e.g. 00:15:65:12:34:56, "
            "00-15-65-12-34-56, 0015.6512.3456 or 001565123456)",
        )
    return mac


def parse_ip(text: str) -> str:
    """An IPv4 or IPv6 address -> the form the transports store it in, or 400.

    IPv6 comes out compressed and lowercase, without brackets or scope id; an
    IPv4-mapped IPv6 address becomes plain IPv4 (as ``transport.addresses`` does).
    """
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        raise ApiError(400, "invalid_ip", f"not an IPv4 or IPv6 address: {text[:60]!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
