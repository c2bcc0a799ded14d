"""Which extension a REGISTER datagram is for, read with little work, and which of
several SIP worker processes holds that extension.

Why: with several worker processes behind one UDP port, the kernel hands a datagram
to a worker by source address. Registrar state (nonces, bindings, Call-ID/CSeq order,
``max_contacts``, ``Contact: *``) must be one per extension, so a worker passes a
REGISTER on to the extension's owner when it is not the owner itself. The extension
is the To user exactly as the registrar reads it; what cannot be read here (no To,
another method, a malformed To) stays where it arrived: it carries no extension
state, and the general path answers it.
"""

from __future__ import annotations

import re

from pbx.sip.errors import SipError
from pbx.sip.grammar import plain_aor_user
from pbx.sip.message import Request
from pbx.sip.parse import ParseError, parse_message
from pbx.sip.registrar import read_register

#: The first To header line (long or compact form, any case, CRLF or bare LF).
_TO_RE = re.compile(rb"\n(?:to|t)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


def _plain_to_user(data: bytes) -> str | None:
    """The user of the first To line of ``data`` when its value is in the plain shape
    (``plain_aor_user``), else None. The reference for the C twin in ``_shapes.c``,
    used instead when ``make core`` compiled it (``plain_to_user``); the twin says
    None for a To value that is not ASCII, which the general parser then reads."""
    m = _TO_RE.search(data)
    if m is None:
        return None
    return plain_aor_user(m.group(1).decode("utf-8", "surrogateescape").strip())


try:
    from pbx.sip._shapes import register_to_user as plain_to_user
except ImportError:  # not compiled (``make clean-core``): the reference, same results
    plain_to_user = _plain_to_user


def register_extension(data: bytes) -> str | None:
    """The To user of a REGISTER datagram (unescaped, as the registrar keys its
    bindings), or None for anything else, or for a REGISTER the registrar refuses.

    The To line is read directly in the usual shape; any other shape (folded, odd
    spacing, escapes) is read by the general parser, so the answer is always the
    registrar's own.
    """
    if not data.startswith(b"REGISTER "):
        return None
    user = plain_to_user(data)
    if user:
        return user
    try:
        message = parse_message(data)
        if not isinstance(message, Request):
            return None
        return read_register(message).extension or None
    except (ParseError, SipError):
        return None


#: The owner hash is h = h * 31 + byte over the extension's UTF-8 bytes, modulo 2**32:
#: a multiply-add, because the kernel computes it too (``pbx.transport.kernel_steering``
#: runs it in a classic BPF program, which has no tables for a CRC). On numbered
#: extensions it spreads evenly (100000..109999 over 3 workers: 3333, 3334, 3333).
OWNER_MULTIPLIER = 31


def owner_hash(extension: str) -> int:
    """The 32-bit hash ``owner`` reduces; the same in every process (not ``hash``,
    which is salted per interpreter)."""
    h = 0
    for byte in extension.encode("utf-8", "surrogateescape"):
        h = (h * OWNER_MULTIPLIER + byte) & 0xFFFFFFFF
    return h


def owner(extension: str, workers: int) -> int:
    """The worker (0 .. workers-1) that holds ``extension``."""
    return owner_hash(extension) % workers
