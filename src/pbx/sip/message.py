"""SIP messages: ordered headers, requests, responses, and their serialisation.

Headers are kept as an ordered tuple of ``(name, value)`` pairs where ``name`` is the
lowercase long form (compact forms are mapped once, here, in :data:`COMPACT_FORMS`).
Typed views (URI, name-addr, Via, CSeq) live in :mod:`pbx.sip.grammar` and are built on
demand, so a message pays only for what the registrar actually reads.

Text is decoded from the wire as UTF-8 with ``surrogateescape``: valid UTF-8 reads
naturally, and any other byte (RFC 4475 ``intmeth`` carries raw NUL and DEL) survives a
round trip to the wire unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from pbx.sip.memo import memoised

#: RFC 3261 §7.3.3 and the IANA registry: compact form -> long form, lowercase.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

#: How a header name is written when we serialise it (anything else is title-cased).
_CANONICAL_SPELLING: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "min-expires": "Min-Expires",
    "user-agent": "User-Agent",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "max-forwards": "Max-Forwards",
    "proxy-require": "Proxy-Require",
    "mime-version": "MIME-Version",
}


def canonical_name(name: str) -> str:
    """Lowercase long form of a header name as found on the wire."""
    lowered = name.lower()
    return COMPACT_FORMS.get(lowered, lowered)


_DISPLAY_MEMO: Final[dict[str, str]] = {}


def display_name(name: str) -> str:
    """The spelling used when writing a header (``call-id`` -> ``Call-ID``); memoised
    (``pbx.sip.memo``)."""
    spelled = _CANONICAL_SPELLING.get(name) or _DISPLAY_MEMO.get(name)
    if spelled is not None:
        return spelled
    return memoised(_DISPLAY_MEMO, name, "-".join(p.capitalize() for p in name.split("-")), 256)


def split_unquoted(text: str, sep: str, *, angle: bool = False) -> tuple[list[str], bool]:
    """Split ``text`` at ``sep`` outside quoted strings (and outside ``<...>`` when
    ``angle``); the flag is False when a quoted string never closes."""
    if sep not in text:
        return [text], True
    if '"' not in text and not (angle and "<" in text):
        return text.split(sep), True
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_quotes:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif angle and ch == "<":
            in_angle = True
        elif angle and ch == ">":
            in_angle = False
        elif ch == sep and not in_angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts, not in_quotes


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and ``<...>``.

    Empty elements are kept (as ``""``) so that a validator can reject them.
    """
    parts, _ = split_unquoted(value, ",", angle=True)
    return [part.strip() for part in parts]


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered header fields; names are lowercase long forms."""

    fields: tuple[tuple[str, str], ...]
    #: name -> first value, built on first use: the registrar asks for a dozen headers.
    _first: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (lowercase long form), or None."""
        first = self._first
        if first is None:
            first = {}
            for key, value in self.fields:
                first.setdefault(key, value)
            object.__setattr__(self, "_first", first)
        return first.get(name)

    def get_all(self, name: str) -> list[str]:
        """Every field value of ``name``, in order, unsplit."""
        return [value for key, value in self.fields if key == name]

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across repeated fields, in order."""
        out: list[str] = []
        for key, value in self.fields:
            if key == name:
                out.extend(split_list(value))
        return out

    def count(self, name: str) -> int:
        """How many fields named ``name`` there are."""
        return sum(1 for key, _ in self.fields if key == name)

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.fields)


@dataclass(frozen=True, slots=True)
class Request:
    """A SIP request as received: start line, headers, body."""

    method: str
    uri: str
    version: str
    headers: Headers
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """A SIP response, received (and dropped) or built by us."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


Message = Request | Response


def _serialize(start_line: str, headers: Headers, body: bytes) -> bytes:
    lines = [start_line]
    lines.extend(
        f"{display_name(name)}: {value}"
        for name, value in headers.fields
        if name != "content-length"
    )
    lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + body


def serialize_response(response: Response) -> bytes:
    """Wire form of a response; Content-Length is always written, last."""
    return _serialize(
        f"{response.version} {response.status} {response.reason}", response.headers, response.body
    )


def serialize_request(request: Request) -> bytes:
    """Wire form of a request (used by tests and benchmarks to build traffic)."""
    return _serialize(
        f"{request.method} {request.uri} {request.version}", request.headers, request.body
    )


def make_headers(pairs: Iterable[tuple[str, str]]) -> Headers:
    """Build Headers from (name, value) pairs written in any spelling."""
    return Headers(tuple((canonical_name(name), value) for name, value in pairs))
