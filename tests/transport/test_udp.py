"""UDP glue on real sockets (127.0.0.1, ephemeral ports) with a real Endpoint in the
same event loop: a REGISTER round trip, and replies addressed by the RFC 3261 §18.2.2 /
RFC 3581 rules.

Timeouts below only stop a broken test from hanging; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from pbx.sip.endpoint import Endpoint
from pbx.sip.events import BindingCreated, Event, Registered
from pbx.sip.message import Request, Response, make_headers, serialize_request
from pbx.sip.parse import parse_message
from pbx.transport.udp import serve_udp
from tests.sip.test_registrar import Phone, challenge_params, make_registrar

HOST = "127.0.0.1"
WAIT = 5.0  # a hang guard, not an assertion


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def with_via(request: Request, via: str) -> Request:
    fields = [(n, via if n == "via" else v) for n, v in request.headers.fields]
    return Request(request.method, request.uri, request.version, make_headers(fields))


async def receive(sock: socket.socket) -> tuple[Response, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), WAIT)
    response = parse_message(data)
    assert isinstance(response, Response)
    return response, addr


async def with_server(
    test: Callable[[Endpoint, int, list[Event]], Awaitable[None]],
) -> None:
    endpoint = Endpoint(make_registrar())
    events: list[Event] = []

    def sink(batch: tuple[Event, ...]) -> None:
        events.extend(batch)

    transport = await serve_udp(endpoint, HOST, 0, sink)
    try:
        await test(endpoint, int(transport.get_extra_info("sockname")[1]), events)
    finally:
        transport.close()


def test_register_round_trip() -> None:
    async def scenario(endpoint: Endpoint, port: int, events: list[Event]) -> None:
        loop = asyncio.get_running_loop()
        with udp_socket() as sock:
            phone = Phone(endpoint.registrar, host=HOST, port=port_of(sock))
            await loop.sock_sendto(
                sock, serialize_request(phone.request(expires=600)), (HOST, port)
            )
            challenge, addr = await receive(sock)
            assert challenge.status == 401
            assert addr == (HOST, port)
            params = challenge_params(challenge.headers.get("www-authenticate") or "")
            request = phone.request(expires=600, authorization=phone.authorization(params))
            await loop.sock_sendto(sock, serialize_request(request), (HOST, port))
            ok, _ = await receive(sock)
            assert ok.status == 200
            assert ok.headers.get("contact") == f"{phone.contact};expires=600"
            assert [type(e) for e in events] == [BindingCreated, Registered]
            created = events[0]
            assert isinstance(created, BindingCreated)
            assert (created.source.host, created.source.port) == (HOST, port_of(sock))
            assert created.source.transport == "udp"

    asyncio.run(with_server(scenario))


def test_reply_goes_to_the_sent_by_port_without_rport_and_to_the_source_port_with_it() -> None:
    async def scenario(endpoint: Endpoint, port: int, events: list[Event]) -> None:
        loop = asyncio.get_running_loop()
        with udp_socket() as sender, udp_socket() as listener:
            base = Request(
                "OPTIONS",
                "sip:example.com",
                "SIP/2.0",
                make_headers(
                    [
                        ("Via", "placeholder"),
                        ("From", "<sip:100@example.com>;tag=1"),
                        ("To", "<sip:100@example.com>"),
                        ("Call-ID", "udp-dest@127.0.0.1"),
                        ("CSeq", "1 OPTIONS"),
                    ]
                ),
            )
            # no rport: RFC 3261 §18.2.2, the sent-by port (the listener's)
            via = f"SIP/2.0/UDP {HOST}:{port_of(listener)};branch=z9hG4bKno-rport"
            await loop.sock_sendto(sender, serialize_request(with_via(base, via)), (HOST, port))
            response, _ = await receive(listener)
            assert response.status == 200
            assert response.headers.get("via") == via
            # rport: RFC 3581, the packet's source port (the sender's), whatever sent-by says
            via = f"SIP/2.0/UDP {HOST}:{port_of(listener)};rport;branch=z9hG4bKrport"
            await loop.sock_sendto(sender, serialize_request(with_via(base, via)), (HOST, port))
            response, _ = await receive(sender)
            assert response.headers.get("via") == (
                f"SIP/2.0/UDP {HOST}:{port_of(listener)};rport={port_of(sender)}"
                f";branch=z9hG4bKrport;received={HOST}"
            )
            # sent-by port 0 (SIPp past -max_socket) with rport: the source port too
            via = f"SIP/2.0/UDP {HOST}:0;rport;branch=z9hG4bKport0"
            await loop.sock_sendto(sender, serialize_request(with_via(base, via)), (HOST, port))
            response, _ = await receive(sender)
            assert response.status == 200
            assert response.headers.get("via") == (
                f"SIP/2.0/UDP {HOST}:0;rport={port_of(sender)};branch=z9hG4bKport0;received={HOST}"
            )

    asyncio.run(with_server(scenario))


def test_response_waits_for_an_asynchronous_sink() -> None:
    """The 200 leaves only after the sink's awaitable completed (a durable write)."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        endpoint = Endpoint(make_registrar())
        written: list[Event] = []

        async def store(batch: tuple[Event, ...]) -> None:
            await asyncio.sleep(0)
            written.extend(batch)

        def sink(batch: tuple[Event, ...]) -> Awaitable[None]:
            return store(batch)

        transport = await serve_udp(endpoint, HOST, 0, sink)
        port = int(transport.get_extra_info("sockname")[1])
        try:
            with udp_socket() as sock:
                phone = Phone(endpoint.registrar, host=HOST, port=port_of(sock))
                await loop.sock_sendto(sock, serialize_request(phone.request()), (HOST, port))
                challenge, _ = await receive(sock)
                params = challenge_params(challenge.headers.get("www-authenticate") or "")
                request = phone.request(authorization=phone.authorization(params))
                await loop.sock_sendto(sock, serialize_request(request), (HOST, port))
                ok, _ = await receive(sock)
                assert ok.status == 200
                assert [type(e) for e in written] == [BindingCreated, Registered]
        finally:
            transport.close()

    asyncio.run(scenario())


def test_garbage_is_ignored_and_the_socket_keeps_serving() -> None:
    async def scenario(endpoint: Endpoint, port: int, events: list[Event]) -> None:
        loop = asyncio.get_running_loop()
        with udp_socket() as sock:
            phone = Phone(endpoint.registrar, host=HOST, port=port_of(sock))
            for junk in (b"\x00\xff garbage", b"\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"):
                await loop.sock_sendto(sock, junk, (HOST, port))
            await loop.sock_sendto(sock, serialize_request(phone.request()), (HOST, port))
            response, _ = await receive(sock)  # the first datagram back is the 401
            assert response.status == 401
            assert events == []

    asyncio.run(with_server(scenario))


def test_200_waits_for_the_commit_and_a_retransmission_never_overtakes_it() -> None:
    """The sink's future stands for the tracker's commit: until it completes, neither
    the 200 nor the answer to a retransmission of that REGISTER may leave."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        endpoint = Endpoint(make_registrar())
        commit: asyncio.Future[None] = loop.create_future()

        def sink(batch: tuple[Event, ...]) -> asyncio.Future[None]:
            return commit

        transport = await serve_udp(endpoint, HOST, 0, sink)
        port = int(transport.get_extra_info("sockname")[1])
        try:
            with udp_socket() as sock:
                phone = Phone(endpoint.registrar, host=HOST, port=port_of(sock))
                await loop.sock_sendto(
                    sock, serialize_request(phone.request(expires=600)), (HOST, port)
                )
                challenge, _ = await receive(sock)
                params = challenge_params(challenge.headers.get("www-authenticate") or "")
                request = phone.request(expires=600, authorization=phone.authorization(params))
                wire = serialize_request(request)
                await loop.sock_sendto(sock, wire, (HOST, port))
                await loop.sock_sendto(sock, wire, (HOST, port))  # a retransmission
                early = asyncio.ensure_future(receive(sock))
                await asyncio.sleep(0.3)
                assert not early.done(), "a 200 left before its row was committed"
                commit.set_result(None)
                ok, _ = await early
                assert ok.status == 200
                # Exactly one answer for the two copies: nothing else is queued.
                with contextlib.suppress(TimeoutError):
                    extra = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), 0.3)
                    raise AssertionError(f"second answer {extra!r}")
        finally:
            transport.close()

    asyncio.run(main())
