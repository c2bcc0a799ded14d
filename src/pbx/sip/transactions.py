"""Server transaction matching (RFC 3261 §17.2.3), shared by both request readers.

The endpoint answers a retransmitted request from its cache; the key must come out the
same whichever reader (general parser or UDP fast lane) saw the request, so it is
computed here from plain strings.

The key is one string, its parts joined by LF, which no part can hold (the parsers
cut lines at LF; the source is an address): a cached answer lives for 32 s, and at
thousands of REGISTERs a second a tuple of nine strings per transaction was about
500 bytes more to keep, and to fault in as the cache grows, than one string.
"""

from __future__ import annotations

import re

from pbx.sip.events import Source
from pbx.sip.grammar import MAGIC_COOKIE

#: RFC 3261 §17.1.2.2: Timer J (64*T1) for how long a server transaction absorbs
#: retransmissions over an unreliable transport.
TRANSACTION_LIFETIME = 32.0

_BRANCH_RE = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


def transaction_key(
    method: str, uri: str, top_via: str, from_: str, call_id: str, cseq: str, source: Source
) -> str:
    """The cache key of a request arriving over UDP.

    A retransmission repeats the request exactly, so adding the Request-URI, Call-ID,
    CSeq and the packet's source to the RFC 3261 §17.2.3 key costs nothing and keeps
    distinct requests that reuse a branch apart.
    """
    m = _BRANCH_RE.search(top_via)
    common = f"{uri}\n{call_id}\n{cseq}\n{source.host}\n{source.port}"
    if m and m.group(1).startswith(MAGIC_COOKIE):
        sent_by = top_via.split(";", 1)[0]
        return f"3261\n{m.group(1)}\n{sent_by}\n{method}\n{common}"
    return f"2543\n{from_}\n{top_via}\n{common}"
