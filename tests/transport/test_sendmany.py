"""``_sendmany.send_many`` on real loopback sockets: every datagram it says it sent
arrives byte for byte, in order, at its own destination; it stops, and says where, at
each datagram it leaves to uvloop's ``sendto`` (not a numeric address, not bytes, one
the kernel refuses). And ``UdpProtocol`` sends a burst's answers through it, the rest
through ``sendto``. Under ``make test`` (PBX_REQUIRE_COMPILED_CORE=1) the C module
must be the one in use.

Timeouts only stop a broken test from hanging; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest

from pbx.sip.endpoint import Endpoint, Outcome
from pbx.sip.response import Destination
from pbx.transport import udp
from tests.sip.c_twins import REQUIRED, under_make_test
from tests.sip.test_registrar import make_registrar

try:
    from pbx.transport._sendmany import send_many
except ImportError:
    send_many = None

needs_c = pytest.mark.skipif(
    send_many is None and not REQUIRED, reason="_sendmany.c not compiled (run `make core`)"
)
HOST = "127.0.0.1"
WAIT = 5.0  # a hang guard, not an assertion


@contextlib.contextmanager
def receivers(count: int, family: int = socket.AF_INET) -> Iterator[list[socket.socket]]:
    host = HOST if family == socket.AF_INET else "::1"
    socks = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((host, 0))
            sock.settimeout(WAIT)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def sender(family: int = socket.AF_INET, dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if dual_stack:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
    return sock


def drain(sock: socket.socket) -> list[bytes]:
    """What ``sock`` holds now (the sends are done: loopback delivers synchronously)."""
    got = []
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            got.append(sock.recv(70000))
    return got


def flat(pairs: list[tuple[object, object]]) -> list[object]:
    return [item for pair in pairs for item in pair]


@under_make_test
def test_make_test_sends_through_the_c_module() -> None:
    assert send_many is not None, "make test runs the compiled core: run `make core`"
    assert udp.send_many is send_many


@needs_c
def test_every_datagram_arrives_in_order_at_its_destination() -> None:
    assert send_many is not None
    with receivers(3) as rx, sender() as tx:
        # 150 datagrams: more than one sendmmsg call's 64.
        pairs: list[tuple[object, object]] = [
            (f"datagram {i} ".encode() * (i % 7 + 1), (HOST, rx[i % 3].getsockname()[1]))
            for i in range(150)
        ]
        assert send_many(tx.fileno(), socket.AF_INET, flat(pairs), 0) == 150
        for n, sock in enumerate(rx):
            assert drain(sock) == [data for i, (data, _) in enumerate(pairs) if i % 3 == n]


@needs_c
def test_it_starts_where_it_is_told_and_an_empty_list_sends_nothing() -> None:
    assert send_many is not None
    with receivers(1) as rx, sender() as tx:
        dest = (HOST, rx[0].getsockname()[1])
        assert send_many(tx.fileno(), socket.AF_INET, [], 0) == 0
        assert send_many(tx.fileno(), socket.AF_INET, flat([(b"a", dest), (b"b", dest)]), 1) == 2
        assert send_many(tx.fileno(), socket.AF_INET, flat([(b"c", dest)]), 1) == 1
        assert drain(rx[0]) == [b"b"]


@needs_c
@pytest.mark.parametrize(
    "data, destination",
    [
        (b"x", ("localhost", None)),  # a name: uvloop resolves it
        (b"x", ("::1", None)),  # IPv6 from an IPv4 socket
        (b"x", ("127.0.0.1%lo", None)),
        (b"x", ("127.0.0.1\x00junk", None)),
        (b"x", ("127.0.0.1", 0)),
        (b"x", ("127.0.0.1", 65536)),
        (b"x", ("127.0.0.1", "5060")),
        (b"x", ["127.0.0.1", None]),  # not a tuple
        (b"x", ("127.0.0.1",)),
        (b"x", ("\u00e9", None)),
        (bytearray(b"x"), None),  # not bytes
        ("x", None),
        (b"x" * 70000, None),  # the kernel refuses it (EMSGSIZE)
    ],
)
def test_it_stops_at_what_the_slow_path_must_send(data: object, destination: object) -> None:
    assert send_many is not None
    with receivers(1) as rx, sender() as tx:
        port = rx[0].getsockname()[1]
        if destination is None:
            destination = (HOST, port)
        elif isinstance(destination, tuple) and len(destination) == 2 and destination[1] is None:
            destination = (destination[0], port)
        elif isinstance(destination, list):
            destination = [destination[0], port]
        good = (HOST, port)
        pairs: list[tuple[object, object]] = [
            (b"before", good),
            (data, destination),
            (b"after", good),
        ]
        assert send_many(tx.fileno(), socket.AF_INET, flat(pairs), 0) == 1
        assert drain(rx[0]) == [b"before"]
        assert send_many(tx.fileno(), socket.AF_INET, flat(pairs), 2) == 3
        assert drain(rx[0]) == [b"after"]


@needs_c
def test_a_dual_stack_socket_sends_to_ipv4_and_ipv6_peers() -> None:
    assert send_many is not None
    with (
        receivers(1) as v4,
        receivers(1, socket.AF_INET6) as v6,
        sender(socket.AF_INET6, dual_stack=True) as tx,
    ):
        pairs: list[tuple[object, object]] = [
            (b"to v4", (HOST, v4[0].getsockname()[1])),
            (b"to v6", ("::1", v6[0].getsockname()[1])),
        ]
        assert send_many(tx.fileno(), socket.AF_INET6, flat(pairs), 0) == 2
        assert drain(v4[0]) == [b"to v4"]
        assert drain(v6[0]) == [b"to v6"]


@needs_c
def test_bad_calls_are_errors() -> None:
    assert send_many is not None
    with sender() as tx:
        with pytest.raises(ValueError):
            send_many(tx.fileno(), socket.AF_INET, [b"x"], 0)  # not pairs
        with pytest.raises(ValueError):
            send_many(tx.fileno(), socket.AF_INET, [], 1)
        with pytest.raises(TypeError):
            send_many(tx.fileno(), socket.AF_INET, (b"x", (HOST, 5060)), 0)  # a tuple
        with pytest.raises(TypeError):
            send_many(tx.fileno(), socket.AF_INET, [])


def test_a_burst_leaves_together_and_a_name_through_sendto() -> None:
    """Answers sent in one turn of the loop reach their phones, in order, the one to a
    host name too (uvloop's ``sendto`` resolves it, ``send_many`` does not)."""

    async def main() -> None:
        endpoint_transport = await udp.serve_udp(Endpoint(make_registrar()), HOST, 0, None)
        protocol = endpoint_transport.get_protocol()
        assert isinstance(protocol, udp.UdpProtocol)
        try:
            with receivers(2) as rx:
                ports = [sock.getsockname()[1] for sock in rx]
                hosts = [HOST, "localhost", HOST, HOST]
                for i, host in enumerate(hosts):
                    protocol._send(
                        Outcome(f"answer {i}".encode(), Destination(host, ports[i % 2]), ())
                    )
                loop = asyncio.get_running_loop()
                got = [
                    await asyncio.wait_for(loop.run_in_executor(None, sock.recv, 100), WAIT)
                    for sock in (rx[0], rx[0], rx[1], rx[1])
                ]
                assert sorted(got[:2]) == [b"answer 0", b"answer 2"]
                assert sorted(got[2:]) == [b"answer 1", b"answer 3"]
        finally:
            endpoint_transport.close()

    asyncio.run(main())
