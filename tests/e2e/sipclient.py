"""A tiny SIP client for end-to-end tests that need byte-level control.

Why not sipp for everything: some assertions (the exact header names of a challenge, a
fetch REGISTER's reply having no Contact, sending from a chosen address) need the raw
messages in Python. This builds REGISTER/OPTIONS bytes, computes the digest with hashlib
(independently of ``pbx.sip.digest``, so a shared bug cannot hide), and talks UDP or TCP
from a chosen local address. Standard library only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType

#: RFC 3261 §7.3.3 compact forms, for looking up headers by their long name.
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
}


@dataclass(frozen=True)
class SipResponse:
    """A parsed response: status line, headers in order (names lower-cased), body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes = field(repr=False)

    def values(self, name: str) -> list[str]:
        """Every value of a header (long or compact name), in order."""
        wanted = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if COMPACT.get(n, n) == wanted]

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        found = self.values(name)
        return found[0] if found else None

    def header_names(self) -> list[str]:
        """Header names (long form, lower case) in order: the 'shape' of a response."""
        return [COMPACT.get(n, n) for n, _ in self.headers]


def parse_response(data: bytes) -> SipResponse:
    """Parse one response; raises ValueError when ``data`` is not a SIP response."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"no end of headers in {data[:200]!r}")
    lines = head.decode("utf-8", "replace").split("\r\n")
    m = re.match(r"SIP/2\.0 ([0-9]{3}) ?(.*)\Z", lines[0])
    if not m:
        raise ValueError(f"not a SIP response: {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return SipResponse(int(m.group(1)), m.group(2), tuple(headers), body, data)


def parse_challenge(value: str) -> dict[str, str]:
    """``Digest realm="pbx", nonce="..", qop="auth"`` -> {'realm': 'pbx', ...}."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"not a Digest challenge: {value!r}")
    params: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return params


def _hash(algorithm: str, text: str) -> str:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(name, text.encode()).hexdigest()


def digest_authorization(
    challenge: dict[str, str],
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """An Authorization value answering ``challenge`` (RFC 2617/7616, qop=auth or none)."""
    algorithm = challenge.get("algorithm", "MD5")
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={algorithm}",
    ]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        nc_text = f"{nc:08x}"
        response = _hash(algorithm, f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc_text}", f'cnonce="{cnonce}"']
    else:
        response = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


def build_request(
    method: str,
    user: str,
    *,
    server: tuple[str, int],
    local: tuple[str, int],
    transport: str = "UDP",
    call_id: str,
    cseq: int,
    contact: str | None = None,
    expires: int | None = None,
    authorization: str | None = None,
    user_agent: str = "pbx-e2e",
) -> bytes:
    """REGISTER (or OPTIONS) bytes with every mandatory header and a fresh branch."""
    host, port = server
    uri = f"sip:{host}:{port}"
    branch = "z9hG4bK" + secrets.token_hex(8)
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {local[0]}:{local[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{host}>;tag={secrets.token_hex(4)}",
        f"To: <sip:{user}@{host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"User-Agent: {user_agent}",
    ]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


class SipClient:
    """One UDP socket or TCP connection from a chosen local address to the server."""

    def __init__(
        self,
        server: tuple[str, int],
        transport: str = "udp",
        local_host: str = "127.0.0.1",
        local_port: int = 0,
    ) -> None:
        self.server = server
        self.transport = transport.lower()
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((local_host, local_port))
        if self.transport == "tcp":
            self.sock.settimeout(5.0)
            self.sock.connect(server)
        self.local: tuple[str, int] = self.sock.getsockname()
        self._buffer = b""
        self._cseq = 0
        self.call_id = secrets.token_hex(10) + "@pbx-e2e"

    def __enter__(self) -> SipClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (a TCP client thereby ends its connection)."""
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Send raw bytes to the server."""
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def receive(self, timeout: float = 3.0) -> SipResponse:
        """The next response; raises TimeoutError when none arrives in ``timeout``."""
        deadline = time.monotonic() + timeout
        if self.transport == "udp":
            while True:
                self.sock.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    data, _ = self.sock.recvfrom(65535)
                except TimeoutError as exc:
                    raise TimeoutError("no SIP response within the deadline") from exc
                return parse_response(data)
        while True:
            message = self._cut_stream_message()
            if message is not None:
                return parse_response(message)
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65535)
            except TimeoutError as exc:
                raise TimeoutError("no SIP response within the deadline") from exc
            if not chunk:
                raise ConnectionError("server closed the TCP connection")
            self._buffer += chunk

    def _cut_stream_message(self) -> bytes | None:
        self._buffer = self._buffer.lstrip(b"\r\n")
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        m = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)", self._buffer[:end], re.I)
        total = end + 4 + (int(m.group(1)) if m else 0)
        if len(self._buffer) < total:
            return None
        message, self._buffer = self._buffer[:total], self._buffer[total:]
        return message

    def request(
        self,
        method: str,
        user: str,
        *,
        contact: str | None = None,
        expires: int | None = None,
        authorization: str | None = None,
    ) -> SipResponse:
        """Send one request (next CSeq, same Call-ID) and return its final response."""
        self._cseq += 1
        data = build_request(
            method,
            user,
            server=self.server,
            local=self.local,
            transport=self.transport,
            call_id=self.call_id,
            cseq=self._cseq,
            contact=contact,
            expires=expires,
            authorization=authorization,
        )
        self.send(data)
        while True:
            response = self.receive()
            if response.status >= 200:
                return response

    def register(
        self,
        user: str,
        password: str | None,
        *,
        contact: str | None = "default",
        expires: int | None = None,
    ) -> tuple[SipResponse, SipResponse]:
        """REGISTER, answer the challenge when there is one; returns (first, final).

        ``contact="default"`` means a Contact for this socket; None sends none (a fetch).
        """
        if contact == "default":
            contact = f"<sip:{user}@{self.local[0]}:{self.local[1]};transport={self.transport}>"
        first = self.request("REGISTER", user, contact=contact, expires=expires)
        if first.status != 401 or password is None:
            return first, first
        challenge = parse_challenge(first.header("www-authenticate") or "")
        uri = f"sip:{self.server[0]}:{self.server[1]}"
        auth = digest_authorization(challenge, user, password, "REGISTER", uri)
        final = self.request("REGISTER", user, contact=contact, expires=expires, authorization=auth)
        return first, final
