"""Each extension's REGISTERs go to one SIP worker, whichever worker the kernel chose.

Why: the kernel spreads datagrams over the workers' SO_REUSEPORT sockets by source
address, but registrar state is per extension: the nonces a phone answers, every
binding of the extension (``max_contacts``, ``Contact: *``, a fetch), Call-ID/CSeq
order. A worker that receives a REGISTER for an extension another worker owns
(``pbx.sip.steering.owner``) passes the datagram to it over their private link; the
owner answers through its own socket on the same address and port, so to the phone
nothing changed. Passing costs one read of the To header here and one message per
loop iteration and peer.

TCP connections stay in the worker that accepted them (the answer must leave on that
connection); see the README on what that means for phones on TCP.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pbx.cluster.wire import Link
from pbx.sip.events import Source
from pbx.sip.steering import owner, register_extension
from pbx.transport.udp import Steer, UdpProtocol

#: One datagram passed on: (listener index, bytes, source host, source port).
Passed = tuple[int, bytes, str, int]


class Steering:
    """One worker's side: pass on what it does not own, answer what is passed to it."""

    def __init__(self, index: int, workers: int) -> None:
        self._index = index
        self._workers = workers
        self._peers: dict[int, Link] = {}
        self._protocols: dict[int, UdpProtocol] = {}
        self._outbox: dict[int, list[Passed]] = {}
        self._scheduled = False
        self._loop = asyncio.get_running_loop()
        self.passed_on = 0
        self.taken_over = 0

    def add_peer(self, index: int, link: Link) -> None:
        """The link to worker ``index``."""
        self._peers[index] = link

    def serve(self, listener: int, protocol: UdpProtocol) -> None:
        """Datagrams passed to us for listener ``listener`` are answered by ``protocol``."""
        self._protocols[listener] = protocol

    def steer_for(self, listener: int) -> Steer:
        """The ``steer`` hook of the UDP socket of listener ``listener``."""

        def steer(data: bytes, source: Source) -> bool:
            extension = register_extension(data)
            if extension is None:
                return False
            target = owner(extension, self._workers)
            if target == self._index or target not in self._peers:
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

    def _flush(self) -> None:
        self._scheduled = False
        outbox, self._outbox = self._outbox, {}
        for target, passed in outbox.items():
            self.passed_on += len(passed)
            self._peers[target].send(("sip", passed))

    def on_peer_message(self, message: tuple[Any, ...]) -> None:
        """Datagrams another worker passed to us: answer them as if received here."""
        if message[0] != "sip":
            return
        for listener, data, host, port in message[1]:
            protocol = self._protocols.get(listener)
            if protocol is not None:
                self.taken_over += 1
                protocol.handle(data, Source(host, port, "udp"))
