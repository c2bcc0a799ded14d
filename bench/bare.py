"""The reference floor: a bare asyncio + uvloop UDP loop that only splits headers,
checks an MD5 digest and answers (FIELD-NOTES' "bare loop"), measured in the same run.

Not a registrar: no grammar, no bindings, no nonce bookkeeping (any nonce of its own
is accepted again), no database. It shows what one Python process can do per packet
on this machine, so the gap between it and pbx is what pbx's work costs, and the gap
between it and Kamailio is what one interpreter costs.

With ``--commit DB`` it also keeps pbx's promise, and only that: each 200 OK is sent
after its row (extension, source IP, Contact, User-Agent, times) is committed to a
SQLite file with pbx's schema and pbx's upsert (WAL, synchronous=NORMAL), by group
commit on one writer thread with one batch in flight, as pbx's tracker does, and
the WAL checkpointed as pbx's store does it (``pbx.phones.checkpoint``: on a thread
of its own once a second, the writer's own automatic checkpoint only at
``WRITER_BOUND_PAGES``; with SQLite's default, a checkpoint's two fsyncs inside a
commit held answers past the phones' 500 ms timer here already at 2,000/s). That is
the floor of a one-process registrar that answers only once the row is durable: the
bare loop's per-packet work plus the write path, and nothing else.

    .venv/bin/python -m bench.bare --port 5099 --users 10000
    .venv/bin/python -m bench.bare --port 5099 --users 10000 --commit /tmp/bare.db
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import uvloop
from sqlalchemy import create_engine

from bench.users import REALM, accounts
from pbx.phones.checkpoint import WRITER_BOUND_PAGES, WalCheckpointer
from pbx.phones.sql import _UPSERT_ROWS, _HotPath, upgrade_to_head
from pbx.transport.bind import bind_socket

_AUTH_RE = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')
_COPIED = ("via", "from", "to", "call-id", "cseq", "v", "f", "t", "i")
#: pbx's fast-path statement for phones without a MAC (``_HotPath.upsert``), so the
#: floor writes exactly what pbx writes, into the table pbx's migrations create.
_SQL = _HotPath(sqlite=True)
#: A row: extension, source IP, Contact, User-Agent.
Row = tuple[str, str, str | None, str | None]


class Committer:
    """Group commit of rows on one writer thread; the answers held for a batch go out
    once it is committed (a batch that fails is not answered: the phones retransmit).
    One batch in flight: what arrives meanwhile forms the next."""

    def __init__(self, path: str, send: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._path = path
        self._send = send
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bare-writer")
        self._conn: sqlite3.Connection | None = None
        self._rows: list[Row] = []
        self._held: list[tuple[bytes, tuple[str, int]]] = []
        self._busy = False
        url = f"sqlite:///{path}"
        upgrade_to_head(url)
        self._pool.submit(self._open).result()
        self._checkpointer = WalCheckpointer(create_engine(url))

    def _open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_BOUND_PAGES}")
        conn.execute("DELETE FROM registered_phones")
        self._conn = conn

    def submit(self, row: Row, answer: bytes, addr: tuple[str, int]) -> None:
        """Queue ``row``; ``answer`` goes to ``addr`` once the row is committed."""
        self._rows.append(row)
        self._held.append((answer, addr))
        if not self._busy:
            self._start()

    def _start(self) -> None:
        rows, held = self._rows, self._held
        self._rows, self._held = [], []
        self._busy = True
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._write, rows)
        future.add_done_callback(lambda done: self._committed(done, held))

    def _write(self, rows: list[Row]) -> None:
        conn = self._conn
        assert conn is not None
        now = _SQL.ts_out(datetime.now(UTC))
        conn.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(rows), _UPSERT_ROWS):
                chunk = rows[start : start + _UPSERT_ROWS]
                # pbx's column order: MAC, extension, User-Agent, IP, first, last, Contact.
                flat = [v for e, ip, c, ua in chunk for v in (None, e, ua, ip, now, now, c)]
                conn.execute(_SQL.upsert(len(chunk), by_mac=False), flat)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._checkpointer.written()

    def _committed(
        self, done: asyncio.Future[None], held: list[tuple[bytes, tuple[str, int]]]
    ) -> None:
        self._busy = False
        if done.exception() is None:
            for answer, addr in held:
                self._send(answer, addr)
        if self._rows:
            self._start()


class Bare(asyncio.DatagramProtocol):
    """REGISTER without Authorization -> 401; with a right digest -> 200; else 403."""

    def __init__(self, ha1: dict[str, str], commit: str | None = None) -> None:
        self.ha1 = ha1
        self.transport: asyncio.DatagramTransport | None = None
        self.counter = 0
        self.salt = os.urandom(8).hex()
        self.committer = Committer(commit, self._sendto) if commit else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        lines = data.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0]
        copied: list[str] = []
        auth = ""
        contact = user_agent = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key in _COPIED:
                copied.append(line)
            elif key == "authorization":
                auth = value
            elif key in ("contact", "m"):
                contact = value.strip()
            elif key == "user-agent":
                user_agent = value.strip()
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
        if good and self.committer is not None:
            out = self.response("200 OK", copied, "")
            self.committer.submit((p["username"], addr[0], contact, user_agent), out, addr)
            return
        self.answer("200 OK" if good else "403 Forbidden", copied, "", addr)

    @staticmethod
    def response(status: str, copied: list[str], extra: str) -> bytes:
        head = "\r\n".join([f"SIP/2.0 {status}", *copied])
        return f"{head}\r\n{extra}Content-Length: 0\r\n\r\n".encode("latin-1")

    def answer(self, status: str, copied: list[str], extra: str, addr: tuple[str, int]) -> None:
        self._sendto(self.response(status, copied, extra), addr)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)


async def serve(port: int, users: int, commit: str | None = None) -> None:
    """Answer on 127.0.0.1:``port`` until killed."""
    ha1 = {
        a.number: hashlib.md5(f"{a.number}:{REALM}:{a.password}".encode()).hexdigest()
        for a in accounts(users)
    }
    loop = asyncio.get_running_loop()
    # The socket pbx binds (bind_socket: an 8 MiB receive buffer), so a burst waits in
    # the kernel as it does for pbx instead of being dropped and retransmitted.
    sock = bind_socket("udp", "127.0.0.1", port)
    await loop.create_datagram_endpoint(lambda: Bare(ha1, commit), sock=sock)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--commit", metavar="DB", help="hold each 200 until its row is committed")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.users, args.commit))


if __name__ == "__main__":
    main()
