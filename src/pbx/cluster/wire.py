"""Messages between the main process and its SIP workers: pickled tuples, length-framed.

Why pickle: both ends are this program, started by the main process over a private
socketpair that nothing else can reach, and the payload (sightings with datetimes)
pickles faster than any text format builds. Frames are a 4-byte big-endian length and
the pickle; one write per frame, read back into whole frames whatever the chunking.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger("pbx.cluster")

_LENGTH = struct.Struct("!I")

#: A frame larger than this is a bug, not a message: the link is closed.
MAX_FRAME = 64 << 20


def encode(message: tuple[Any, ...]) -> bytes:
    """One frame for ``message``."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class Deframer:
    """Bytes in any chunks -> whole messages, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        """Add ``data``; return the messages completed by it. Raises ValueError on a
        frame longer than ``MAX_FRAME``."""
        buffer = self._buffer
        buffer += data
        messages: list[tuple[Any, ...]] = []
        start = 0
        while len(buffer) - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > MAX_FRAME:
                raise ValueError(f"frame of {length} bytes")
            end = start + 4 + length
            if len(buffer) < end:
                break
            messages.append(pickle.loads(memoryview(buffer)[start + 4 : end]))
            start = end
        del buffer[:start]
        return messages


class Link(asyncio.Protocol):
    """One end of the socketpair: ``send`` frames, ``on_message`` for each one received,
    ``on_lost`` once when the other end is gone (exit, crash, or ``close``)."""

    def __init__(
        self,
        on_message: Callable[[tuple[Any, ...]], None],
        on_lost: Callable[[], None],
    ) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._deframer = Deframer()
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._deframer.feed(data)
        except Exception:
            log.exception("unreadable message on the worker link; closing it")
            self.close()
            return
        for message in messages:
            try:
                self._on_message(message)
            except Exception:  # one bad message must not take the link down
                log.exception("could not handle %r on the worker link", message[:1])

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        self._on_lost()

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue one message (dropped when the link is already gone)."""
        if self._transport is not None:
            self._transport.write(encode(message))

    def close(self) -> None:
        """Close after what is queued has been written."""
        if self._transport is not None:
            self._transport.close()


async def open_link(
    sock: socket.socket,
    on_message: Callable[[tuple[Any, ...]], None],
    on_lost: Callable[[], None],
) -> Link:
    """Wrap a connected socketpair end in a ``Link`` on the running loop."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    _, link = await loop.create_unix_connection(lambda: Link(on_message, on_lost), sock=sock)
    return link
