"""The bench's steady-state scenario (bench/scenarios/refresh.xml), run by real sipp
through a relay that holds every answer back, in front of a real ``pbx serve``.

Why: the refresh figures in bench/README.md are only as good as this scenario. It
must do what a phone does (issue 4, requirement 3): one challenge, then refreshes
with the same nonce and the next nc, one transaction each; and its refresh timer must
run from one send to the next, so that a registrar's latency does not lower the rate
offered. An earlier version paused a fixed period after each 200, so every refresh
left ``period + latency`` after the one before; the relay's delay makes that
difference large enough to see without any tight timing: with a 300 ms delay the
old scenario's refreshes leave 700 ms apart, this one's 400 ms, and the test's line
lies at 550 ms. Nothing here measures speed.
"""

from __future__ import annotations

import heapq
import re
import selectors
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bench.sipp import render

from tests.e2e.conftest import PbxServer
from tests.e2e.sippctl import run_sipp

pytestmark = pytest.mark.e2e

PERIOD_MS = 400
DELAY_S = 0.3
REFRESHES = 3
PHONES = 5


@dataclass(frozen=True)
class Seen:
    """One datagram through the relay: when, which phone socket, what."""

    at: float
    client: tuple[str, int]
    data: bytes


@dataclass
class DelayingRelay:
    """A UDP relay that forwards requests at once and answers ``delay_s`` later.

    Each phone socket gets its own upstream socket, so pbx's answer (sent to the
    source, by rport) comes back to the relay on a socket that says whose it is.
    """

    upstream: tuple[str, int]
    delay_s: float
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    answers: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, front: socket.socket) -> None:
        """Relay until stopped; answers wait in a heap ordered by when they are due."""
        selector = selectors.DefaultSelector()
        selector.register(front, selectors.EVENT_READ, None)
        sockets: dict[tuple[str, int], socket.socket] = {}
        due: list[tuple[float, int, tuple[str, int], bytes]] = []
        order = 0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                while due and due[0][0] <= now:
                    _, _, client, data = heapq.heappop(due)
                    front.sendto(data, client)
                    self.answers.append(Seen(time.monotonic(), client, data))
                wait = min(0.05, max(0.0, due[0][0] - now)) if due else 0.05
                for key, _ in selector.select(wait):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data is None:
                        data, client = front.recvfrom(65535)
                        self.requests.append(Seen(time.monotonic(), client, data))
                        if client not in sockets:
                            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            out.bind((self.host, 0))
                            sockets[client] = out
                            selector.register(out, selectors.EVENT_READ, client)
                        sockets[client].sendto(data, self.upstream)
                    else:
                        data = sock.recv(65535)
                        order += 1
                        when = time.monotonic() + self.delay_s
                        heapq.heappush(due, (when, order, key.data, data))
        finally:
            for out in sockets.values():
                out.close()
            selector.close()

    @contextmanager
    def running(self) -> Iterator[DelayingRelay]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as front:
            front.bind((self.host, 0))
            self.port = int(front.getsockname()[1])
            thread = threading.Thread(target=self.serve, args=(front,), daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                thread.join(5)


def _header(data: bytes, name: bytes) -> bytes:
    match = re.search(rb"^" + name + rb":[ \t]*([^\r\n]*)", data, re.MULTILINE | re.IGNORECASE)
    assert match is not None, f"no {name!r} in {data!r}"
    return match.group(1)


def _auth_param(data: bytes, name: bytes) -> bytes | None:
    match = re.search(rb"^Authorization:[^\r\n]*?\b" + name + rb"=\"?([^\",\r\n]+)", data, re.M)
    return match.group(1) if match else None


def _by_call(seen: list[Seen]) -> dict[bytes, list[Seen]]:
    calls: dict[bytes, list[Seen]] = defaultdict(list)
    for item in seen:
        calls[_header(item.data, b"Call-ID")].append(item)
    return calls


def _first_by_cseq(items: list[Seen]) -> dict[int, Seen]:
    """A retransmission (none is expected: the delay is under sipp's 500 ms) keeps the
    first copy, whose time is when the request left."""
    out: dict[int, Seen] = {}
    for item in items:
        out.setdefault(int(_header(item.data, b"CSeq").split()[0]), item)
    return out


def test_refreshes_reuse_the_nonce_and_leave_one_period_after_the_last(
    pbx: PbxServer, tmp_path: Path
) -> None:
    users = [(str(n), f"secret{n}") for n in range(1000, 1000 + PHONES)]
    scenario = render(
        "refresh.xml", tmp_path, {"PERIOD_MS": str(PERIOD_MS), "REFRESHES": str(REFRESHES)}
    )
    with DelayingRelay(pbx.address, DELAY_S).running() as relay:
        run = run_sipp(relay, tmp_path / "sipp", scenario, users, transport="un", rate=10)
    assert run.returncode == 0, run.describe()
    assert run.counter("SuccessfulCall") == PHONES, run.describe()

    requests, answers = _by_call(relay.requests), _by_call(relay.answers)
    assert len(requests) == PHONES
    period = PERIOD_MS / 1000
    for call_id, sent in requests.items():
        by_cseq, answered = _first_by_cseq(sent), _first_by_cseq(answers[call_id])
        # REGISTER, REGISTER with digest, then the refreshes: one transaction each.
        assert sorted(by_cseq) == list(range(1, 3 + REFRESHES)), call_id
        statuses = [int(a.data.split()[1]) for a in answered.values()]
        assert statuses == [401] + [200] * (1 + REFRESHES), call_id

        # One challenge for the whole call: the same nonce, nc counting up from 1.
        authorized = [by_cseq[n].data for n in range(2, 3 + REFRESHES)]
        assert len({_auth_param(d, b"nonce") for d in authorized}) == 1, call_id
        ncs = [int(_auth_param(d, b"nc") or b"0", 16) for d in authorized]
        assert ncs == list(range(1, 2 + REFRESHES)), call_id

        # The first refresh leaves a period after the registration's 200 arrived ...
        gaps = [by_cseq[3].at - answered[2].at]
        # ... and each later one a period after the refresh before it left, however
        # long that one's answer took (DELAY_S here).
        gaps += [by_cseq[n].at - by_cseq[n - 1].at for n in range(4, 3 + REFRESHES)]
        for gap in gaps:
            assert period * 0.9 <= gap < period + DELAY_S / 2, (call_id, gaps)
