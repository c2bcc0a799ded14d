"""The kernel's pick of a SIP worker (``pbx.transport.kernel_steering``), run by the
real kernel on real sockets on 127.0.0.1.

Each test binds one socket more than the program's worker count and builds the program
to return that extra socket's index for what it does not read, so every datagram shows
which way the program went: the owner's socket, or "no choice" (in service the kernel
then uses its source-address hash). A load past the end of a datagram would end the
program with 0, the first socket; the byte-by-byte test looks for exactly that.
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pbx.sip.steering import owner, register_extension
from pbx.transport.kernel_steering import (
    MAX_INSTRUCTIONS,
    TO_SCAN_END,
    USER_MAX,
    attach,
    steering_program,
)
from tests.sip.test_fastlane import SHARED


class Group:
    """``workers + 1`` UDP sockets on one port; the last one receives "no choice"."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.sockets: list[socket.socket] = []
        port = 0
        for _ in range(workers + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", port))
            port = sock.getsockname()[1]
            self.sockets.append(sock)
        self.port = port
        attach(self.sockets[0], steering_program(workers, no_choice=workers))
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def landing(self, data: bytes) -> int:
        """The index of the socket ``data`` arrived at."""
        self.client.sendto(data, ("127.0.0.1", self.port))
        ready, _, _ = select.select(self.sockets, [], [], 2.0)
        assert len(ready) == 1, f"{len(ready)} sockets got {data[:40]!r}"
        assert ready[0].recv(65536) == data
        return self.sockets.index(ready[0])

    def close(self) -> None:
        for sock in [*self.sockets, self.client]:
            sock.close()


@contextmanager
def group(workers: int) -> Iterator[Group]:
    g = Group(workers)
    try:
        yield g
    finally:
        g.close()


def register(to: str, *, before: str = "", after: str = "") -> bytes:
    """A REGISTER as a phone sends it, with ``to`` as the To line."""
    return (
        "REGISTER sip:pbx SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK77;rport\r\n"
        f"{before}From: <sip:1042@pbx>;tag=a1\r\n{to}\r\n"
        "Call-ID: 0f5e3c@192.0.2.7\r\nCSeq: 1 REGISTER\r\n"
        "Contact: <sip:1042@192.0.2.7:5062>\r\nMax-Forwards: 70\r\nExpires: 3600\r\n"
        f"{after}Content-Length: 0\r\n\r\n"
    ).encode()


READ = [
    "To: <sip:1042@pbx>",
    "TO: <sip:1042@pbx>",
    "to: <sip:1042@pbx>;tag=x",
    'To: "Front desk" <sip:1042@pbx:5060;user=phone>',
    "To: sip:1042@pbx",
    "To: <sip:alice.smith-2_b~+@example.com>",
    "To: <sip:" + "7" * USER_MAX + "@pbx>",
]

NO_CHOICE = [
    "t: <sip:1042@pbx>",  # compact form
    "To : <sip:1042@pbx>",  # space before the colon
    "To: <sips:1042@pbx>",
    "To: <sip:pbx>",  # no user
    "To: <sip:@pbx>",
    "To: <sip:10%342@pbx>",  # escaped: the registrar unescapes it
    "To: <sip:1042:secret@pbx>",
    "To: <sip:1042;isub=1@pbx>",
    "To: <sip:" + "7" * (USER_MAX + 1) + "@pbx>",
    "To: <sip:caf\u00e9@pbx>",  # not ASCII
    'To: "' + "x" * 70 + '" <sip:1042@pbx>',  # "sip:" past the window
]


@pytest.mark.parametrize("to", READ)
def test_the_owner_gets_the_usual_to_shapes(to: str) -> None:
    data = register(to)
    extension = register_extension(data)
    assert extension is not None
    for workers in (2, 3, 4):
        with group(workers) as g:
            assert g.landing(data) == owner(extension, workers), (to, workers)


@pytest.mark.parametrize("to", NO_CHOICE)
def test_other_shapes_are_left_to_the_kernel_and_the_workers(to: str) -> None:
    with group(3) as g:
        assert g.landing(register(to)) == 3


def test_other_methods_short_datagrams_and_late_to_lines_are_left_alone() -> None:
    late = "X-Padding: " + "p" * TO_SCAN_END + "\r\n"
    with group(2) as g:
        assert g.landing(b"OPTIONS sip:pbx SIP/2.0\r\nTo: <sip:1042@pbx>\r\n\r\n" + b" " * 200) == 2
        assert g.landing(b"REGISTER") == 2
        assert g.landing(b"\r\n\r\n") == 2  # a keep-alive
        assert g.landing(register("To: <sip:1042@pbx>", before=late)) == 2
        # A To near the end leaves too few bytes for the reads after it.
        assert g.landing(b"REGISTER sip:pbx SIP/2.0\r\nTo: <sip:1043@pbx>\r\n\r\n") == 2


def test_every_prefix_of_a_register_ends_on_the_owner_or_no_choice() -> None:
    """Byte by byte: a program that loads past the end returns 0, the first socket."""
    data = register("To: <sip:1042@pbx>", after="X-Pad: " + "p" * 120 + "\r\n")
    assert owner("1042", 2) == 1
    with group(2) as g:
        landed = {n: g.landing(data[:n]) for n in range(1, len(data) + 1)}
    assert 0 not in landed.values(), [n for n, at in landed.items() if at == 0]
    assert landed[len(data)] == 1


def test_the_vendors_registers_reach_their_owner() -> None:
    corpus = json.loads((SHARED / "phones" / "register-corpus.json").read_text())
    left: set[str] = set()
    with group(2) as g:
        for record in corpus:
            data = record["raw"].encode("utf-8", "surrogateescape")
            extension = register_extension(data)
            landed = g.landing(data)
            if extension is None:
                continue  # the workers answer it where it lands
            assert landed in (owner(extension, 2), 2), record["id"]
            if landed == 2:
                left.add(record["id"])
    # Only the phone that writes "t:" for To is left to the workers' steering.
    assert left == {"threecom-compact-headers"}


def test_the_program_fits_the_kernel_and_refuses_no_workers() -> None:
    for workers in (1, 2, 64):
        assert len(steering_program(workers)) <= MAX_INSTRUCTIONS
    with pytest.raises(ValueError):
        steering_program(0)
