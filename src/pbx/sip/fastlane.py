"""The UDP fast lane: a REGISTER in the shape nearly every phone sends, read straight
from its lines, without the generic ``Headers``/``Request``/``Response`` objects.

Why it exists: the general path (``parse_message`` -> ``Endpoint._validate`` ->
``read_register`` -> ``build_response`` -> ``serialize_response``) handles every
corner of RFC 3261 and RFC 4475, and for an ordinary REGISTER most of its time went
into that generality: header objects, a validation pass, a response object, a
serialisation pass. Throughput is what an operator compares registrars by (issue 4).

The contract that keeps it safe: ``read_fast`` returns None for anything it is not
sure about (non-ASCII, folding, a body, duplicate or unusual headers, a Via or CSeq
not in the plain shape, ``Require``, ``Date`` ...), and the general path then gives
the precise answer. For what it accepts, the registrar's input, the transaction key,
the response bytes and the destination are the ones the general path produces: it
reuses the same grammar functions and the same registrar rules (``Registrar.decide``),
and ``tests/sip/test_fastlane.py`` compares the two paths over the torture corpus,
the phone corpus and generated variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pbx.sip.errors import SipError
from pbx.sip.events import Source
from pbx.sip.grammar import (
    MAGIC_COOKIE,
    RFC1123_DATE_RE,
    SIMPLE_HOST,
    SIMPLE_TOKEN,
    NameAddr,
    is_plain_name_addr,
    param,
    parse_cseq,
    parse_delta_seconds,
    parse_name_addr,
    parse_uri,
    plain_aor_user,
    sent_by_port_allowed,
)
from pbx.sip.message import display_name
from pbx.sip.parse import MAX_MESSAGE_SIZE, canonical_header, known_header_names
from pbx.sip.registrar import RegisterInput
from pbx.sip.response import SERVER_NAME, Destination, to_tag

#: The Request-Line of a REGISTER to a sip: URI; the URI itself is checked by parse_uri.
_START_RE = re.compile(r"REGISTER (sip:[!-~]+) SIP/2\.0\Z")
#: Headers whose presence sends the request to the general path, which checks them.
_VIA_RE = re.compile(
    rf"SIP/2\.0/UDP ({SIMPLE_HOST})(?::([0-9]{{1,5}}))?((?:;{SIMPLE_TOKEN}(?:={SIMPLE_TOKEN})?)*)\Z"
)
_PARAM_RE = re.compile(rf";({SIMPLE_TOKEN})(?:=({SIMPLE_TOKEN}))?")
#: The Via nearly every phone sends: a branch and perhaps a bare rport, nothing else.
#: One match instead of ``_VIA_RE`` and a scan of the parameters (a third of the time).
_COMMON_VIA_RE = re.compile(
    rf"SIP/2\.0/UDP ({SIMPLE_HOST})(?::([0-9]{{1,5}}))?(;rport)?"
    rf";branch=({MAGIC_COOKIE}{SIMPLE_TOKEN})(;rport)?\Z"
)
#: Headers the registrar reads or the endpoint checks: a repeated one (a second Via, a
#: second Contact line, two Expires ...) is left to the general path.
_READ = frozenset(
    {
        "via", "from", "to", "call-id", "cseq", "contact", "expires", "authorization",
        "max-forwards", "content-length", "content-type", "user-agent", "require", "date",
    }
)  # fmt: skip
_TAIL = f"Server: {SERVER_NAME}\r\nContent-Length: 0\r\n\r\n"


@dataclass(slots=True, init=False)
class FastRegister:
    """A REGISTER read by the fast lane: the registrar's input and how to answer it."""

    register: RegisterInput
    key: str  # the transaction key (see ``pbx.sip.transactions``)
    copied: str  # Via (stamped), From, To (with our tag), Call-ID, CSeq lines
    destination: Destination

    def __init__(
        self,
        register: RegisterInput,
        key: str,
        copied: str,
        destination: Destination,
    ) -> None:
        # Written out: a dataclass's generated __init__ is interpreted (see Binding).
        self.register = register
        self.key = key
        self.copied = copied
        self.destination = destination

    def answer(self, status: int, reason: str, extra: list[tuple[str, str]]) -> bytes:
        """The response, byte for byte what ``build_response`` + ``serialize_response``
        write for the same request."""
        parts = [f"SIP/2.0 {status} {reason}\r\n", self.copied]
        parts.extend(f"{display_name(name)}: {value}\r\n" for name, value in extra)
        parts.append(_TAIL)
        return "".join(parts).encode("utf-8", "surrogateescape")


def _split_register(
    data: bytes,
    max_size: int,
    known: dict[str, str],
    canonical: Callable[[str], str],
) -> tuple[str, tuple[tuple[str, str], ...], dict[str, str]] | None:
    """The Request-URI of a plain REGISTER datagram, its header fields in order (long
    lower-case names, stripped values) and the same fields by name (the last of a
    repeated one); None when it is not in the plain shape: longer than ``max_size``,
    no empty line at the very end, not ASCII, a bare CR or LF, another Request-Line,
    an empty line before the end (a body), a line without a colon, folding.

    Names come from ``known`` (the memo of ``canonical``), else from ``canonical``,
    whose SipError (a malformed name) reaches the caller. This is the reference for
    the C twin in ``_headsplit.c``, which ``make core`` compiles and which is used
    instead when present (``split_register``)."""
    if len(data) > max_size or not data.endswith(b"\r\n\r\n"):
        return None
    try:
        head = data[:-4].decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        return None  # a bare LF or CR somewhere: the general parser decides
    start = _START_RE.match(lines[0])
    if start is None:
        return None
    fields: list[tuple[str, str]] = []
    append = fields.append
    for line in lines[1:]:
        raw_name, colon, value = line.partition(":")
        if not colon or line[0] in " \t":
            return None  # empty line (a body follows), no colon, or folding
        append((known.get(raw_name) or canonical(raw_name), value.strip()))
    return start.group(1), tuple(fields), dict(fields)


try:
    from pbx.sip._headsplit import split_register
except ImportError:  # not compiled (``make clean-core``): the reference, same results
    split_register = _split_register


def read_fast(data: bytes, source: Source) -> FastRegister | None:
    """Read a plain REGISTER datagram, or None to leave it to the general path."""
    try:
        split = split_register(data, MAX_MESSAGE_SIZE, known_header_names(), canonical_header)
    except SipError:
        return None  # a malformed header name: the general path answers 400
    if split is None:
        return None
    uri_text, fields, first = split
    if len(first) != len(fields) and not _repeats_harmless(fields):
        return None
    if "require" in first:
        return None  # RFC 3261 §8.2.2.3: 420 or not, the general path decides
    date = first.get("date")
    if date is not None and not RFC1123_DATE_RE.match(date):
        return None
    try:
        return _checked(uri_text, first, fields, source)
    except SipError:
        return None


def _repeats_harmless(fields: tuple[tuple[str, str], ...]) -> bool:
    """True when only headers nobody here reads repeat (``Accept``, ``Allow`` ...)."""
    seen: set[str] = set()
    for name, _ in fields:
        if name in seen and name in _READ:
            return False
        seen.add(name)
    return True


def _checked(
    uri_text: str, first: dict[str, str], fields: tuple[tuple[str, str], ...], source: Source
) -> FastRegister | None:
    """Every check the general path makes, in the plain shape; SipError or None to
    leave the request to it."""
    via = first.get("via")
    from_ = first.get("from")
    to = first.get("to")
    call_id = first.get("call-id")
    cseq_text = first.get("cseq")
    if via is None or from_ is None or to is None or call_id is None or cseq_text is None:
        return None
    length = first.get("content-length")
    if (length is not None and length != "0") or "tag" in to.lower():
        return None
    max_forwards = first.get("max-forwards")
    if max_forwards is not None and not (
        max_forwards.isdigit() and max_forwards.isascii() and int(max_forwards) <= 255
    ):
        return None
    top = _plain_via(via)
    if top is None:
        return None
    sent_by_host, port, branch, rport = top
    uri = parse_uri(uri_text)
    if not uri.is_sip or uri.headers is not None:
        return None
    cseq = parse_cseq(cseq_text)
    if cseq.method != "REGISTER" or not is_plain_name_addr(from_):
        return None
    extension = plain_aor_user(to)
    if extension is None:
        to_addr = parse_name_addr(to, "To")
        extension = to_addr.uri.user_unescaped
        if not to_addr.uri.is_sip or not extension:
            return None
    contact = first.get("contact")
    contacts: tuple[tuple[str, NameAddr], ...] = ()
    if contact is not None:
        if "," in contact or not contact or contact == "*":
            return None  # several contacts, or Contact: * (rare): the general path
        parsed = parse_name_addr(contact, "Contact")
        if parsed.params:
            contact_expires = param(parsed.params, "expires")
            if contact_expires is not None:
                parse_delta_seconds(contact_expires, "Contact expires")
        contacts = ((contact, parsed),)
    expires_text = first.get("expires")
    expires = None if expires_text is None else parse_delta_seconds(expires_text, "Expires")
    authorization = first.get("authorization")
    register = RegisterInput(
        uri_text,
        extension,
        contacts,
        False,
        expires,
        first.get("user-agent"),
        call_id,
        cseq,
        (authorization,) if authorization is not None else (),
        fields,
    )
    # RFC 3261 §18.2.1 and RFC 3581, as ``stamp_via`` and ``via_destination`` do it.
    if rport:
        at = via.find(";rport;")
        at = at if at >= 0 else len(via) - 6
        stamped = f"{via[:at]};rport={source.port}{via[at + 6 :]};received={source.host}"
        destination = Destination(source.host, source.port)
    else:
        stamped = via
        if sent_by_host.lower() != source.host.lower():
            stamped = f"{via};received={source.host}"
        destination = Destination(source.host, port or 5060)
    copied = (
        f"Via: {stamped}\r\nFrom: {from_}\r\n"
        f"To: {to};tag={to_tag(call_id, from_, cseq_text)}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq_text}\r\n"
    )
    # The RFC 3261 §17.2.3 key, as ``transaction_key`` builds it.
    sent_by = via.split(";", 1)[0]
    key = (
        f"3261\n{branch}\n{sent_by}\nREGISTER\n{uri_text}\n{call_id}\n{cseq_text}\n"
        f"{source.host}\n{source.port}"
    )
    return FastRegister(register, key, copied, destination)


def _common_via(via: str) -> tuple[str, str | None, str | None, str, str | None] | None:
    """The groups of ``_COMMON_VIA_RE`` (host, port, ";rport" before the branch,
    branch, ";rport" after it), or None when it does not match. The reference for
    the C twin in ``_shapes.c``, used instead when ``make core`` compiled it
    (``common_via``)."""
    m = _COMMON_VIA_RE.match(via)
    if m is None:
        return None
    host, port_text, before, branch, after = m.groups()
    return host, port_text, before, branch, after


try:
    from pbx.sip._shapes import common_via
except ImportError:  # not compiled (``make clean-core``): the reference, same results
    common_via = _common_via


def _plain_via(via: str) -> tuple[str, int | None, str, bool] | None:
    """(sent-by host, port, branch, rport) of a Via in the shape ``parse_via`` accepts at
    once, with an RFC 3261 branch, a bare ``rport`` or none, and no ``received``;
    None otherwise."""
    common = common_via(via)
    if common is not None:
        host, port_text, rport_before, branch, rport_after = common
        if rport_before is not None and rport_after is not None:
            return None  # rport twice
        rport = rport_before is not None or rport_after is not None
    else:
        m = _VIA_RE.match(via)
        if m is None:
            return None
        host, port_text, params = m.groups()
        read = _branch_and_rport(params)
        if read is None:
            return None
        branch, rport = read
    port = None
    if port_text is not None:
        port = int(port_text)
        if not sent_by_port_allowed(port, rport):
            return None
    return host, port, branch, rport


def _branch_and_rport(params: str) -> tuple[str, bool] | None:
    """The branch and whether a bare ``rport`` is there, from Via parameters in any
    order; None for a second branch or rport, ``received``, an rport with a value,
    ``branch`` or ``rport`` not in lower case, or a branch without the RFC 3261 magic
    cookie."""
    branch = None
    rport = False
    for name, value in _PARAM_RE.findall(params):
        lowered = name.lower()
        if lowered == "branch":
            if branch is not None or name != "branch":
                return None
            branch = value
        elif lowered == "rport":
            if rport or value or name != "rport":
                return None
            rport = True
        elif lowered == "received":
            return None
    if branch is None or not branch.startswith(MAGIC_COOKIE) or branch == MAGIC_COOKIE:
        return None
    return branch, rport
