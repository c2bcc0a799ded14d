"""``Sighting``: one authenticated registration observed, the unit the store records.

Why a module of its own: a SIP worker builds one per registration and pickles it to
the main process, which rebuilds it. As a frozen dataclass in ``store.py``
(interpreted: the generated ``__init__``, ``__post_init__`` and its checks) it took
a few per cent of a worker's CPU under load (bench/README.md); this module is
compiled with mypyc (scripts/compiled-modules.txt), and ``store.py`` re-exports what
it defines, so the rest of the program still imports ``Sighting`` from there.

The constructor normalises and enforces the column limits (h11 style): a sighting
that PostgreSQL would reject (a VARCHAR overflow) cannot exist, so one bad phone can
never make a whole group commit fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pbx.sip.frozen import assign_once, refuse_delete

#: Column widths of ``registered_phones`` (the users' schema, kept exactly).
MAC_LEN = 20
EXTENSION_LEN = 20
USER_AGENT_LEN = 255
IP_LEN = 50
CONTACT_LEN = 255


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(UTC)


def _limited(name: str, value: str | None, limit: int, *, truncate: bool) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit:
        if truncate:
            return value[:limit]
        raise ValueError(f"{name} longer than {limit} characters: {value[:60]!r}")
    return value


@dataclass(init=False, unsafe_hash=True, slots=True)
class Sighting:
    """One authenticated registration observed.

    ``mac_address`` is the identity module's normalised MAC (or None when the phone
    revealed none). Free text (User-Agent, Contact) is cut to its column width;
    identifiers (extension, IP, MAC) that do not fit are refused. Immutable, built
    the cheap way ``pbx.sip.frozen`` describes.
    """

    extension: str
    ip_address: str
    mac_address: str | None
    user_agent: str | None
    contact_uri: str | None
    at: datetime

    def __init__(
        self,
        extension: str,
        ip_address: str,
        mac_address: str | None,
        user_agent: str | None,
        contact_uri: str | None,
        at: datetime,
    ) -> None:
        ext = _limited("extension", extension, EXTENSION_LEN, truncate=False)
        ip = _limited("ip_address", ip_address, IP_LEN, truncate=False)
        if ext is None or ip is None:
            raise ValueError("a sighting needs an extension and an IP address")
        self.extension = ext
        self.ip_address = ip
        self.mac_address = _limited("mac_address", mac_address, MAC_LEN, truncate=False)
        self.user_agent = _limited("user_agent", user_agent, USER_AGENT_LEN, truncate=True)
        self.contact_uri = _limited("contact_uri", contact_uri, CONTACT_LEN, truncate=True)
        self.at = as_utc(at)

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)

    def __reduce__(self) -> tuple[Callable[..., Sighting], tuple[Any, ...]]:
        """Pickle as the constructor and a plain tuple: SIP workers send every sighting
        to the main process, and the dataclass default (a state dict per object) costs
        about three times as much both ways. Rebuilding checks the fields again, which
        changes nothing: they were normalised when it was first built."""
        return Sighting, (
            self.extension,
            self.ip_address,
            self.mac_address,
            self.user_agent,
            self.contact_uri,
            self.at,
        )
