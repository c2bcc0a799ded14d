"""Typed views of header values: SIP URIs, name-addr, Via and CSeq (RFC 3261 §25).

Each parser is a pure function from text to a frozen dataclass and raises
``SipError(400, reason)`` when the text breaks the grammar, so the reason reaches the
sender. The grammar pieces are named regular expressions with the ABNF they stand for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from pbx.sip.errors import SipError
from pbx.sip.frozen import assign_once, refuse_delete
from pbx.sip.memo import memoised
from pbx.sip.message import split_unquoted

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(TOKEN)
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# hostname = *( domainlabel "." ) toplabel [ "." ]   (lenient: letters, digits, - and .)
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?")
# IPv6reference = "[" IPv6address "]"  (RFC 3261's ABNF allows the 3-colon bug of RFC 5118)
_IPV6REF_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PORT_RE = re.compile(r"[0-9]{1,5}")
# Characters allowed in a URI outside <...> (no SP, no '<', '>' or '"').
_URI_FORBIDDEN_RE = re.compile(r'[\s<>"]')
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# via-branch magic cookie (RFC 3261 §8.1.1.7)
MAGIC_COOKIE = "z9hG4bK"

MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: CSeq MUST be less than 2**31


def _bad(reason: str) -> SipError:
    return SipError(400, reason)


def parse_params(text: str, where: str) -> tuple[tuple[str, str | None], ...]:
    """Parse ``;name[=value]`` pairs (``text`` starts after the first ``;``).

    Names are lowercased; values keep their case and quotes are removed. An empty
    parameter (``;;``) is an error, as RFC 4475 ``badinv01`` expects.
    """
    params: list[tuple[str, str | None]] = []
    for raw in _split_outside_quotes(text, ";"):
        item = raw.strip()
        if not item:
            raise _bad(f"empty parameter in {where}")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not _TOKEN_RE.fullmatch(name):
            raise _bad(f"malformed parameter name in {where}")
        if eq:
            value = value.strip()
            if value.startswith('"'):
                value = _unquote(value, where)
            elif not value:
                raise _bad(f"empty value for parameter {name} in {where}")
            params.append((name.lower(), value))
        else:
            params.append((name.lower(), None))
    return tuple(params)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, closed = split_unquoted(text, sep)
    if not closed:
        raise _bad("unterminated quoted string")
    return parts


def _unquote(text: str, where: str) -> str:
    """Body of a quoted-string that must be the whole of ``text``."""
    value, end = read_quoted(text, 0, where)
    if text[end:].strip():
        raise _bad(f"text after quoted string in {where}")
    return value


def read_quoted(text: str, start: int, where: str) -> tuple[str, int]:
    """Read the quoted-string at ``text[start]``; return (unescaped body, index after)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise _bad(f"unterminated quoted string in {where}")


def param(params: tuple[tuple[str, str | None], ...], name: str) -> str | None:
    """The value of parameter ``name`` (lowercase), or None (also for a bare flag)."""
    for key, value in params:
        if key == name:
            return value
    return None


def has_param(params: tuple[tuple[str, str | None], ...], name: str) -> bool:
    """Whether parameter ``name`` is present, with or without a value."""
    return any(key == name for key, _ in params)


@dataclass(init=False, unsafe_hash=True, slots=True)
class Uri:
    """A parsed URI. For sip/sips everything is split out; other schemes keep ``opaque``."""

    scheme: str  # lowercase
    user: str | None = None  # as written (escaped)
    host: str = ""  # IPv6 with brackets, as written
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: str | None = None  # the text after '?', untouched
    opaque: str = ""  # for non-SIP schemes: everything after the colon

    def __init__(
        self,
        scheme: str,
        user: str | None = None,
        host: str = "",
        port: int | None = None,
        params: tuple[tuple[str, str | None], ...] = (),
        headers: str | None = None,
        opaque: str = "",
    ) -> None:
        # Written out, with the two methods below: see ``pbx.sip.frozen``.
        self.scheme = scheme
        self.user = user
        self.host = host
        self.port = port
        self.params = params
        self.headers = headers
        self.opaque = opaque

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)

    @property
    def is_sip(self) -> bool:
        """sip: or sips: (the only schemes a registrar binds an AOR for)."""
        return self.scheme in ("sip", "sips")

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %HH escapes decoded (``null-%00-null`` -> 'null-\\x00-null')."""
        user = self.user
        if user is None or "%" not in user:
            # Nearly every user part has no escape: urllib's unquote would find that
            # out too, but it is interpreted Python, called for every REGISTER's To.
            return user
        return unquote(user, errors="surrogateescape")

    @property
    def host_bare(self) -> str:
        """Host without IPv6 brackets, lowercase."""
        host = self.host.lower()
        if host.startswith("["):
            return host[1:-1]
        return host

    def binding_key(self) -> str:
        """A comparison key for RFC 3261 §19.1.4 URI equivalence (simplified).

        Scheme and host compare case-insensitively, the user part after unescaping and
        case-sensitively, the port and transport literally. Good enough to tell two
        contacts of one phone apart and to recognise a refresh of the same one.
        """
        if not self.is_sip:
            return f"{self.scheme}:{self.opaque}"
        transport = param(self.params, "transport") or ""
        return (
            f"{self.scheme}:{self.user_unescaped or ''}@{self.host.lower()}:"
            f"{self.port or ''};{transport.lower()}"
        )


#: Parsed views are immutable, and phones repeat the same To, From and Contact text in
#: every request (the REGISTER that answers a 401 repeats the first one), so the
#: parsers below memoise recent results (``pbx.sip.memo``).
#: Errors are not memoised: they raise each time.
_URI_MEMO: Final[dict[str, Uri]] = {}


def parse_uri(text: str) -> Uri:
    """Parse an absolute URI; sip/sips in full (RFC 3261 §19.1.1), others opaquely.
    Memoised (``memoised``)."""
    uri = _URI_MEMO.get(text)
    if uri is None:
        uri = memoised(_URI_MEMO, text, _parse_uri(text))
    return uri


def _parse_uri(text: str) -> Uri:
    if _URI_FORBIDDEN_RE.search(text):
        raise _bad("URI contains whitespace or a delimiter")
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.fullmatch(scheme):
        raise _bad("URI has no valid scheme")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        if not rest:
            raise _bad("URI has nothing after the scheme")
        return Uri(scheme=scheme, opaque=rest)
    if _ESCAPE_RE.search(rest):
        raise _bad("malformed %-escape in URI")
    user: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user = userinfo.partition(":")[0]
        if not user:
            raise _bad("empty user part in URI")
    headers: str | None = None
    qmark = rest.find("?")
    if qmark >= 0:
        rest, headers = rest[:qmark], rest[qmark + 1 :]
    hostport, semi, param_text = rest.partition(";")
    host, port = _parse_hostport(hostport)
    params = parse_params(param_text, "URI") if semi else ()
    return Uri(scheme=scheme, user=user, host=host, port=port, params=params, headers=headers)


def _parse_hostport(text: str, *, zero_port: bool = False) -> tuple[str, int | None]:
    """Host and port; port 0 only where ``zero_port`` says the caller decides on it."""
    if text.startswith("["):
        end = text.find("]")
        host = text[: end + 1]
        if end < 0 or not _IPV6REF_RE.fullmatch(host):
            raise _bad("malformed IPv6 reference")
        rest = text[end + 1 :]
    else:
        host, _, port_text = text.partition(":")
        if not _HOSTNAME_RE.fullmatch(host):
            raise _bad("malformed host")
        rest = ":" + port_text if _ else ""
    if not rest:
        return host, None
    if not rest.startswith(":") or not _PORT_RE.fullmatch(rest[1:]):
        raise _bad("malformed port")
    port = int(rest[1:])
    if not (0 < port < 65536 or (zero_port and port == 0)):
        raise _bad("port out of range")
    return host, port


@dataclass(init=False, unsafe_hash=True, slots=True)
class NameAddr:
    """A From/To/Contact value: optional display name, URI, header parameters.

    ``uri_text`` is the URI exactly as written; ``bracketed`` tells whether it was in
    ``<...>`` (for an addr-spec, ``;params`` belong to the header, RFC 4475 ``cparam01``).
    """

    display: str | None
    uri_text: str
    uri: Uri
    params: tuple[tuple[str, str | None], ...]
    bracketed: bool

    def __init__(
        self,
        display: str | None,
        uri_text: str,
        uri: Uri,
        params: tuple[tuple[str, str | None], ...],
        bracketed: bool,
    ) -> None:
        # Written out, with the two methods below: see ``pbx.sip.frozen``.
        self.display = display
        self.uri_text = uri_text
        self.uri = uri
        self.params = params
        self.bracketed = bracketed

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)

    @property
    def tag(self) -> str | None:
        """The ``tag`` header parameter (From/To)."""
        return param(self.params, "tag")


# The shape nearly every phone sends, matched in one step; anything else (token display
# names, escapes, IPv6, quoted parameter values, whitespace) takes the general parser,
# which a test checks gives the same result wherever this one matches.
SIMPLE_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_SIMPLE_PARAM = r"[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~]+)?"
SIMPLE_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?"
_FAST_NAME_ADDR_RE = re.compile(
    r'(?:"([^"\\]*)" ?)?<((sips?):(?:([A-Za-z0-9\-._~+]+)@)?(' + SIMPLE_HOST + r")"
    r"(?::([0-9]{1,5}))?((?:;" + _SIMPLE_PARAM + r")*))>((?:;" + _SIMPLE_PARAM + r")*)\Z"
)
_FAST_VIA_RE = re.compile(
    r"SIP/2\.0/(UDP|TCP|TLS|SCTP|WS|WSS) (" + SIMPLE_HOST + r")(?::([0-9]{1,5}))?"
    r"((?:;" + _SIMPLE_PARAM + r")*)\Z"
)
_SIMPLE_PARAM_RE = re.compile(r";([A-Za-z0-9\-.!%*_+`'~]+)(?:=([A-Za-z0-9\-.!%*_+`'~]+))?")


def _simple_params(text: str) -> tuple[tuple[str, str | None], ...]:
    if not text:
        return ()
    return tuple((name.lower(), value or None) for name, value in _SIMPLE_PARAM_RE.findall(text))


def _fast_name_addr(text: str) -> NameAddr | None:
    m = _FAST_NAME_ADDR_RE.match(text)
    if m is None:
        return None
    display, uri_text, scheme, user, host, port_text, uri_params, params = m.groups()
    port = None
    if port_text is not None:
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    uri = Uri(scheme=scheme, user=user, host=host, port=port, params=_simple_params(uri_params))
    return NameAddr(display, uri_text, uri, _simple_params(params), True)


def _is_plain_name_addr(text: str) -> bool:
    """True when ``text`` is in the common shape ``parse_name_addr`` accepts at once.

    For a value that must only be valid, like a From whose tag differs in every
    request: no objects built, and nothing pushed into the parse memo. The reference
    for the C twin in ``_shapes.c``, used instead when ``make core`` compiled it
    (``is_plain_name_addr``).
    """
    m = _FAST_NAME_ADDR_RE.match(text)
    return m is not None and (m.group(6) is None or 0 < int(m.group(6)) < 65536)


try:
    from pbx.sip._shapes import plain_name_addr

    is_plain_name_addr = plain_name_addr  # a plain name, so that fastlane can import it
except ImportError:  # not compiled (``make clean-core``): the reference, same results
    is_plain_name_addr = _is_plain_name_addr


_AOR_MEMO: Final[dict[str, str | None]] = {}


def plain_aor_user(text: str) -> str | None:
    """The user part of a To in the common shape (``<sip:1000@host>``), or None when
    the value is in another shape or has no user (the caller then parses it fully).

    The registrar needs only the extension from To; reading it here keeps the parse
    memo for the Contacts, which are what a refresh needs parsed. A phone's To is the
    same in every REGISTER, and both the steering and the fast lane read it, so the
    answer is memoised too (a hit costs a sixth of the match; ``memoised``).
    """
    if text in _AOR_MEMO:
        return _AOR_MEMO[text]
    return memoised(_AOR_MEMO, text, _plain_aor_user(text))


def _plain_aor_user(text: str) -> str | None:
    m = _FAST_NAME_ADDR_RE.match(text)
    if m is None or (m.group(6) is not None and not 0 < int(m.group(6)) < 65536):
        return None
    return m.group(4)  # no '%' in this shape: nothing to unescape


_NAME_ADDR_MEMO: Final[dict[str, NameAddr]] = {}


def parse_name_addr(text: str, where: str) -> NameAddr:
    """Parse ``( name-addr / addr-spec ) *( SEMI param )`` (RFC 3261 §20.10).

    Memoised by ``text`` alone (``memoised``): ``where`` only names the header in an
    error, and errors are not memoised."""
    parsed = _NAME_ADDR_MEMO.get(text)
    if parsed is None:
        parsed = _fast_name_addr(text) or parse_name_addr_general(text, where)
        memoised(_NAME_ADDR_MEMO, text, parsed)
    return parsed


def parse_name_addr_general(text: str, where: str) -> NameAddr:
    """The full grammar of ``parse_name_addr``, without the fast path."""
    text = text.strip()
    if not text:
        raise _bad(f"empty {where}")
    display: str | None = None
    i = 0
    if text.startswith('"'):
        display, i = read_quoted(text, 0, where)
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text) or text[i] != "<":
            raise _bad(f"display name without <URI> in {where}")
    lt = text.find("<", i)
    if lt >= 0:
        if display is None:
            words = text[:lt].split()
            if any(not _TOKEN_RE.fullmatch(w) for w in words):
                raise _bad(f"display name must be tokens or a quoted string in {where}")
            display = " ".join(words) or None
        gt = text.find(">", lt)
        if gt < 0:
            raise _bad(f"unclosed < in {where}")
        uri_text = text[lt + 1 : gt]
        if uri_text != uri_text.strip():
            raise _bad(f"whitespace inside <> in {where}")
        rest = text[gt + 1 :].strip()
        bracketed = True
    else:
        uri_text, semi, tail = text.partition(";")
        uri_text = uri_text.rstrip()
        if any(c in uri_text for c in "?, "):
            raise _bad(f"a URI with '?', ',' or spaces must be in <> in {where}")
        rest = semi + tail
        bracketed = False
    uri = parse_uri(uri_text)
    if rest:
        if not rest.startswith(";"):
            raise _bad(f"unexpected text after URI in {where}")
        params = parse_params(rest[1:], where)
    else:
        params = ()
    return NameAddr(display=display, uri_text=uri_text, uri=uri, params=params, bracketed=bracketed)


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str  # uppercase
    host: str  # IPv6 with brackets
    port: int | None
    params: tuple[tuple[str, str | None], ...]

    @property
    def branch(self) -> str | None:
        """The branch parameter (transaction id when it carries the magic cookie)."""
        return param(self.params, "branch")

    @property
    def has_rport(self) -> bool:
        """RFC 3581: the client asks to be answered at the packet's source port."""
        return has_param(self.params, "rport")


_VIA_RE = re.compile(
    r"SIP\s*/\s*2\.0\s*/\s*(" + TOKEN + r")\s+([^\s;]+(?:\s*:\s*[0-9]+)?)\s*(?:;(.*))?\Z",
    re.DOTALL,
)


def parse_via(text: str) -> Via:
    """Parse one via-parm (RFC 3261 §20.42)."""
    fast = _FAST_VIA_RE.match(text)
    if fast is not None and (fast.group(3) is None or int(fast.group(3)) < 65536):
        transport, host, port_text, param_text = fast.groups()
        port = int(port_text) if port_text is not None else None
        return _checked_via(transport, host, port, _simple_params(param_text))
    return parse_via_general(text)


def parse_via_general(text: str) -> Via:
    """The full grammar of ``parse_via``, without the fast path."""
    m = _VIA_RE.match(text.strip())
    if m is None:
        raise _bad("malformed Via")
    transport, hostport, param_text = m.group(1), m.group(2), m.group(3)
    host, port = _parse_hostport(_WS_RE.sub("", hostport), zero_port=True)
    params = parse_params(param_text, "Via") if param_text is not None else ()
    return _checked_via(transport, host, port, params)


_WS_RE = re.compile(r"\s+")


def sent_by_port_allowed(port: int, rport: bool) -> bool:
    """A Via sent-by port the registrar takes: 1 to 65535, or 0 with ``rport``.

    Port 0 is in RFC 3261's grammar (1*DIGIT) but names no port to answer at. With
    rport the answer goes to the packet's source port (RFC 3581 §4), so the sent-by
    port is never used: accept it, as Kamailio does. SIPp writes it once it has
    opened -max_socket sockets and sends from one of those (bench/README.md). The one
    rule for ``parse_via`` and the fast lane's Via reading.
    """
    return 0 < port < 65536 or (port == 0 and rport)


def _checked_via(
    transport: str, host: str, port: int | None, params: tuple[tuple[str, str | None], ...]
) -> Via:
    branch = param(params, "branch")
    if has_param(params, "branch") and (not branch or branch == MAGIC_COOKIE):
        raise _bad("Via branch is empty or only the magic cookie")
    rport = param(params, "rport")
    if rport is not None and not _PORT_RE.fullmatch(rport):
        raise _bad("malformed rport")
    if port is not None and not sent_by_port_allowed(port, has_param(params, "rport")):
        raise _bad("Via port 0 without rport")  # the readers let only 0 to 65535 through
    return Via(transport=transport.upper(), host=host, port=port, params=params)


@dataclass(init=False, unsafe_hash=True, slots=True)
class CSeq:
    """``CSeq: 1234 REGISTER``."""

    seq: int
    method: str

    def __init__(self, seq: int, method: str) -> None:
        # Written out, with the two methods below: see ``pbx.sip.frozen``.
        self.seq = seq
        self.method = method

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


_CSEQ_RE = re.compile(r"\s*([0-9]+)\s+(" + TOKEN + r")\s*\Z")


_CSEQ_MEMO: Final[dict[str, CSeq]] = {}


def parse_cseq(text: str) -> CSeq:
    """Parse and range-check a CSeq (RFC 3261 §8.1.1.5: less than 2**31). Memoised
    (``memoised``): phones count from a few values."""
    cseq = _CSEQ_MEMO.get(text)
    if cseq is None:
        cseq = memoised(_CSEQ_MEMO, text, _parse_cseq(text), 1024)
    return cseq


def _parse_cseq(text: str) -> CSeq:
    m = _CSEQ_RE.match(text)
    if m is None:
        raise _bad("malformed CSeq")
    digits = m.group(1)
    if len(digits) > 10 or int(digits) > MAX_CSEQ:
        raise _bad("CSeq number out of range")
    return CSeq(int(digits), m.group(2))


#: The one Date format RFC 3261 §20.17 allows (RFC 1123, always GMT).
RFC1123_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT\Z"
)


def parse_delta_seconds(text: str, where: str, ceiling: int = 2**32 - 1) -> int:
    """Parse delta-seconds; values above ``ceiling`` are clamped (RFC 3261 §20.19).

    Only digits are accepted: no sign, no date form.
    """
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise _bad(f"malformed {where}")
    if len(text) > 10:
        return ceiling
    return min(int(text), ceiling)
