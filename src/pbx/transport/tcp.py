"""TCP glue: a byte stream is cut into messages (Content-Length framing) and every
response goes back on the connection its request came in on (RFC 3261 §18.2.2)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from pbx.sip.endpoint import Endpoint
from pbx.sip.events import Source
from pbx.sip.parse import ParseError, StreamFramer
from pbx.transport.addresses import normalize_host
from pbx.transport.bind import bind_socket
from pbx.transport.sink import EventSink, Replies

log = logging.getLogger("pbx.transport")

#: A connection that sends nothing for this long is closed (phones keep theirs alive
#: with REGISTER refreshes or CRLF pings well within it).
IDLE_TIMEOUT = 600.0


#: Decides whether a message is answered elsewhere (True: it was passed on, e.g. to the
#: SIP worker process that holds its extension, which sends the answer back for
#: ``TcpConnection.write``); see ``pbx.cluster.steering``.
TcpSteer = Callable[[bytes, Source, "TcpConnection"], bool]


def answer(
    endpoint: Endpoint,
    sink: EventSink | None,
    replies: Replies,
    message: bytes,
    source: Source,
    send: Callable[[bytes], None],
) -> None:
    """Handle one message from a stream and ``send`` the answer once its events are
    committed (here, or in the worker a message was passed to)."""
    try:
        outcome = endpoint.receive(message, source, asyncio.get_running_loop().time())
    except Exception:
        log.exception("internal error handling a message from %s", source.host)
        return
    waiter = sink(outcome.events) if outcome.events and sink else None
    data = outcome.data
    if data is not None:
        replies.after(waiter, lambda: send(data))


class TcpConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self, endpoint: Endpoint, sink: EventSink | None, steer: TcpSteer | None = None
    ) -> None:
        self._endpoint = endpoint
        self._sink = sink
        self._steer = steer
        self._loop = asyncio.get_running_loop()
        self._framer = StreamFramer()
        self._transport: asyncio.Transport | None = None
        self._source = Source("", 0, "tcp")
        self._idle: asyncio.TimerHandle | None = None
        self._replies = Replies(self._loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's, hence a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._source = Source(normalize_host(str(peer[0])), int(peer[1]), "tcp")
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._transport = None

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self._loop.call_later(IDLE_TIMEOUT, self._close)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._arm_idle()
        self._framer.feed(data)
        while True:
            try:
                message = self._framer.next_message()
            except ParseError as exc:
                log.info("closing TCP connection from %s: %s", self._source.host, exc.reason)
                rejection = self._endpoint.reject(exc, self._source).data
                if rejection is not None and self._transport is not None:
                    self._transport.write(rejection)  # close() sends it first
                self._close()
                return
            if self._framer.pings and self._transport is not None:
                self._framer.pings = 0
                self._transport.write(b"\r\n")  # RFC 5626 §3.5.1 pong
            if message is None:
                return
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        if self._steer is not None and self._steer(message, self._source, self):
            return
        answer(self._endpoint, self._sink, self._replies, message, self._source, self.write)

    def write(self, data: bytes) -> None:
        """Send bytes on the connection (dropped once it is closed)."""
        if self._transport is not None:
            self._transport.write(data)


async def serve_tcp(
    endpoint: Endpoint,
    host: str,
    port: int,
    sink: EventSink | None,
    *,
    sock: socket.socket | None = None,
    steer: TcpSteer | None = None,
) -> asyncio.Server:
    """Listen on ``host``:``port`` (or on ``sock``, already listening) and start
    serving; returns the server (close it to stop)."""
    loop = asyncio.get_running_loop()
    if sock is None:
        sock = bind_socket("tcp", host, port)
    return await loop.create_server(lambda: TcpConnection(endpoint, sink, steer), sock=sock)
