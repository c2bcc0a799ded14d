"""One process's share of the SIP port: its sockets, its registrar core, its steering.

Why one function for it: every process that serves SIP with ``server.workers`` > 1
does the same wiring: the main process for share 0, each worker process for its own.
They differ only in where their registrations go (the main process hands them to its
tracker; a worker relays them to the main process) and in what they do when the
service stops, which stay with the callers.
"""

from __future__ import annotations

import socket

from pbx.app import Listener, Service, start_sip
from pbx.cluster.steering import Steering
from pbx.cluster.wire import open_link
from pbx.sip.endpoint import Endpoint
from pbx.transport.sink import EventSink
from pbx.transport.udp import UdpProtocol


async def serve_share(
    endpoint: Endpoint,
    index: int,
    shares: int,
    listeners: list[Listener],
    peers: dict[int, socket.socket],
    sink: EventSink,
    name: str,
) -> tuple[Service, Steering]:
    """Serve share ``index`` of ``shares`` on ``listeners`` (this process's sockets of
    the SIP port), with ``peers`` the links to every other share, by index.

    Raises OSError when a listener cannot be served.
    """
    steering = Steering(index, shares, endpoint, sink)
    for peer, peer_sock in peers.items():
        # A peer that goes away is the main process's business (it stops the service).
        peer_link = await open_link(peer_sock, steering.peer_handler(peer), _nothing)
        steering.add_peer(peer, peer_link)
    service = await start_sip(
        endpoint,
        listeners,
        sink,
        f"{name}: ",
        steer_for=steering.steer_for,
        steer_tcp=steering.steer_tcp,
    )
    for i, closer in enumerate(service.closers):
        protocol = getattr(closer, "get_protocol", lambda: None)()
        if isinstance(protocol, UdpProtocol):
            steering.serve(i, protocol)
    return service, steering


def _nothing() -> None:
    return None
