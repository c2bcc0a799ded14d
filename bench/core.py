"""CPU cost of the sans-IO core per registration, without sockets or a database.

    .venv/bin/python -m bench.core            # 10,000 phones
    .venv/bin/python -m bench.core --phones 2000

Each phone goes REGISTER -> 401 -> REGISTER with digest -> 200 straight through
``Endpoint.receive``; the figure is process CPU time (not wall time) per message and
per registration, so other load on the machine disturbs it less. Last comes what a
SIP worker does next with each 200's events, the row it relays to the main process
(``sightings_of``: the MAC, the times), so that the worker's in-process work per
registration is all measured here.

The cyclic collector is set as the server sets it (``pbx.app.tune_gc``): this loop
keeps every answer alive in a list, and with the interpreter's default thresholds
the collector walked them again and again (at 40,000 phones 1,756 collections, a
third of the CPU measured: 57 against 37 µs per registration). The server's SIP
workers, with the same settings, ran 10 young collections in 100,000 registrations.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from datetime import UTC, datetime

from pbx.app import tune_gc
from pbx.phones.tracker import sightings_of
from pbx.sip import digest
from pbx.sip.endpoint import Endpoint
from pbx.sip.events import Source
from pbx.sip.registrar import Registrar, RegistrarPolicy

REALM = "pbx"
URI = "sip:127.0.0.1:5060"


def register(user: str, i: int, authorization: str = "") -> bytes:
    """A REGISTER as sipp's scenario sends it."""
    return (
        f"REGISTER {URI} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bK{i}-{len(authorization)};rport\r\n"
        f"From: <sip:{user}@127.0.0.1>;tag={i}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: {i}@bench\r\nCSeq: {2 if authorization else 1} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:6000>\r\n{authorization}Max-Forwards: 70\r\n"
        "User-Agent: bench\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def answer(user: str, ha1: str, challenge: bytes) -> str:
    """The Authorization header a phone computes from a 401."""
    match = re.search(rb'nonce="([^"]+)"', challenge)
    assert match is not None, challenge
    nonce = match.group(1).decode()
    ha2 = hashlib.md5(f"REGISTER:{URI}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    return (
        f'Authorization: Digest username="{user}", realm="{REALM}", nonce="{nonce}", '
        f'uri="{URI}", response="{response}", algorithm=MD5, cnonce="c0ffee", qop=auth, '
        "nc=00000001\r\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=10_000)
    phones = parser.parse_args().phones
    users = [str(100000 + n) for n in range(phones)]
    table = {u: digest.ha1("MD5", u, REALM, f"pw{u}") for u in users}
    endpoint = Endpoint(
        Registrar(RegistrarPolicy(realm=REALM), lambda u, a: table.get(u), b"b" * 32)
    )
    source = Source("127.0.0.1", 6000, "udp")
    tune_gc("bench.core")
    first = [register(u, i) for i, u in enumerate(users)]
    start = time.process_time()
    challenges = [endpoint.receive(m, source, 1.0) for m in first]
    challenge_cpu = time.process_time() - start
    second = [
        register(u, i, answer(u, table[u], c.data or b""))
        for i, (u, c) in enumerate(zip(users, challenges, strict=True))
    ]
    start = time.process_time()
    oks = [endpoint.receive(m, source, 2.0) for m in second]
    ok_cpu = time.process_time() - start
    assert all(o.status == 200 for o in oks), {o.status for o in oks}
    # What a SIP worker does next with each 200's events: the rows it relays.
    start = time.process_time()
    rows = [sightings_of(o.events, datetime.now(UTC)) for o in oks]
    tracker_cpu = time.process_time() - start
    assert all(len(r) == 1 for r in rows)
    print(
        f"{phones} phones: 401 path {challenge_cpu / phones * 1e6:.0f} µs, "
        f"200 path {ok_cpu / phones * 1e6:.0f} µs, "
        f"registration {(challenge_cpu + ok_cpu) / phones * 1e6:.0f} µs of CPU; "
        f"its row (sightings_of) {tracker_cpu / phones * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
