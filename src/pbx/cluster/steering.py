"""Each extension's REGISTERs go to one SIP worker, whichever worker the kernel chose.

Why: the kernel spreads datagrams over the workers' SO_REUSEPORT sockets by source
address, but registrar state is per extension: the nonces a phone answers, every
binding of the extension (``max_contacts``, ``Contact: *``, a fetch), Call-ID/CSeq
order. A worker that receives a REGISTER for an extension another worker owns
(``pbx.sip.steering.owner``) passes the datagram to it over their private link; the
owner answers through its own socket on the same address and port, so to the phone
nothing changed. Passing costs one read of the To header here and one message per
loop iteration and peer. Over UDP the kernel usually delivers a REGISTER to its owner
already (``pbx.transport.kernel_steering``); this catches the rest.

Over TCP the connection stays in the worker that accepted it: the owner answers a
message passed to it and sends the answer back, once its row is committed, for
that worker to write on the connection.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from pbx.cluster.wire import Link
from pbx.sip.endpoint import Endpoint
from pbx.sip.events import Source
from pbx.sip.steering import owner, register_extension
from pbx.transport.sink import EventSink, Replies
from pbx.transport.tcp import TcpConnection, answer
from pbx.transport.udp import Steer, UdpProtocol

#: One datagram passed on: (listener index, bytes, source host, source port).
Passed = tuple[int, bytes, str, int]
#: One TCP message passed on: (connection id, bytes, source host, source port).
PassedTcp = tuple[int, bytes, str, int]


class Steering:
    """One worker's side: pass on what it does not own, answer what is passed to it."""

    def __init__(self, index: int, workers: int, endpoint: Endpoint, sink: EventSink) -> None:
        self._index = index
        self._workers = workers
        self._endpoint = endpoint
        self._sink = sink
        self._peers: dict[int, Link] = {}
        self._protocols: dict[int, UdpProtocol] = {}
        self._outbox: dict[int, list[Passed]] = {}
        self._scheduled = False
        self._loop = asyncio.get_running_loop()
        self._replies = Replies(self._loop)
        # Connections with messages passed on, by id, until they close.
        self._connections: weakref.WeakValueDictionary[int, TcpConnection] = (
            weakref.WeakValueDictionary()
        )
        self.passed_on = 0
        self.taken_over = 0

    def add_peer(self, index: int, link: Link) -> None:
        """The link to worker ``index``."""
        self._peers[index] = link

    def peer_handler(self, index: int) -> Callable[[tuple[Any, ...]], None]:
        """What to call with each message from worker ``index``."""
        return partial(self.on_peer_message, index)

    def serve(self, listener: int, protocol: UdpProtocol) -> None:
        """Datagrams passed to us for listener ``listener`` are answered by ``protocol``."""
        self._protocols[listener] = protocol

    def steer_for(self, listener: int) -> Steer:
        """The ``steer`` hook of the UDP socket of listener ``listener``."""

        def steer(data: bytes, source: Source) -> bool:
            target = self._target(data)
            if target is None:
                return False
            box = self._outbox.get(target)
            if box is None:
                box = self._outbox[target] = []
            box.append((listener, data, source.host, source.port))
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)
            return True

        return steer

    def steer_tcp(self, message: bytes, source: Source, connection: TcpConnection) -> bool:
        """The ``steer`` hook of the TCP listeners: pass the message on, with the
        connection's id for the answer to come back to."""
        target = self._target(message)
        if target is None:
            return False
        self._connections[id(connection)] = connection
        self.passed_on += 1
        self._peers[target].send(("tcp", [(id(connection), message, source.host, source.port)]))
        return True

    def _target(self, data: bytes) -> int | None:
        extension = register_extension(data)
        if extension is None:
            return None
        target = owner(extension, self._workers)
        if target == self._index or target not in self._peers:
            return None
        return target

    def _flush(self) -> None:
        self._scheduled = False
        outbox, self._outbox = self._outbox, {}
        for target, passed in outbox.items():
            self.passed_on += len(passed)
            self._peers[target].send(("sip", passed))

    def on_peer_message(self, peer: int, message: tuple[Any, ...]) -> None:
        """What worker ``peer`` sent: datagrams and TCP messages to answer as if
        received here, or answers to write on our TCP connections."""
        kind = message[0]
        if kind == "sip":
            for listener, data, host, port in message[1]:
                protocol = self._protocols.get(listener)
                if protocol is not None:
                    self.taken_over += 1
                    protocol.handle(data, protocol.source_of((host, port)))
        elif kind == "tcp":
            link = self._peers[peer]
            for connection_id, data, host, port in message[1]:
                self.taken_over += 1

                def send(answer_bytes: bytes, connection_id: int = connection_id) -> None:
                    link.send(("tcp-answer", connection_id, answer_bytes))

                answer(
                    self._endpoint,
                    self._sink,
                    self._replies,
                    data,
                    Source(host, port, "tcp"),
                    send,
                )
        elif kind == "tcp-answer":
            connection = self._connections.get(message[1])
            if connection is not None:
                connection.write(message[2])
