"""The main process with ``server.workers`` > 1: starts the SIP workers, commits their
rows, serves the API over what they report.

Order matters and is kept here:

1. The tracker opens the database, migrates it and runs the boot cleanup *before* any
   worker exists, so no row written by this run can be cleared by it.
2. This process binds every SIP socket, one per worker (SO_REUSEPORT), before any
   worker starts: the kernel's spread of phones over them is fixed from the first
   packet, and a port in use is one clear error. With ``server.kernel_steering`` the
   kernel hands each UDP REGISTER to the worker owning its extension
   (``pbx.transport.kernel_steering``); what it cannot read, the workers pass on.
3. The API starts once every worker is listening.
4. On SIGTERM/SIGINT the workers stop first (closing their sockets, then waiting for
   their last commits), then the API, then the tracker.

A worker that dies on its own stops the whole service with an error (Kamailio does the
same when a child dies): half a registrar that silently drops a share of the phones is
worse than a restart by the service manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn

from pbx.app import (
    Listener,
    ServiceFailed,
    bind_sip,
    build_tracker,
    database_health,
    start_api,
    tune_gc,
    watch_loop,
)
from pbx.cluster import worker
from pbx.cluster.wire import Link, open_link
from pbx.config import Settings
from pbx.phones.tracker import TrackedStore, Tracker
from pbx.stalls import late_wake_ups
from pbx.transport import kernel_steering
from pbx.transport.bind import Bound

log = logging.getLogger("pbx.cluster")

#: How long a worker may take to import, bind and say ready.
START_TIMEOUT = 30.0
#: How long a stopping worker gets before it is killed.
STOP_TIMEOUT = 10.0
#: This process's name in the log (``pbx.stalls``).
MAIN = "the main process"


def _steer_in_kernel(bound: list[Bound], workers: int) -> None:
    """Attach the steering program to each UDP socket group; where the kernel refuses
    it (no SO_ATTACH_REUSEPORT_CBPF before Linux 4.5), the workers' own steering does
    all the passing, as it does for what the program cannot read."""
    program = kernel_steering.steering_program(workers)
    for b in bound:
        if b.transport != "udp":
            continue  # a TCP SYN carries no REGISTER to read
        try:
            kernel_steering.attach(b.sockets[0], program)
        except OSError as exc:
            log.warning(
                "kernel steering unavailable on udp %s:%d (%s); the SIP workers pass "
                "REGISTERs to the owner of their extension themselves",
                b.host,
                b.port,
                exc,
            )


@dataclass
class WorkerHandle:
    """The main process's view of one SIP worker."""

    index: int
    process: Any  # multiprocessing's SpawnProcess (untyped)
    ready: asyncio.Future[None]
    link: Link | None = None
    live: dict[str, dict[str, float]] = field(default_factory=dict)
    bindings: int = 0
    passed_on: int = 0  # REGISTERs it passed to the worker owning their extension
    taken_over: int = 0  # REGISTERs other workers passed to it
    running: bool = True


class Cluster:
    """Starts, feeds and stops the SIP workers."""

    def __init__(self, settings: Settings, tracker: Tracker) -> None:
        self._settings = settings
        self._tracker = tracker
        self._context = multiprocessing.get_context("spawn")
        self.workers: list[WorkerHandle] = []
        self.ports: dict[str, list[tuple[str, int]]] = {}
        self.failed = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        """Bind every SIP socket, start every worker on its share, wait until all serve.

        Raises OSError when a socket cannot be bound (e.g. the port is in use) or a
        worker does not start.
        """
        count = self._settings.server.workers
        bound = bind_sip(self._settings, copies=count)
        try:
            if count > 1 and self._settings.server.kernel_steering:
                _steer_in_kernel(bound, count)
            for b in bound:
                self.ports.setdefault(b.transport, []).append((b.host, b.port))
            peers: list[dict[int, socket.socket]] = [{} for _ in range(count)]
            for i in range(count):
                for j in range(i + 1, count):
                    peers[i][j], peers[j][i] = socket.socketpair()
            try:
                for index in range(count):
                    listeners = [(b.transport, b.host, b.port, b.sockets[index]) for b in bound]
                    await self._spawn(index, count, listeners, peers[index])
            finally:
                for ends in peers:
                    for end in ends.values():
                        end.close()  # the workers hold their own duplicates
            for handle in self.workers:
                await self._ready(handle)
        finally:
            for b in bound:
                b.close()  # each worker holds its own duplicates now

    async def _spawn(
        self, index: int, count: int, listeners: list[Listener], peers: dict[int, socket.socket]
    ) -> None:
        ours, theirs = socket.socketpair()
        start = worker.WorkerStart(index, count, listeners, theirs, peers)
        process = self._context.Process(
            target=worker.main, args=(self._settings, start), name=f"pbx-sip-{index}"
        )
        process.start()
        theirs.close()
        loop = asyncio.get_running_loop()
        handle = WorkerHandle(index, process, loop.create_future())
        self.workers.append(handle)
        handle.link = await open_link(
            ours, partial(self.on_message, handle), partial(self._on_lost, handle)
        )

    async def _ready(self, handle: WorkerHandle) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(handle.ready), START_TIMEOUT)
        except TimeoutError:
            raise OSError(
                f"SIP worker {handle.index} did not start in {START_TIMEOUT:.0f} s"
            ) from None

    def on_message(self, handle: WorkerHandle, message: tuple[Any, ...]) -> None:
        """One message from worker ``handle`` (batch, ready, failed)."""
        kind = message[0]
        if kind == "batch":
            _, sequence, sightings, live = message
            for extension, hosts in live.items():
                if hosts:
                    handle.live[extension] = hosts
                else:
                    handle.live.pop(extension, None)
            if sequence is not None:
                self._commit(handle, sequence, sightings)
        elif kind == "beat":
            _, handle.bindings, handle.passed_on, handle.taken_over = message
        elif kind == "ready" and not handle.ready.done():
            handle.ready.set_result(None)
        elif kind == "failed" and not handle.ready.done():
            handle.ready.set_exception(OSError(message[2]))

    def _commit(self, handle: WorkerHandle, sequence: int, sightings: list[Any]) -> None:
        """Hand a worker's batch to the tracker; acknowledge once it is recorded."""
        link = handle.link
        assert link is not None
        waiter = self._tracker.submit_sightings(sightings)
        if waiter is None:
            link.send(("committed", sequence))
            return
        future = asyncio.ensure_future(waiter)
        future.add_done_callback(lambda _: link.send(("committed", sequence)))

    def _on_lost(self, handle: WorkerHandle) -> None:
        handle.running = False
        if not handle.ready.done():
            handle.ready.set_exception(OSError(f"SIP worker {handle.index} exited during start-up"))
            return
        if not self._stopping:
            log.error("SIP worker %d exited unexpectedly; stopping the service", handle.index)
            self.failed.set()

    async def stop(self) -> None:
        """Ask every worker to stop, wait for them (bounded), kill the stragglers."""
        self._stopping = True
        for handle in self.workers:
            if handle.link is not None:
                handle.link.send(("stop",))
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + STOP_TIMEOUT
        for handle in self.workers:
            left = max(0.1, deadline - time.monotonic())
            await loop.run_in_executor(None, handle.process.join, left)
            if handle.process.is_alive():
                log.error("SIP worker %d did not stop in time; killing it", handle.index)
                handle.process.kill()
                await loop.run_in_executor(None, handle.process.join, 5.0)
            if handle.link is not None:
                handle.link.close()


class ClusterStatus:
    """``ServiceStatus`` from what the workers last reported (see ``pbx.api.status``)."""

    def __init__(self, cluster: Cluster, tracker: Tracker, database_type: str) -> None:
        self._cluster = cluster
        self._tracker = tracker
        self._database_type = database_type

    def live_binding(self, extension: str, ip_address: str) -> datetime | None:
        """Expiry (UTC) of the phone's latest live binding in any worker, or None."""
        latest = max(
            (w.live.get(extension, {}).get(ip_address, 0.0) for w in self._cluster.workers),
            default=0.0,
        )
        if latest <= time.time():
            return None
        return datetime.fromtimestamp(latest, UTC)

    def health(self) -> dict[str, object]:
        """SIP and database state for ``GET /api/health``, summed over the workers."""
        workers = self._cluster.workers
        return {
            "sip": {
                "status": "up" if all(w.running for w in workers) else "down",
                "transports": sorted(self._cluster.ports),
                "bindings": sum(w.bindings for w in workers),
                "workers": [
                    {
                        "index": w.index,
                        "pid": w.process.pid,
                        "up": w.running,
                        "bindings": w.bindings,
                        "passed_on": w.passed_on,
                        "taken_over": w.taken_over,
                    }
                    for w in workers
                ],
            },
            "database": database_health(self._tracker, self._database_type),
        }


async def serve_cluster(settings: Settings, config_path: Path) -> None:
    """``pbx serve`` with several SIP workers; see the module docstring for the order."""
    tracker = build_tracker(settings, config_path)
    await tracker.start()
    cluster = Cluster(settings, tracker)
    tasks: list[asyncio.Task[None]] = []
    api_server: uvicorn.Server | None = None
    watch: asyncio.Task[None] | None = None
    try:
        await cluster.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if settings.api.enabled:
            status = ClusterStatus(cluster, tracker, settings.database.type)
            api_server = await start_api(settings, TrackedStore(tracker), status, tasks)
        tune_gc(MAIN)
        # This process has no expiry timer; a loop of its that stalls holds every
        # worker's commit acknowledgements, so it is watched on its own (pbx.stalls),
        # from the end of start-up (whose one-off work is not a stall).
        watch = asyncio.create_task(watch_loop(late_wake_ups(MAIN)))
        log.info(
            "pbx ready: %d extensions, realm %r, %d SIP workers, config %s",
            len(settings.extensions),
            settings.registrar.realm,
            len(cluster.workers),
            config_path,
        )
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(cluster.failed.wait())
        await asyncio.wait((stopped, failed), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        if cluster.failed.is_set():
            raise ServiceFailed("a SIP worker exited unexpectedly (see the log above)")
    finally:
        log.info("shutting down")
        if watch is not None:
            watch.cancel()
        await cluster.stop()
        if api_server is not None:
            api_server.should_exit = True
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await tracker.close()
        log.info("stopped")
