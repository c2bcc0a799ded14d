"""TCP glue on real sockets (127.0.0.1, ephemeral port) with a real Endpoint in the same
event loop: Content-Length framing however the bytes are cut, answers on the same
connection, CRLF keepalive pongs, and a connection closed on unframeable input (after
a 400 or 513 saying why, when the message's headers allow an answer).

Timeouts below only stop a broken test from hanging; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from pbx.sip.endpoint import Endpoint
from pbx.sip.events import BindingCreated, Event, Registered
from pbx.sip.message import Response, serialize_request
from pbx.sip.parse import StreamFramer, parse_message
from pbx.transport.tcp import serve_tcp
from tests.sip.test_registrar import Phone, challenge_params, make_registrar

HOST = "127.0.0.1"
WAIT = 5.0  # a hang guard, not an assertion


class Client:
    """One TCP connection to the server, reading whole responses with our framer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = StreamFramer()
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    async def send(self, *chunks: bytes) -> None:
        """Each chunk in its own write, drained (TCP_NODELAY: usually its own segment)."""
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()

    async def response(self) -> Response:
        while (data := self.framer.next_message()) is None:
            more = await asyncio.wait_for(self.reader.read(65536), WAIT)
            assert more, "connection closed"
            self.framer.feed(more)
        response = parse_message(data, stream=True)
        assert isinstance(response, Response)
        return response


async def with_server(test: Callable[[Endpoint, Client, list[Event]], Awaitable[None]]) -> None:
    endpoint = Endpoint(make_registrar())
    events: list[Event] = []

    def sink(batch: tuple[Event, ...]) -> None:
        events.extend(batch)

    server = await serve_tcp(endpoint, HOST, 0, sink)
    port = int(server.sockets[0].getsockname()[1])
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        await test(endpoint, Client(reader, writer), events)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def options(call_id: str, client_port: int, body: bytes = b"") -> bytes:
    lines = [
        "OPTIONS sip:example.com SIP/2.0",
        f"Via: SIP/2.0/TCP {HOST}:{client_port};branch=z9hG4bK{call_id}",
        "From: <sip:100@example.com>;tag=1",
        "To: <sip:100@example.com>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        "Content-Type: text/plain",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_register_round_trip() -> None:
    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        phone = Phone(endpoint.registrar, host=HOST, port=client.port, transport="tcp")
        await client.send(serialize_request(phone.request(expires=600)))
        challenge = await client.response()
        assert challenge.status == 401
        params = challenge_params(challenge.headers.get("www-authenticate") or "")
        request = phone.request(expires=600, authorization=phone.authorization(params))
        await client.send(serialize_request(request))
        ok = await client.response()
        assert ok.status == 200
        assert ok.headers.get("contact") == f"{phone.contact};expires=600"
        assert [type(e) for e in events] == [BindingCreated, Registered]
        assert events[0].source.transport == "tcp"
        assert events[0].source.port == client.port

    asyncio.run(with_server(scenario))


def test_several_messages_in_one_write() -> None:
    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        names = [f"one-write-{i}" for i in range(5)]
        body = b"\r\n\r\nlooks like the end of a header section"
        await client.send(b"".join(options(name, client.port, body) for name in names))
        got = [(await client.response()).headers.get("call-id") for _ in names]
        assert got == names

    asyncio.run(with_server(scenario))


def test_one_message_in_many_writes() -> None:
    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        data = options("many-writes", client.port, b"0123456789")
        await client.send(*(data[i : i + 3] for i in range(0, len(data), 3)))
        response = await client.response()
        assert response.status == 200
        assert response.headers.get("call-id") == "many-writes"
        # the next message on the same connection, byte by byte
        data = options("byte-by-byte", client.port)
        await client.send(*(data[i : i + 1] for i in range(len(data))))
        assert (await client.response()).headers.get("call-id") == "byte-by-byte"

    asyncio.run(with_server(scenario))


def test_crlf_keepalive_gets_a_pong_even_when_split() -> None:
    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        await client.send(b"\r\n\r\n")
        assert await asyncio.wait_for(client.reader.readexactly(2), WAIT) == b"\r\n"
        await client.send(b"\r\n", b"\r\n")
        assert await asyncio.wait_for(client.reader.readexactly(2), WAIT) == b"\r\n"
        await client.send(options("after-ping", client.port))
        assert (await client.response()).headers.get("call-id") == "after-ping"

    asyncio.run(with_server(scenario))


def test_unframeable_stream_closes_the_connection() -> None:
    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        await client.send(b"OPTIONS sip:example.com SIP/2.0\r\nContent-Length: lots\r\n\r\n")
        assert await asyncio.wait_for(client.reader.read(), WAIT) == b""

    asyncio.run(with_server(scenario))


@pytest.mark.parametrize(
    ("length", "status"), [(b"x", 400), (b"999999", 513)], ids=["malformed", "too large"]
)
def test_unframeable_message_is_answered_then_closed(length: bytes, status: int) -> None:
    """RFC 3261 §18.3: the stream cannot be cut further, but the sender learns why."""

    async def scenario(endpoint: Endpoint, client: Client, events: list[Event]) -> None:
        bad = options("unframeable", client.port)
        await client.send(bad.replace(b"Content-Length: 0", b"Content-Length: " + length))
        response = await client.response()
        assert (response.status, response.headers.get("call-id")) == (status, "unframeable")
        if status == 400:
            assert "Content-Length" in response.reason + (response.headers.get("warning") or "")
        assert await asyncio.wait_for(client.reader.read(), WAIT) == b""

    asyncio.run(with_server(scenario))
