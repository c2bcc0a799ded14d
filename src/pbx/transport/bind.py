"""Binding the SIP sockets, apart from serving them.

Why apart: with several SIP worker processes the main process binds every socket
(one per worker for each transport and address, SO_REUSEPORT) before any worker
runs, so the kernel's spread of phones over the sockets is fixed from the first
packet, a port in use is one clear error in one place, and port 0 resolves once.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

#: Receive buffer asked for: a burst of REGISTERs while the loop is busy must wait in
#: the kernel, not be dropped (each drop costs the phone a 500 ms retransmission).
#: The kernel caps it at net.core.rmem_max; root may go past that cap.
RECEIVE_BUFFER = 8 << 20

#: Pending TCP connections the kernel queues for each listening socket.
BACKLOG = 1024


@dataclass
class Bound:
    """The sockets of one transport on one address: one per SIP worker."""

    transport: str  # "udp" | "tcp"
    host: str
    port: int
    sockets: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        """Close every socket (those handed to a worker process are duplicates)."""
        for sock in self.sockets:
            sock.close()


def _grow_buffers(sock: socket.socket) -> None:
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue  # not root: fall back to the capped option


def bind_socket(transport: str, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """One non-blocking socket bound to ``host``:``port`` (listening, for TCP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            # IPv6 only: IPv4 has its own socket on the same port.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if transport == "udp":
            _grow_buffers(sock)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if transport != "udp":
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bind_all(transport: str, host: str, port: int, copies: int) -> Bound:
    """``copies`` sockets on the same address (SO_REUSEPORT when more than one);
    with port 0 the first gets a free port and the others share it."""
    bound = Bound(transport, host, port)
    try:
        for _ in range(copies):
            sock = bind_socket(transport, host, bound.port, reuse_port=copies > 1)
            bound.sockets.append(sock)
            bound.port = int(sock.getsockname()[1])
    except OSError:
        bound.close()
        raise
    return bound
