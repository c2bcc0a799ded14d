"""Bytes -> messages: one UDP datagram at a time, or a TCP byte stream framed by
Content-Length (RFC 3261 §7.5, §18.3). Pure functions; no sockets.

Errors are ``ParseError`` (a ``SipError`` with status 400, 505 ...). When the header
section could be read, the error carries it as ``partial`` so the caller can still
build a response that copies Via/From/To/Call-ID/CSeq (RFC 3261 §8.2.6); when the
start line says the message was a response, ``is_response`` tells the caller to drop it.
"""

from __future__ import annotations

import re

from pbx.sip.errors import SipError
from pbx.sip.grammar import TOKEN
from pbx.sip.message import Headers, Request, Response, canonical_name

#: Largest message we accept (UDP cannot carry more; TCP callers get the same cap).
MAX_MESSAGE_SIZE = 65535

_TOKEN_RE = re.compile(TOKEN)
_VERSION_RE = re.compile(r"SIP/([0-9]+)\.([0-9]+)\Z", re.IGNORECASE)
_STATUS_RE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) (.*)\Z", re.IGNORECASE | re.DOTALL)
_HEADER_NAME_RE = re.compile(TOKEN + r"\Z")

#: Methods every phone sends: known tokens, no need to match the token grammar.
_KNOWN_TOKENS = frozenset({"REGISTER", "OPTIONS", "INVITE", "ACK", "BYE", "CANCEL"})

#: Headers that must appear at most once in a request (RFC 3261 §7.3.1, RFC 4475 multi01).
SINGLE_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "expires", "content-type"}
)


class ParseError(SipError):
    """A message that cannot be accepted, with whatever could be salvaged."""

    def __init__(
        self,
        status: int,
        reason: str,
        partial: Headers | None = None,
        is_response: bool = False,
    ) -> None:
        super().__init__(status, reason)
        self.partial = partial
        self.is_response = is_response


def _find_header_end(data: bytes, start: int = 0) -> tuple[int, int]:
    """(end of header section, start of body), accepting bare-LF line ends too.

    The search begins at the start line (``start``), past any leading CRLF.
    """
    crlf = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    if lf >= 0:
        return lf, lf + 2
    return -1, -1


def _split_lines(head: str) -> list[str]:
    lines = head.split("\r\n")
    if head.count("\n") == len(lines) - 1:
        return lines  # CRLF throughout: the common case, no per-line work
    lines = head.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class _NameMemo:
    """Raw header name as written -> lowercase long form, for names already checked.

    Phones send the same dozen names in every message; checking the token grammar
    and mapping compact forms once per spelling keeps the per-line cost to a dict hit.
    Bounded, so odd spellings from hostile senders cannot grow it without limit.
    """

    __slots__ = ("_known",)
    LIMIT = 2048

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def canonical(self, raw: str) -> str:
        known = self._known.get(raw)
        if known is not None:
            return known
        name = raw.rstrip(" \t")
        if not _HEADER_NAME_RE.match(name):
            raise SipError(400, "malformed header name")
        canonical = canonical_name(name)
        if len(self._known) < self.LIMIT:
            self._known[raw] = canonical
        return canonical


_NAMES = _NameMemo()
#: Raw header name -> lowercase long form; SipError(400) for a name that is no token.
canonical_header = _NAMES.canonical


def known_header_names() -> dict[str, str]:
    """The memo behind ``canonical_header`` (raw name -> long form), for read-only
    lookups on a hot path; a miss must go through ``canonical_header``."""
    return _NAMES._known


def _parse_header_lines(
    lines: list[str], folded: bool | None = None
) -> tuple[tuple[str, str], ...]:
    """Unfold continuation lines and split ``name: value``.

    ``folded`` says whether any line continues the one before (the caller can tell
    from the raw text in one search); None: look at the lines.
    """
    canonical = _NAMES.canonical
    if folded is None:
        folded = any(line[:1] in (" ", "\t") for line in lines)
    if not folded:
        # No folding (nearly every real message): one pass, one tuple per line.
        fields: list[tuple[str, str]] = []
        append = fields.append
        for line in lines:
            raw_name, colon, value = line.partition(":")
            if not colon:
                raise SipError(
                    400, "empty line inside the header section" if not line else
                    "header line without a colon",
                )  # fmt: skip
            append((canonical(raw_name), value.strip()))
        return tuple(fields)
    fields = []
    name = ""
    value_parts: list[str] = []
    for line in lines:
        if not line:
            raise SipError(400, "empty line inside the header section")
        if line[0] in " \t":
            if not name:
                raise SipError(400, "continuation line before any header")
            value_parts.append(line.strip())
            continue
        if name:
            fields.append((name, " ".join(p for p in value_parts if p)))
        raw_name, colon, value = line.partition(":")
        if not colon:
            raise SipError(400, "header line without a colon")
        name = canonical(raw_name)
        value_parts = [value.strip()]
    if name:
        fields.append((name, " ".join(p for p in value_parts if p)))
    return tuple(fields)


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response | None:
    """Parse one message. None for a keepalive (only CR/LF bytes).

    For a datagram (``stream=False``) the body is what Content-Length says, which must
    not exceed what arrived (RFC 4475 ``clerr``); octets beyond it are ignored
    (``dblreq``). Without Content-Length the rest of the datagram is the body. With
    ``stream=True`` the framer has already cut exactly one message.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise ParseError(513, "Message Too Large")
    start = 0
    while start < len(data) and data[start] in b"\r\n":
        start += 1
    if start == len(data):
        return None
    is_response = data.startswith(b"SIP/", start)
    head_end, body_start = _find_header_end(data, start)
    if head_end < start:
        raise ParseError(
            400, "Truncated message: no end of header section", _salvage(data[start:]), is_response
        )
    head = data[start:head_end].decode("utf-8", "surrogateescape")
    lines = _split_lines(head)
    start_line = lines[0]
    try:
        folded = "\n " in head or "\n\t" in head
        headers = Headers(_parse_header_lines(lines[1:], folded))
    except SipError as exc:
        raise ParseError(exc.status, exc.reason, None, is_response) from None
    try:
        body = _body(data, body_start, headers, stream)
        if is_response:
            return _response(start_line, headers, body)
        return _request(start_line, headers, body)
    except ParseError:
        raise
    except SipError as exc:
        raise ParseError(exc.status, exc.reason, headers, is_response) from None


def _salvage(data: bytes) -> Headers | None:
    """Headers of a datagram cut short (RFC 4475 ``baddn``), to address a 400."""
    lines = _split_lines(data.decode("utf-8", "surrogateescape").rstrip("\r\n"))
    try:
        return Headers(_parse_header_lines(lines[1:]))
    except SipError:
        return None


def _body(data: bytes, body_start: int, headers: Headers, stream: bool) -> bytes:
    values = headers.get_all("content-length")
    available = len(data) - body_start
    if not values:
        return b"" if stream else data[body_start:]
    if len(set(v.strip() for v in values)) > 1:
        raise SipError(400, "conflicting Content-Length headers")
    text = values[0].strip()
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise SipError(400, "malformed Content-Length")
    length = int(text)
    if length > available:
        raise SipError(400, "Content-Length larger than the message")
    return data[body_start : body_start + length]


def _request(start_line: str, headers: Headers, body: bytes) -> Request:
    parts = start_line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipError(400, "malformed Request-Line")
    method, uri, version = parts
    if method not in _KNOWN_TOKENS and not _TOKEN_RE.fullmatch(method):
        raise SipError(400, "malformed method")
    if version == "SIP/2.0":
        return Request(method=method, uri=uri, version="SIP/2.0", headers=headers, body=body)
    m = _VERSION_RE.match(version)
    if m is None:
        raise SipError(400, "malformed SIP-Version")
    if (int(m.group(1)), int(m.group(2))) != (2, 0):
        raise SipError(505, "Version Not Supported")
    return Request(method=method, uri=uri, version="SIP/2.0", headers=headers, body=body)


def _response(start_line: str, headers: Headers, body: bytes) -> Response:
    m = _STATUS_RE.match(start_line)
    if m is None:
        raise SipError(400, "malformed Status-Line")
    return Response(status=int(m.group(1)), reason=m.group(2), headers=headers, body=body)


class StreamFramer:
    """Cut a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).

    Feed it whatever the socket delivered; ``next_message()`` returns one complete
    message's bytes, or None when more bytes are needed. A CRLF keepalive between
    messages (RFC 5626 §3.5.1) is skipped and counted in ``pings`` so the transport can
    answer it. A message without Content-Length has an empty body, as RFC 3261 says a
    stream message must carry one. Errors that make the stream unusable raise
    ``ParseError``, with the message's headers when its head was whole, so that the
    transport can answer (``Endpoint.reject``) before it closes the connection.
    """

    def __init__(self, max_message: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message
        self.pings = 0

    def feed(self, data: bytes) -> None:
        """Append bytes from the socket."""
        self._buffer += data

    def next_message(self) -> bytes | None:
        """Remove and return the next complete message, if there is one."""
        buf = self._buffer
        skip = 0
        while skip < len(buf) and buf[skip] in b"\r\n":
            skip += 1
        if skip:
            run = bytes(buf[:skip])
            end = 0  # just past the last complete ping
            while (found := run.find(b"\r\n\r\n", end)) >= 0:
                self.pings += 1
                end = found + 4
            if skip == len(buf):
                # Only line ends so far: a ping may be split across segments, so keep
                # what follows the last complete one (at most 3 bytes) for the next feed.
                del buf[: max(end, skip - 3)]
                return None
            del buf[:skip]
        crlf = buf.find(b"\r\n\r\n")
        lf = buf.find(b"\n\n")
        if crlf < 0 and lf < 0:
            if len(buf) > self._max:
                raise ParseError(513, "Message Too Large")
            return None
        if crlf >= 0 and (lf < 0 or crlf < lf):
            head_end, body_start = crlf, crlf + 4
        else:
            head_end, body_start = lf, lf + 2
        head = bytes(buf[:head_end])
        try:
            total = body_start + self._content_length(head)
            if total > self._max:
                raise ParseError(513, "Message Too Large")
        except ParseError as exc:
            # The head is whole: its headers let the transport address the answer.
            raise ParseError(
                exc.status, exc.reason, _salvage(head), head.startswith(b"SIP/")
            ) from None
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        return message

    @staticmethod
    def _content_length(head: bytes) -> int:
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon or line[:1] in (b" ", b"\t"):
                continue
            if name.strip().lower() in (b"content-length", b"l"):
                text = value.strip()
                if not text.isdigit() or len(text) > 9:
                    raise ParseError(400, "malformed Content-Length")
                return int(text)
        return 0
