"""``/api/registered-phones``: the inventory, whole or by extension, MAC or IP.

Every listing streams (see ``pbx.api.stream``) in the store's order: newest
``last_registered`` first, then by id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from pbx.api.deps import StatusDep, StoreDep, parse_ip, parse_mac
from pbx.api.schemas import ERROR_RESPONSES, PhonePublic
from pbx.api.stream import stream_phones
from pbx.phones.store import PhoneFilter

router = APIRouter(prefix="/api/registered-phones", tags=["phones"])

_LISTING: dict[int | str, dict[str, Any]] = {
    200: {
        "model": list[PhonePublic],
        "description": "JSON array of phones, newest last_registered first (streamed).",
    },
    **ERROR_RESPONSES,
}


@router.get(
    "",
    summary="List registered phones",
    response_class=StreamingResponse,
    responses=_LISTING,
)
async def list_phones(
    store: StoreDep,
    status: StatusDep,
    extension: Annotated[
        str | None, Query(description="Only this extension number.", examples=["1001"])
    ] = None,
    mac: Annotated[
        str | None,
        Query(
            description="Only this MAC, any spelling (colons, dashes, dots, none; any case).",
            examples=["00:04:f2:8e:5a:79"],
        ),
    ] = None,
    ip: Annotated[
        str | None, Query(description="Only this IPv4 or IPv6 address.", examples=["192.0.2.17"])
    ] = None,
    has_mac: Annotated[
        bool | None, Query(description="true: only phones with a known MAC; false: without.")
    ] = None,
    stale: Annotated[
        bool | None,
        Query(description="true: only phones without a live binding; false: only with one."),
    ] = None,
) -> StreamingResponse:
    """Every phone that ever registered, filtered by the given parameters (AND)."""
    filter = PhoneFilter(
        extension=extension.strip() if extension is not None else None,
        mac=parse_mac(mac) if mac is not None else None,
        ip=parse_ip(ip) if ip is not None else None,
        has_mac=has_mac,
    )
    return await stream_phones(store, filter, status.live_binding, stale)


@router.get(
    "/extension/{number}",
    summary="Phones of one extension",
    response_class=StreamingResponse,
    responses=_LISTING,
)
async def phones_by_extension(
    store: StoreDep,
    status: StatusDep,
    number: Annotated[str, Path(description="Extension number.", examples=["1001"])],
) -> StreamingResponse:
    """The phones registered under ``number``, newest first; ``[]`` when none."""
    return await stream_phones(
        store, PhoneFilter(extension=number.strip()), status.live_binding, None
    )


@router.get(
    "/mac/{mac}",
    summary="Phones with one MAC address",
    response_class=StreamingResponse,
    responses=_LISTING,
)
async def phones_by_mac(
    store: StoreDep,
    status: StatusDep,
    mac: Annotated[
        str,
        Path(
            description="MAC in any spelling: 0004f28e5a79, 00:04:F2:8E:5A:79, 00-04-f2-8e-5a-79, "
            "0004.f28e.5a79.",
            examples=["00:04:f2:8e:5a:79"],
        ),
    ],
) -> StreamingResponse:
    """The phones with this MAC (one per extension it registered), newest first."""
    return await stream_phones(store, PhoneFilter(mac=parse_mac(mac)), status.live_binding, None)


@router.get(
    "/ip/{ip}",
    summary="Phones at one IP address",
    response_class=StreamingResponse,
    responses=_LISTING,
)
async def phones_by_ip(
    store: StoreDep,
    status: StatusDep,
    ip: Annotated[
        str, Path(description="IPv4 or IPv6 address (brackets optional).", examples=["192.0.2.17"])
    ],
) -> StreamingResponse:
    """The phones whose last REGISTER came from this address, newest first."""
    return await stream_phones(store, PhoneFilter(ip=parse_ip(ip)), status.live_binding, None)
