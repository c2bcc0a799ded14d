"""Wiring: settings -> registrar core -> transports (-> phone tracker, API).

Everything is built here, at start-up, from the settings passed in (no globals);
``run`` serves until SIGTERM/SIGINT and then closes sockets in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from pbx.arenas import keep_arenas
from pbx.config import Settings
from pbx.credentials import build_lookup
from pbx.eventlog import log_events
from pbx.phones.sql import SqlPhoneStore, upgrade_to_head
from pbx.phones.store import PhoneStore
from pbx.phones.tracker import TrackedStore, Tracker
from pbx.sip.endpoint import Endpoint
from pbx.sip.events import Event
from pbx.sip.registrar import Registrar, RegistrarPolicy
from pbx.stalls import Stalls, late_wake_ups, watch_collections
from pbx.transport.addresses import listen_hosts
from pbx.transport.bind import Bound, bind_all
from pbx.transport.date_header import DateHeader
from pbx.transport.sink import EventSink
from pbx.transport.tcp import TcpSteer, serve_tcp
from pbx.transport.udp import Steer, serve_udp

if TYPE_CHECKING:
    from pbx.api.status import ServiceStatus

log = logging.getLogger("pbx")


class ServiceFailed(Exception):
    """The running service had to stop on an error (e.g. a SIP worker died)."""


#: A bound SIP socket to serve: (transport, host, port, socket).
Listener = tuple[str, str, int, socket.socket]

#: How often the expiry timer runs at most (bindings expire to the second).
TICK = 1.0


def build_endpoint(settings: Settings) -> Endpoint:
    """The sans-IO core for these settings."""
    reg = settings.registrar
    policy = RegistrarPolicy(
        realm=reg.realm,
        domains=frozenset(reg.domains),
        min_expires=reg.min_expires,
        max_expires=reg.max_expires,
        default_expires=reg.default_expires,
        max_contacts=reg.max_contacts,
        algorithms=tuple(reg.auth_algorithms),
        nonce_ttl=float(reg.nonce_ttl),
    )
    table = build_lookup(settings.extensions, reg.realm, reg.auth_algorithms)

    def lookup(username: str, algorithm: str) -> str | None:
        return table.get((username, algorithm))

    registrar = Registrar(policy, lookup, secrets.token_bytes(32), date=DateHeader())
    return Endpoint(registrar)


async def open_sql_store(url: str) -> PhoneStore:
    """Migrate to head and check the connection; raises when the database is unreachable."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, upgrade_to_head, url)
    store = SqlPhoneStore(url)
    try:
        await store.count()
    except Exception:
        await store.close()
        raise
    return store


def build_tracker(settings: Settings, config_path: Path) -> Tracker:
    """The phone tracker for these settings (its database, boot cleanup, commit delay)."""
    url = settings.database.url(config_path.resolve().parent)
    return Tracker(
        lambda: open_sql_store(url),
        clear_on_boot=settings.tracking.clear_on_boot,
        commit_delay=settings.tracking.commit_delay_ms / 1000,
    )


def database_health(tracker: Tracker, database_type: str) -> dict[str, object]:
    """The ``database`` part of ``GET /api/health``."""
    return {"status": tracker.state, "type": database_type, "pending": tracker.pending}


class SipStatus:
    """What the API may know about the SIP side, without touching sockets."""

    def __init__(self, service: Service, tracker: Tracker, database_type: str) -> None:
        self._service = service
        self._tracker = tracker
        self._database_type = database_type

    def live_binding(self, extension: str, ip_address: str) -> datetime | None:
        """Expiry (UTC) of the latest live binding of that phone, or None."""
        registrar = self._service.endpoint.registrar
        now = asyncio.get_running_loop().time()
        latest = max(
            (
                b.expires_at
                for b in registrar.bindings(extension)
                if b.source.host == ip_address and b.expires_at > now
            ),
            default=None,
        )
        if latest is None:
            return None
        return datetime.fromtimestamp(time.time() + (latest - now), UTC)

    def health(self) -> dict[str, object]:
        """SIP and database state for ``GET /api/health``."""
        return {
            "sip": {
                "status": "up",
                "transports": sorted(self._service.ports),
                "bindings": self._service.endpoint.registrar.binding_count(),
            },
            "database": database_health(self._tracker, self._database_type),
        }


@dataclass
class Service:
    """The running pieces, so that shutdown can close them in order."""

    endpoint: Endpoint
    closers: list[asyncio.BaseTransport | asyncio.Server] = field(default_factory=list)
    ports: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def bind_sip(settings: Settings, copies: int = 1) -> list[Bound]:
    """Bind every configured transport on every listen address, ``copies`` sockets
    each (one per SIP worker); raises OSError, with nothing left bound, on failure.

    With ``sip_port`` 0 the first socket gets a free port from the OS and every other
    one binds that same port, so UDP and TCP (and the SIP workers) share one number.
    """
    server = settings.server
    port = server.sip_port
    bound: list[Bound] = []
    try:
        for host in listen_hosts(server.sip_host):
            for transport in server.transports:
                try:
                    sockets = bind_all(transport, host, port, copies)
                except OSError as exc:
                    if ":" in host and host == "::":
                        log.warning("IPv6 %s not available (%s); serving IPv4 only", transport, exc)
                        continue
                    raise
                port = sockets.port
                bound.append(sockets)
    except OSError:
        for sockets in bound:
            sockets.close()
        raise
    return bound


async def start_sip(
    endpoint: Endpoint,
    listeners: list[Listener],
    sink: EventSink,
    worker: str = "",
    steer_for: Callable[[int], Steer] | None = None,
    steer_tcp: TcpSteer | None = None,
) -> Service:
    """Serve the bound sockets ``listeners`` (transport, host, port, socket);
    ``steer_for(i)`` is the steer hook of UDP listener ``i``, ``steer_tcp`` that of
    every TCP connection (``pbx.cluster.steering``)."""
    service = Service(endpoint)
    for i, (transport, host, port, sock) in enumerate(listeners):
        if transport == "udp":
            steer = steer_for(i) if steer_for is not None else None
            service.closers.append(
                await serve_udp(endpoint, host, port, sink, sock=sock, steer=steer)
            )
        else:
            service.closers.append(
                await serve_tcp(endpoint, host, port, sink, sock=sock, steer=steer_tcp)
            )
        service.ports.setdefault(transport, []).append((host, port))
        log.info("%slistening for SIP on %s %s:%d", worker, transport.upper(), host, port)
    return service


async def expiry_timer(
    endpoint: Endpoint,
    on_expired: Callable[[tuple[Event, ...]], None] = log_events,
    late: Stalls | None = None,
) -> None:
    """Expire transactions and bindings on time, for as long as the task runs; with
    ``late``, each wake-up that came T1 or more after it was due is a warning (the
    timer wakes at least once a second, so a stalled loop cannot go unnoticed)."""
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        events = endpoint.expire(now)
        if events:
            on_expired(tuple(events))
        due = endpoint.next_timer()
        delay = TICK if due is None else min(TICK, max(0.05, due - now))
        asleep = loop.time()
        await asyncio.sleep(delay)
        if late is not None:
            late.observe(loop.time() - asleep - delay)


async def watch_loop(late: Stalls, period: float = TICK) -> None:
    """Wake every ``period`` seconds and tell ``late`` how late each wake-up came, for
    as long as the task runs: for a process with no expiry timer of its own (the
    cluster's main process), whose stalled loop would otherwise hold every worker's
    commit acknowledgements, and so their 200 OKs, without a word in the log."""
    loop = asyncio.get_running_loop()
    while True:
        asleep = loop.time()
        await asyncio.sleep(period)
        late.observe(loop.time() - asleep - period)


def tune_gc(process: str) -> None:
    """Keep the cyclic collector off the SIP path, and time it (a collection that
    pauses ``process`` for T1 or more is a warning: ``pbx.stalls``).

    The registrar keeps many long-lived objects (bindings, nonces, 32 s of answered
    transactions). With the default thresholds, the churn of short-lived messages
    promotes enough of them that full collections, which walk every live object, run
    often and stall the loop (seen as retransmissions under load). Everything built at
    start-up is frozen out of collection, and the youngest generation is collected less
    often; reference counting still frees almost everything at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    keep_arenas()
    watch_collections(process)
    # The database writer thread runs Python between its statements; after every
    # socket call the loop thread would otherwise wait up to 5 ms to get the GIL back.
    sys.setswitchinterval(0.0005)


class _EmbeddedApiServer(uvicorn.Server):
    """uvicorn inside our event loop: signals are ours, so it must not capture them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, config_path: Path) -> None:
    """Run until SIGTERM or SIGINT: tracker, SIP transports, expiry timer, HTTP API.

    Raises OSError when a port cannot be bound (the CLI turns it into a message and
    exit code 1); whatever had started is closed again in order.
    """
    if settings.server.workers > 1:
        from pbx.cluster.supervisor import serve_cluster

        await serve_cluster(settings, config_path)
        return
    tracker = build_tracker(settings, config_path)
    await tracker.start()

    def sink(events: tuple[Event, ...]) -> Awaitable[None] | None:
        log_events(events)
        return tracker.submit(events)

    service: Service | None = None
    tasks: list[asyncio.Task[None]] = []
    api_server: uvicorn.Server | None = None
    try:
        endpoint = build_endpoint(settings)
        listeners = [(b.transport, b.host, b.port, b.sockets[0]) for b in bind_sip(settings)]
        service = await start_sip(endpoint, listeners, sink)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks.append(asyncio.create_task(expiry_timer(endpoint, late=late_wake_ups("pbx"))))
        if settings.api.enabled:
            status = SipStatus(service, tracker, settings.database.type)
            api_server = await start_api(settings, TrackedStore(tracker), status, tasks)
        tune_gc("pbx")
        log.info(
            "pbx ready: %d extensions, realm %r, config %s",
            len(settings.extensions),
            settings.registrar.realm,
            config_path,
        )
        await stop.wait()
    finally:
        log.info("shutting down")
        if service is not None:
            for closer in service.closers:
                closer.close()
        if api_server is not None:
            api_server.should_exit = True
        if tasks:
            tasks[0].cancel()  # the expiry timer; the API task ends by itself
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await tracker.close()
        log.info("stopped")


async def _serve_api(server: uvicorn.Server) -> None:
    """uvicorn ends with SystemExit when it cannot bind; in a task that would stop the
    whole event loop, so it is turned into a normal end (``server.started`` stays False)."""
    try:
        await server.serve()
    except SystemExit:
        return


async def start_api(
    settings: Settings, store: PhoneStore, status: ServiceStatus, tasks: list[asyncio.Task[None]]
) -> uvicorn.Server:
    """Serve the HTTP API in this loop; fail loudly if it cannot listen."""
    from pbx.api.app import create_app

    api = create_app(store, status)
    config = uvicorn.Config(
        api,
        host=settings.api.host,
        port=settings.api.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = _EmbeddedApiServer(config)
    task = asyncio.create_task(_serve_api(server))
    tasks.append(task)
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            raise OSError(f"the HTTP API cannot listen on {settings.api.host}:{settings.api.port}")
        await asyncio.sleep(0.02)
    log.info("HTTP API on http://%s:%d/", settings.api.host, settings.api.port)
    return server
