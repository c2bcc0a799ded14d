"""Write a listing as one JSON array, incrementally, in constant memory.

The store is read through ``PhoneStore.iter`` (pages of ``batch`` rows) and the
array goes out in chunks of about ``CHUNK_BYTES`` or ``CHUNK_ROWS`` rows, whichever
comes first, so 10 rows and 1,000,000 rows cost the same memory and the first bytes
leave before the last row is read.

The first row is fetched *before* the response starts: if the store cannot be read
at all the client gets a JSON 503 instead of a 200 with a broken body. A failure
after that can only cut the stream short (the status line is already sent); the
client then sees invalid JSON, never a silently short but valid list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi.responses import StreamingResponse

from pbx.api.errors import ApiError
from pbx.api.schemas import phone_json
from pbx.phones.store import PhoneFilter, PhoneRecord, PhoneStore

log = logging.getLogger("pbx.api")

CHUNK_BYTES = 64 * 1024
CHUNK_ROWS = 200

LiveBinding = Callable[[str, str], datetime | None]


async def _first(rows: AsyncIterator[PhoneRecord]) -> PhoneRecord | None:
    try:
        return await anext(rows)
    except StopAsyncIteration:
        return None


async def stream_phones(
    store: PhoneStore, filter: PhoneFilter, live_binding: LiveBinding, stale: bool | None
) -> StreamingResponse:
    """A ``StreamingResponse`` with the JSON array of matching phones.

    ``stale`` True keeps only phones without a live binding, False only those with
    one, None keeps all.
    """
    rows = aiter(store.iter(filter))
    try:
        first = await _first(rows)
    except Exception as exc:
        log.exception("cannot read the phone inventory")
        raise ApiError(503, "store_unavailable", "the phone inventory cannot be read") from exc
    return StreamingResponse(_body(first, rows, live_binding, stale), media_type="application/json")


async def _body(
    first: PhoneRecord | None,
    rows: AsyncIterator[PhoneRecord],
    live_binding: LiveBinding,
    stale: bool | None,
) -> AsyncIterator[bytes]:
    parts: list[str] = ["["]
    size = 1
    count = 0
    written = 0
    record = first
    try:
        while record is not None:
            expires = live_binding(record.extension_number, record.ip_address)
            if stale is None or (expires is None) == stale:
                piece = json.dumps(phone_json(record, expires), ensure_ascii=False)
                parts.append(("\n" if written == 0 else ",\n") + piece)
                size += len(piece) + 2
                count += 1
                written += 1
                if size >= CHUNK_BYTES or count >= CHUNK_ROWS:
                    yield "".join(parts).encode()
                    parts, size, count = [], 0, 0
            record = await _first(rows)
        parts.append("\n]\n" if written else "]\n")
        yield "".join(parts).encode()
    except Exception:
        log.exception("phone listing cut short after %d rows", written)
        raise
    finally:
        close = getattr(rows, "aclose", None)
        if close is not None:
            await close()
