"""Address helpers shared by the transports."""

from __future__ import annotations


def normalize_host(host: str) -> str:
    """The source address as the inventory should show it: an IPv4-mapped IPv6
    address (from a dual-stack socket) becomes plain IPv4, a scope id is dropped."""
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host.split("%", 1)[0]


def listen_hosts(host: str) -> list[str]:
    """The addresses to bind for a configured host: ``0.0.0.0`` means IPv4 and IPv6."""
    if host in ("0.0.0.0", "*", ""):
        return ["0.0.0.0", "::"]
    return [host]
