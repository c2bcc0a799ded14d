"""The reference floor: a bare asyncio + uvloop UDP loop that only splits headers,
checks an MD5 digest and answers (FIELD-NOTES' "bare loop"), measured in the same run.

Not a registrar: no grammar, no bindings, no nonce bookkeeping (any nonce of its own
is accepted again), no database. It shows what one Python process can do per packet
on this machine, so the gap between it and pbx is what pbx's work costs, and the gap
between it and Kamailio is what one interpreter costs.

    .venv/bin/python -m bench.bare --port 5099 --users 10000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re

import uvloop

from bench.users import REALM, accounts
from pbx.transport.bind import bind_socket

_AUTH_RE = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')
_COPIED = ("via", "from", "to", "call-id", "cseq", "v", "f", "t", "i")


class Bare(asyncio.DatagramProtocol):
    """REGISTER without Authorization -> 401; with a right digest -> 200; else 403."""

    def __init__(self, ha1: dict[str, str]) -> None:
        self.ha1 = ha1
        self.transport: asyncio.DatagramTransport | None = None
        self.counter = 0
        self.salt = os.urandom(8).hex()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        lines = data.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0]
        copied: list[str] = []
        auth = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key in _COPIED:
                copied.append(line)
            elif key == "authorization":
                auth = value
        if not auth or method != "REGISTER":
            self.counter += 1
            nonce = f"{self.salt}{self.counter:x}"
            extra = f'WWW-Authenticate: Digest realm="{REALM}", nonce="{nonce}", qop="auth"\r\n'
            self.answer("401 Unauthorized", copied, extra, addr)
            return
        p = {k.lower(): q or b for k, q, b in _AUTH_RE.findall(auth)}
        ha1 = self.ha1.get(p.get("username", ""))
        ha2 = hashlib.md5(f"REGISTER:{p.get('uri', '')}".encode()).hexdigest()
        text = f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}"
        good = ha1 is not None and hashlib.md5(text.encode()).hexdigest() == p.get("response")
        self.answer("200 OK" if good else "403 Forbidden", copied, "", addr)

    def answer(self, status: str, copied: list[str], extra: str, addr: tuple[str, int]) -> None:
        head = "\r\n".join([f"SIP/2.0 {status}", *copied])
        out = f"{head}\r\n{extra}Content-Length: 0\r\n\r\n"
        assert self.transport is not None
        self.transport.sendto(out.encode("latin-1"), addr)


async def serve(port: int, users: int) -> None:
    """Answer on 127.0.0.1:``port`` until killed."""
    ha1 = {
        a.number: hashlib.md5(f"{a.number}:{REALM}:{a.password}".encode()).hexdigest()
        for a in accounts(users)
    }
    loop = asyncio.get_running_loop()
    # The socket pbx binds (bind_socket: an 8 MiB receive buffer), so a burst waits in
    # the kernel as it does for pbx instead of being dropped and retransmitted.
    sock = bind_socket("udp", "127.0.0.1", port)
    await loop.create_datagram_endpoint(lambda: Bare(ha1), sock=sock)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.users))


if __name__ == "__main__":
    main()
