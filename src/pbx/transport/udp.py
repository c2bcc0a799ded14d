"""UDP glue: datagram in -> core -> datagram out (RFC 3261 §18.2.2 addressing is the
core's decision; this only sends where it says)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast

from pbx.sip.endpoint import Endpoint, Outcome
from pbx.sip.events import Source
from pbx.transport.addresses import normalize_host
from pbx.transport.bind import bind_socket
from pbx.transport.sink import EventSink, Replies

try:
    from pbx.transport._sendmany import send_many
except ImportError:  # not compiled (``make clean-core``): every answer through uvloop
    send_many = None

log = logging.getLogger("pbx.transport")


#: Peer addresses whose Source is remembered (see ``UdpProtocol._source``).
SOURCE_MEMO = 65536


#: Decides whether a datagram is handled elsewhere (True: it was passed on, e.g. to
#: the SIP worker process that holds its extension); see ``pbx.cluster.steering``.
Steer = Callable[[bytes, Source], bool]


class UdpProtocol(asyncio.DatagramProtocol):
    """One bound UDP socket feeding the shared endpoint."""

    def __init__(
        self, endpoint: Endpoint, sink: EventSink | None, steer: Steer | None = None
    ) -> None:
        self._endpoint = endpoint
        self._sink = sink
        self._steer = steer
        self._transport: asyncio.DatagramTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._replies = Replies(self._loop)
        # Responses (by identity of their bytes, which the endpoint's retransmission
        # cache hands out again) still waiting for their events to be committed.
        self._held: set[int] = set()
        self._sources: dict[tuple[str | int, ...], Source] = {}
        # Answers waiting for the end of this turn of the loop, as data, destination,
        # data, destination ... (see ``_send``), and the socket they leave through.
        self._out: list[object] = []
        self._fd = -1
        self._family = 0

    def source_of(self, addr: tuple[str | int, ...]) -> Source:
        """The Source of a peer address, remembered: phones send from the same address
        again and again, and building one costs more than the lookup. Bounded. Also
        for datagrams another worker passed on (``pbx.cluster.steering``)."""
        source = self._sources.get(addr)
        if source is None:
            if len(self._sources) >= SOURCE_MEMO:
                self._sources.clear()
            source = Source(normalize_host(str(addr[0])), int(addr[1]), "udp")
            self._sources[addr] = source
        return source

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's, hence a cast, not a check.
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if send_many is not None and sock is not None:
            self._fd = sock.fileno()
            self._family = sock.family

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = self.source_of(addr)
        if self._steer is not None and self._steer(data, source):
            return
        self.handle(data, source)

    def handle(self, data: bytes, source: Source) -> None:
        """Answer one datagram from ``source`` (received here or passed on to us); the
        answer leaves through this socket."""
        try:
            outcome = self._endpoint.receive(data, source, self._loop.time())
        except Exception:  # a bug must cost one message, never the server
            log.exception("internal error handling a datagram from %s", source.host)
            return
        if outcome.data is not None and id(outcome.data) in self._held:
            # A retransmission of a request whose answer waits for its commit: the
            # answer goes out once, when committed, never early.
            return
        waiter = self._sink(outcome.events) if outcome.events and self._sink else None
        if waiter is None:
            self._send(outcome)
            return
        key = id(outcome.data)
        self._held.add(key)

        def send() -> None:
            self._held.discard(key)
            self._send(outcome)

        self._replies.after(waiter, send)

    def _send(self, outcome: Outcome) -> None:
        """Send the answer at the end of this turn of the event loop, with the others
        of the turn.

        Why: answers come in bursts (the 200 OKs one group commit releases, the 401s
        of one read burst), and one ``sendmmsg`` for a burst costs about 2 µs less per
        datagram than a ``sendto`` each through uvloop (``_sendmany.c``). A turn is
        the I/O callbacks of one poll: the answers leave before the loop waits again.
        """
        if outcome.data is None or outcome.destination is None or self._transport is None:
            return
        if self._fd < 0:
            self._transport.sendto(outcome.data, outcome.destination)  # a (host, port) tuple
            return
        out = self._out
        if not out:
            self._loop.call_soon(self._flush)
        out.append(outcome.data)
        out.append(outcome.destination)

    def _flush(self) -> None:
        """Hand this turn's answers to the kernel; what ``send_many`` leaves (a host
        that is not numeric, a full send buffer, an error to report) goes through
        uvloop's ``sendto``, which queues, resolves and reports as usual."""
        out, self._out = self._out, []
        transport = self._transport
        if transport is None or transport.is_closing() or send_many is None:
            return
        count = len(out) // 2
        at = 0
        while at < count:
            at = send_many(self._fd, self._family, out, at)
            if at < count:
                transport.sendto(cast(bytes, out[2 * at]), cast(tuple[str, int], out[2 * at + 1]))
                at += 1

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a phone that went away: nothing to do.
        log.debug("UDP error: %s", exc)


async def serve_udp(
    endpoint: Endpoint,
    host: str,
    port: int,
    sink: EventSink | None,
    *,
    sock: socket.socket | None = None,
    steer: Steer | None = None,
) -> asyncio.DatagramTransport:
    """Bind ``host``:``port`` (or take ``sock``, already bound) and start serving;
    returns the transport (close it to stop; its protocol's ``handle`` answers a
    datagram passed on from elsewhere)."""
    loop = asyncio.get_running_loop()
    if sock is None:
        sock = bind_socket("udp", host, port)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpProtocol(endpoint, sink, steer), sock=sock
    )
    return transport
