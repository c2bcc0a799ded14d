"""What the HTTP layer needs to know about the running service, beyond the store.

The wiring (``pbx.app``) implements ``ServiceStatus`` from the registrar and the
tracker; ``StaticStatus`` is a plain in-memory implementation for tests and for
serving the API alone. Keeping this a protocol is what lets ``pbx.api`` stay free of
sockets and SQL (see the import-linter contract in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pbx.phones.store import as_utc


class ServiceStatus(Protocol):
    """Live facts the inventory table does not hold."""

    def live_binding(self, extension: str, ip_address: str) -> datetime | None:
        """Aware-UTC expiry of the phone's live SIP binding, or None when it has none."""
        ...

    def health(self) -> Mapping[str, object]:
        """Component states, e.g. ``{"sip": {"status": "up", ...}, "database": {...}}``.

        ``database.status`` is ``"connected"`` or ``"fallback"`` (writes go to memory
        while the database is unreachable); the API reports ``"degraded"`` for the latter.
        """
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _sip_default() -> dict[str, object]:
    return {"status": "up", "transports": []}


def _database_default() -> dict[str, object]:
    return {"status": "connected", "type": "memory", "pending": 0}


@dataclass
class StaticStatus:
    """A ``ServiceStatus`` whose facts are set by hand.

    Bindings are kept with their expiry and reported live only while ``clock()`` is
    before it, as a registrar would; ``clock`` is injectable so tests need no sleeping.
    """

    sip: dict[str, object] = field(default_factory=_sip_default)
    database: dict[str, object] = field(default_factory=_database_default)
    clock: Callable[[], datetime] = _utc_now
    _bindings: dict[tuple[str, str], datetime] = field(default_factory=dict, repr=False)

    def bind(self, extension: str, ip_address: str, expires_at: datetime) -> None:
        """Record a live binding of the phone ``extension``@``ip_address``."""
        self._bindings[(extension, ip_address)] = as_utc(expires_at)

    def unbind(self, extension: str, ip_address: str) -> None:
        """Forget the phone's binding (as an un-REGISTER would)."""
        self._bindings.pop((extension, ip_address), None)

    def live_binding(self, extension: str, ip_address: str) -> datetime | None:
        expires = self._bindings.get((extension, ip_address))
        if expires is None or expires <= self.clock():
            return None
        return expires

    def health(self) -> Mapping[str, object]:
        now = self.clock()
        live = sum(1 for expires in self._bindings.values() if expires > now)
        sip = dict(self.sip)
        sip.setdefault("bindings", live)
        return {"sip": sip, "database": dict(self.database)}
