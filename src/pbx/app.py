"""Wiring: settings -> registrar core -> transports (-> phone tracker, API).

Everything is built here, at start-up, from the settings passed in (no globals);
``run`` serves until SIGTERM/SIGINT and then closes sockets in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from pbx.config import Settings
from pbx.credentials import build_lookup
from pbx.sip.endpoint import Endpoint
from pbx.sip.events import AuthFailed, BindingEvent, Event, Registered
from pbx.sip.registrar import Registrar, RegistrarPolicy
from pbx.transport.addresses import listen_hosts
from pbx.transport.tcp import serve_tcp
from pbx.transport.udp import serve_udp

log = logging.getLogger("pbx")
event_log = logging.getLogger("pbx.events")

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

    def date() -> str:
        return email.utils.formatdate(time.time(), usegmt=True)

    registrar = Registrar(policy, lookup, secrets.token_bytes(32), date=date)
    return Endpoint(registrar)


def log_events(events: tuple[Event, ...]) -> None:
    """One structured (JSON) line per event: the operator's audit trail."""
    for event in events:
        if not event_log.isEnabledFor(logging.INFO):
            return
        record: dict[str, object]
        if isinstance(event, BindingEvent):
            record = {
                "event": type(event).__name__,
                "extension": event.extension,
                "transport": event.source.transport,
                "ip": event.source.host,
                "port": event.source.port,
                "user_agent": event.user_agent,
                "contact": event.contact,
                "contact_params": dict(event.contact_params),
                "expires": event.expires,
            }
        elif isinstance(event, AuthFailed):
            record = {
                "event": "AuthFailed",
                "extension": event.extension,
                "transport": event.source.transport,
                "ip": event.source.host,
                "port": event.source.port,
                "user_agent": event.user_agent,
                "reason": event.reason,
            }
        elif isinstance(event, Registered):
            continue  # summarised by the binding events
        else:
            record = {"event": type(event).__name__}
        event_log.info(json.dumps(record, ensure_ascii=False, default=str))


@dataclass
class Service:
    """The running pieces, so that shutdown can close them in order."""

    endpoint: Endpoint
    closers: list[asyncio.BaseTransport | asyncio.Server] = field(default_factory=list)
    ports: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


async def start_sip(settings: Settings, endpoint: Endpoint) -> Service:
    """Bind every configured transport on every listen address."""
    service = Service(endpoint)
    server = settings.server
    for host in listen_hosts(server.sip_host):
        for transport in server.transports:
            try:
                if transport == "udp":
                    udp = await serve_udp(endpoint, host, server.sip_port, log_events)
                    service.closers.append(udp)
                else:
                    tcp = await serve_tcp(endpoint, host, server.sip_port, log_events)
                    service.closers.append(tcp)
            except OSError as exc:
                if ":" in host and host == "::":
                    log.warning("IPv6 %s not available (%s); serving IPv4 only", transport, exc)
                    continue
                raise
            service.ports.setdefault(transport, []).append((host, server.sip_port))
            log.info("listening for SIP on %s %s:%d", transport.upper(), host, server.sip_port)
    return service


async def _expiry_timer(endpoint: Endpoint) -> None:
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        events = endpoint.expire(now)
        if events:
            log_events(tuple(events))
        due = endpoint.next_timer()
        delay = TICK if due is None else min(TICK, max(0.05, due - now))
        await asyncio.sleep(delay)


async def serve(settings: Settings, config_path: Path) -> None:
    """Run until SIGTERM or SIGINT."""
    endpoint = build_endpoint(settings)
    service = await start_sip(settings, endpoint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    timer = asyncio.create_task(_expiry_timer(endpoint))
    log.info(
        "pbx ready: %d extensions, realm %r, config %s",
        len(settings.extensions),
        settings.registrar.realm,
        config_path,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
        for closer in service.closers:
            closer.close()
        log.info("stopped")
