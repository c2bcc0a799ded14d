"""A SIP worker process: its own registrar core on the shared SIP port, rows committed
by the main process.

Why this shape: one Python process tops out at one core. Workers serve sockets bound
to the SIP port with SO_REUSEPORT (the main process binds them); the kernel spreads
datagrams over them by source address, and each extension's REGISTERs are passed to
the worker that owns it (``pbx.cluster.steering``), so its nonces, bindings and
transactions live in one worker. The database has one writer, the main process: a
worker sends its sightings there (one batch in flight) and holds the answers until
the main process says they are committed, so a 200 OK still means the row is written.
The worker also sends, for every extension whose bindings changed, where and until
when it is bound, so the API can tell live phones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pbx.app import Listener, Service, build_endpoint, expiry_timer, start_sip, tune_gc
from pbx.cli import configure_logging
from pbx.cluster.steering import Steering
from pbx.cluster.wire import Link, open_link
from pbx.config import Settings
from pbx.eventlog import log_events
from pbx.phones.tracker import sightings_of
from pbx.sip.events import BindingEvent, Event
from pbx.sip.registrar import Registrar
from pbx.stalls import late_wake_ups
from pbx.transport.udp import UdpProtocol

log = logging.getLogger("pbx.cluster")

#: How long a stopping worker waits for the main process to confirm its last commits.
DRAIN_TIMEOUT = 5.0
#: How often a worker reports its binding count (for ``GET /api/health``).
HEARTBEAT = 1.0


class CommitRelay:
    """The worker's event sink: sightings to the main process, answers held until acked.

    At most one batch is in flight (Nagle's idea): while the main process commits one,
    the next fills, and goes as soon as the ``committed`` answer arrives. At a low rate
    every registration travels at once; under load each message carries many, so the
    per-message cost (pickling, two system calls each way) is paid per batch, not per
    phone, and the main process's group commit takes them together anyway.
    """

    def __init__(self, link: Link, registrar: Registrar) -> None:
        self._link = link
        self._registrar = registrar
        self._loop = asyncio.get_running_loop()
        self._sightings: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._sequence = 0
        self._touched: set[str] = set()
        self._scheduled = False
        self._beat: tuple[int, int, int] | None = None  # the last heartbeat sent

    def submit(self, events: tuple[Event, ...]) -> asyncio.Future[None] | None:
        """Log and relay ``events``; the future completes once their rows are committed."""
        log_events(events)
        sightings = sightings_of(events, datetime.now(UTC))
        if sightings:
            self._sightings.extend(sightings)
            if self._waiter is None:
                self._waiter = self._loop.create_future()
        self.touched(events, log_them=False)
        return self._waiter if sightings else None

    def touched(self, events: tuple[Event, ...], *, log_them: bool = True) -> None:
        """Note the extensions whose bindings ``events`` changed (expiry timer too)."""
        if log_them:
            log_events(events)
        for event in events:
            if isinstance(event, BindingEvent):
                self._touched.add(event.extension)
        if not self._scheduled and (self._touched or self._sightings):
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        sequence: int | None = None
        sightings = self._sightings
        if sightings and not self._inflight and self._waiter is not None:
            self._sequence += 1
            sequence = self._sequence
            self._inflight[sequence] = self._waiter
            self._sightings, self._waiter = [], None
        if sequence is None and (sightings or not self._touched):
            # Sightings wait for the batch in flight, and the binding changes with
            # them: they reach the main process before the answers they belong to.
            return
        live = {extension: self._live(extension) for extension in self._touched}
        self._touched.clear()
        self._link.send(("batch", sequence, sightings if sequence else [], live))

    def heartbeat(self, passed_on: int = 0, taken_over: int = 0) -> None:
        """Report the binding count and the steering counters (``Steering``) when they
        changed: counting walks every extension, so it is done once a second, not per
        registration."""
        beat = (self._registrar.binding_count(), passed_on, taken_over)
        if beat != self._beat:
            self._beat = beat
            self._link.send(("beat", *beat))

    def _live(self, extension: str) -> dict[str, float]:
        """Source IP -> wall-clock expiry of the latest live binding from there."""
        now = self._loop.time()
        wall = time.time() - now
        latest: dict[str, float] = {}
        for binding in self._registrar.bindings(extension):
            if binding.expires_at > now:
                host = binding.source.host
                expires = wall + binding.expires_at
                if expires > latest.get(host, 0.0):
                    latest[host] = expires
        return latest

    def committed(self, sequence: int) -> None:
        """The main process committed batch ``sequence``: release its answers, and
        send the batch that filled meanwhile."""
        waiter = self._inflight.pop(sequence, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._sightings and not self._scheduled:
            self._flush()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) until every relayed batch is confirmed."""
        deadline = self._loop.time() + timeout
        while self._inflight or self._sightings:
            if not self._inflight:
                self._flush()
            left = deadline - self._loop.time()
            if left <= 0:
                return
            await asyncio.wait(list(self._inflight.values()), timeout=left)


@dataclass
class WorkerStart:
    """What the main process hands a worker: its number, its sockets, its links."""

    index: int
    workers: int
    listeners: list[Listener]  # its own duplicate of every bound SIP socket
    link: socket.socket  # to the main process
    peers: dict[int, socket.socket]  # to every other worker, by index


async def run(settings: Settings, start: WorkerStart) -> None:
    """Serve SIP until the main process says stop (or goes away)."""
    index = start.index
    stop = asyncio.Event()
    relay: CommitRelay | None = None

    def on_message(message: tuple[Any, ...]) -> None:
        if message[0] == "committed" and relay is not None:
            relay.committed(message[1])
        elif message[0] == "stop":
            stop.set()

    link = await open_link(start.link, on_message, stop.set)
    endpoint = build_endpoint(settings)
    relay = CommitRelay(link, endpoint.registrar)
    steering = Steering(index, start.workers, endpoint, relay.submit)
    for peer, peer_sock in start.peers.items():
        # A peer that goes away is the main process's business (it stops the service).
        peer_link = await open_link(peer_sock, steering.peer_handler(peer), _nothing)
        steering.add_peer(peer, peer_link)
    service: Service | None = None
    timer: asyncio.Task[None] | None = None
    beat: asyncio.Task[None] | None = None
    try:
        try:
            service = await start_sip(
                endpoint,
                start.listeners,
                relay.submit,
                f"worker {index}: ",
                steer_for=steering.steer_for,
                steer_tcp=steering.steer_tcp,
            )
        except OSError as exc:
            link.send(("failed", index, str(exc)))
            return
        for i, closer in enumerate(service.closers):
            protocol = getattr(closer, "get_protocol", lambda: None)()
            if isinstance(protocol, UdpProtocol):
                steering.serve(i, protocol)
        link.send(("ready", index))
        process = f"SIP worker {index}"
        timer = asyncio.create_task(expiry_timer(endpoint, relay.touched, late_wake_ups(process)))
        beat = asyncio.create_task(
            _every(HEARTBEAT, lambda: relay.heartbeat(steering.passed_on, steering.taken_over))
        )
        tune_gc(process)
        log.info("SIP worker %d ready (pid %d)", index, os.getpid())
        await stop.wait()
    finally:
        if service is not None:
            for closer in service.closers:
                closer.close()
        for task in (timer, beat):
            if task is not None:
                task.cancel()
        await relay.drain(DRAIN_TIMEOUT)
        link.close()
        await asyncio.wait_for(asyncio.shield(link.closed), DRAIN_TIMEOUT)


async def _every(period: float, action: Callable[[], None]) -> None:
    while True:
        action()
        await asyncio.sleep(period)


def _nothing() -> None:
    return None


def main(settings: Settings, start: WorkerStart) -> None:
    """Process entry point (the ``multiprocessing`` spawn target)."""
    # The main process handles Ctrl-C and SIGTERM and tells the workers to stop, in
    # order; a worker stopped first by the terminal's SIGINT or by a service manager
    # signalling the whole group would drop answers still waiting for their commit.
    # A worker whose main process is gone (even by SIGKILL) stops by itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.logging.level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(run(settings, start))
    else:
        uvloop.run(run(settings, start))
