"""Build a response from a request (RFC 3261 §8.2.6) and decide where it goes
(RFC 3261 §18.2.2 with RFC 3581 rport).

Works from a plain ``Headers`` so that a 400 can be built even for a request whose
start line did not parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from pbx.sip.errors import SipError
from pbx.sip.events import Source
from pbx.sip.message import Headers, Response, split_list

SERVER_NAME = "pbx/0.1"

_SENT_BY_RE = re.compile(
    r"\s*SIP\s*/\s*[0-9]+\.[0-9]+\s*/\s*[A-Za-z0-9\-.!%*_+`'~]+\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:,]+)"
    r"(?:\s*:\s*([0-9]{1,5}))?"
)

_RPORT_ANY_RE = re.compile(r";\s*rport(?=\s*(?:[;=]|$))", re.IGNORECASE)
_RPORT_EMPTY_RE = re.compile(r";\s*rport(?=\s*(?:[;]|$))", re.IGNORECASE)
_RECEIVED_RE = re.compile(r";\s*received\s*=", re.IGNORECASE)
_TAG_RE = re.compile(r";\s*tag\s*=", re.IGNORECASE)

#: Copied from request to response, in this order (RFC 3261 §8.2.6.2).
_COPIED = ("via", "from", "to", "call-id", "cseq")


class Destination(NamedTuple):
    """Where a UDP response goes; TCP answers on the connection the request came in.

    A named tuple: built for every response, and it is what ``sendto`` takes.
    """

    host: str
    port: int


def _top_via_raw(headers: Headers) -> str | None:
    for name, value in headers.fields:
        if name == "via":
            return split_list(value)[0]
    return None


def response_destination(headers: Headers, source: Source) -> Destination | None:
    """RFC 3261 §18.2.2 for unreliable transports, with RFC 3581.

    The response goes to the packet's source address (that is what ``received``
    records), at the source port when the top Via has ``rport``, else at the Via
    sent-by port (5060 when none). Lenient on purpose: a request rejected for a bad
    Via (RFC 4475 ``badinv01``) can still be answered if a sent-by is readable.
    None when there is no usable top Via (the request is dropped).
    """
    top = _top_via_raw(headers)
    if top is None:
        return None
    return via_destination(top, source)


def via_destination(top: str, source: Source) -> Destination | None:
    """``response_destination`` for an already isolated top via-parm."""
    m = _SENT_BY_RE.match(top)
    if m is None:
        return None
    if _RPORT_ANY_RE.search(top):
        return Destination(source.host, source.port)
    port = int(m.group(2)) if m.group(2) else 5060
    if not 0 < port < 65536:
        return None
    return Destination(source.host, port)


def stamp_via(via_value: str, source: Source) -> str:
    """Add ``received`` and fill ``rport`` on the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    items = split_list(via_value)
    top = items[0]
    m = _SENT_BY_RE.match(top)
    sent_by_host = m.group(1).strip("[]").lower() if m else ""
    has_rport = _RPORT_EMPTY_RE.search(top) is not None
    already_received = _RECEIVED_RE.search(top) is not None
    if has_rport:
        top = _RPORT_EMPTY_RE.sub(f";rport={source.port}", top, count=1)
    if (has_rport or sent_by_host != source.host.lower()) and not already_received:
        top += f";received={source.host}"
    items[0] = top
    return ", ".join(items)


def to_tag_for(headers: Headers) -> str:
    """A To tag derived from the request, so a retransmitted request that slips past
    the transaction cache still gets the same tag (RFC 3261 §8.2.6.2)."""
    return to_tag(
        headers.get("call-id") or "", headers.get("from") or "", headers.get("cseq") or ""
    )


_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def _to_tag(call_id: str, from_: str, cseq: str) -> str:
    """``to_tag_for`` from the three values it depends on: 64-bit FNV-1a over
    ``call_id|from_|cseq`` (UTF-8, surrogateescape), folded to 48 bits, in hex.

    No secrecy is needed (the tag is sent in the clear and must only differ between
    requests), so no cryptographic hash: this is the reference for the C twin in
    ``_totag.c``, used instead when ``make core`` compiled it (``to_tag``)."""
    h = _FNV_OFFSET
    for byte in f"{call_id}|{from_}|{cseq}".encode("utf-8", "surrogateescape"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return f"{(h ^ (h >> 48)) & 0xFFFFFFFFFFFF:012x}"


try:
    from pbx.sip._totag import to_tag as to_tag  # re-exported: fastlane imports it here
except ImportError:  # not compiled (``make clean-core``): the reference, same results
    to_tag = _to_tag


def build_response(
    headers: Headers,
    source: Source,
    status: int,
    reason: str,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response copying Via (stamped), From, To (+tag), Call-ID and CSeq."""
    fields: list[tuple[str, str]] = []
    first_via = True
    for name, value in headers.fields:
        if name == "via":
            if first_via:
                value = stamp_via(value, source)
                first_via = False
            fields.append((name, value))
    for name in _COPIED[1:]:
        value_or_none = headers.get(name)
        if value_or_none is None:
            continue
        if name == "to" and status > 100 and not _TAG_RE.search(_after_uri(value_or_none)):
            value_or_none = f"{value_or_none};tag={to_tag_for(headers)}"
        fields.append((name, value_or_none))
    fields.extend(extra)
    fields.append(("server", SERVER_NAME))
    return Response(status=status, reason=reason, headers=Headers(tuple(fields)), body=body)


def _after_uri(value: str) -> str:
    """The part of a To value after the URI, where a tag parameter would be."""
    gt = value.rfind(">")
    return value[gt + 1 :] if gt >= 0 else value


def error_response(headers: Headers, source: Source, error: SipError) -> Response:
    """The response for a ``SipError`` raised while handling a request."""
    return build_response(headers, source, error.status, error.reason, error.headers)
