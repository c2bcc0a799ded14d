"""Binding apart from serving (``pbx.transport.bind``), on real sockets on 127.0.0.1:
port 0 resolves once and every copy shares it; copies share the port only through
SO_REUSEPORT, so another program's socket on it is a clear error."""

from __future__ import annotations

import socket

import pytest

from pbx.app import bind_sip
from pbx.config import ServerSettings, Settings
from pbx.transport.bind import bind_all


def _settings(port: int, workers: int) -> Settings:
    server = ServerSettings(sip_host="127.0.0.1", sip_port=port, workers=workers)
    return Settings(server=server)


def test_port_zero_resolves_once_for_every_transport_and_copy() -> None:
    bound = bind_sip(_settings(0, 3), copies=3)
    try:
        ports = {sock.getsockname()[1] for b in bound for sock in b.sockets}
        assert [(b.transport, len(b.sockets)) for b in bound] == [("udp", 3), ("tcp", 3)]
        assert len(ports) == 1 and ports != {0}
        assert {b.port for b in bound} == ports
        for b in bound:
            for sock in b.sockets:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        for b in bound:
            b.close()


def test_one_copy_does_not_share_its_port() -> None:
    bound = bind_sip(_settings(0, 1))
    try:
        for b in bound:
            assert b.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    finally:
        for b in bound:
            b.close()


def test_a_port_held_by_another_program_fails_and_leaves_nothing_bound() -> None:
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    port = other.getsockname()[1]
    try:
        with pytest.raises(OSError):
            bind_all("udp", "127.0.0.1", port, copies=2)
    finally:
        other.close()
    # Nothing of the failed attempt holds the port: a plain socket can take it now.
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        again.bind(("127.0.0.1", port))
    finally:
        again.close()
