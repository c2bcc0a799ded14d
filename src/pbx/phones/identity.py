"""MAC address identification from the header fields of a SIP REGISTER.

Phones reveal their MAC in a handful of vendor-specific places (see
``shared/phones/README.md``). Each place is a *carrier*: a small function that
looks at the headers and returns candidate values. ``CARRIERS`` lists them in
order of trust; the first carrier that yields a valid unicast MAC wins.

Why so strict: a wrong MAC mislabels the inventory and security audits, so a
value is only taken from a place where a vendor is documented to put it. Never
from Call-ID, tags, branch, the Contact user part, ``rinstance``, ``line=``,
``epid`` or ``reg-id``, however MAC-like those look.

Input: ``(name, value)`` pairs in message order, names lowercase long form
(compact ``m`` already mapped to ``contact``), folded lines unfolded, repeated
headers as separate pairs, comma-separated lists NOT split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CARRIERS",
    "Headers",
    "MacEvidence",
    "identify_mac",
    "mac_evidence",
    "normalize_mac",
]

Headers = Sequence[tuple[str, str]]

# --- MAC syntax ---------------------------------------------------------------

_HEX = "[0-9a-f]"
# One separator style per value: 001565123456, 00:15:65:12:34:56, 00-15-65-12-34-56,
# or Cisco's dotted 0015.6512.3456. Mixed separators are not a MAC we recognise.
_MAC_FORMS = (
    re.compile(rf"{_HEX}{{12}}"),
    re.compile(rf"{_HEX}{{2}}(?::{_HEX}{{2}}){{5}}"),
    re.compile(rf"{_HEX}{{2}}(?:-{_HEX}{{2}}){{5}}"),
    re.compile(rf"{_HEX}{{4}}(?:\.{_HEX}{{4}}){{2}}"),
)
_BARE_HEX12 = re.compile(rf"{_HEX}{{12}}", re.IGNORECASE)


def normalize_mac(text: str) -> str | None:
    """Return ``text`` as 12 lowercase hex digits if it is a usable station MAC.

    Multicast (I/G bit of the first octet set, which includes broadcast) and the
    all-zero value are refused: no phone has them, so they only ever come from
    placeholders or misread fields.
    """
    candidate = text.strip().lower()
    if not any(form.fullmatch(candidate) for form in _MAC_FORMS):
        return None
    digits = re.sub(r"[:.\-]", "", candidate)
    if int(digits[:2], 16) & 0x01:
        return None
    if digits == "0" * 12:
        return None
    return digits


# --- Header value splitting (quotes and <...> aware) -------------------------


def _split_outside(value: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside quoted strings or ``<...>``.

    Contact lists and parameter lists both contain commas and semicolons inside
    quoted display names, ``methods="INVITE,ACK"`` and bracketed URIs.
    """
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    in_angle = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char == "<":
            in_angle = True
        elif not in_quotes and char == ">":
            in_angle = False
        elif char == separator and not in_quotes and not in_angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """Remove surrounding double quotes and backslash escapes, if quoted."""
    value = value.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _parse_params(text: str) -> dict[str, str]:
    """Parse ``;name=value;flag`` into a dict with lowercase names (first wins)."""
    params: dict[str, str] = {}
    for item in _split_outside(text, ";"):
        name, _, raw = item.partition("=")
        name = name.strip().lower()
        if name and name not in params:
            params[name] = _unquote(raw)
    return params


@dataclass(frozen=True, slots=True)
class _Contact:
    """One Contact entry: parameters of its URI (host part only) and of the header."""

    uri_params: dict[str, str]
    header_params: dict[str, str]

    def param(self, name: str) -> str | None:
        """Header parameter first, URI parameter second (phones use both)."""
        return self.header_params.get(name, self.uri_params.get(name))

    def all_params(self) -> dict[str, str]:
        return {**self.uri_params, **self.header_params}


def _uri_params(uri: str) -> dict[str, str]:
    """Parameters after the host of a SIP URI; the user part is never looked at."""
    uri = uri.partition("?")[0]
    _, at, after_user = uri.partition("@")
    hostport = after_user if at else uri
    _, semicolon, params = hostport.partition(";")
    return _parse_params(params) if semicolon else {}


def _parse_contact(entry: str) -> _Contact:
    """Parse one contact-param, tolerating a missing ``>`` or a bare addr-spec.

    With angle brackets, ``;params`` inside are URI params and those after are
    header params. Without them (RFC 3261 §20.10) all ``;params`` are header
    params, as in ``Contact: sip:1@h;+sip.instance="..."``.
    """
    # Skip a quoted display name so a '<' inside it is not taken as the URI start.
    rest = entry.strip()
    if rest.startswith('"'):
        closing = re.match(r'"(?:[^"\\]|\\.)*"', rest)
        rest = rest[closing.end() :] if closing else ""
    if "<" in rest:
        inside = rest.split("<", 1)[1]
        uri, closed, after = inside.partition(">")
        return _Contact(
            uri_params=_uri_params(uri),
            header_params=_parse_params(after.partition(";")[2]) if closed else {},
        )
    _, _, params = rest.partition(";")
    return _Contact(uri_params={}, header_params=_parse_params(params))


def _values(headers: Headers, name: str) -> Iterator[str]:
    return (value for header, value in headers if header == name)


def _contacts(headers: Headers) -> Iterator[_Contact]:
    for value in _values(headers, "contact"):
        for entry in _split_outside(value, ","):
            if entry.strip() and entry.strip() != "*":
                yield _parse_contact(entry)


# --- +sip.instance layouts -----------------------------------------------------

_INSTANCE_UUID = re.compile(
    rf"urn:uuid:({_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}})-({_HEX}{{12}})",
    re.IGNORECASE,
)
# Grandstream HT/GXP, Aastra/Mitel 67xxi, Broadcom-based devices: v1 UUID, zero
# time, MAC as node.
_V1_ZERO_TIME = "00000000-0000-1000-8000"
# Cisco CUCM phones and Jabber. pjsip softphones use the same prefix with a
# host-name hash as tail, hence only trusted when the sender is Cisco.
_CISCO_ZERO = "00000000-0000-0000-0000"

_CISCO_USER_AGENT = re.compile(r"\s*(?:Cisco-CP|Cisco-CSF|CSCO/)", re.IGNORECASE)
_CISCO_CCM_PARAM = re.compile(r"\+u\.sip!.*\.ccm\.cisco\.com", re.IGNORECASE)


def _instance_parts(value: str) -> tuple[str, str] | None:
    """Split ``<urn:uuid:...>`` (brackets, quotes, spaces optional) into prefix, tail."""
    match = _INSTANCE_UUID.fullmatch(value.strip().strip("<>").strip())
    return (match.group(1).lower(), match.group(2)) if match else None


def _is_cisco(headers: Headers) -> bool:
    """True when User-Agent or a CUCM Contact parameter names a Cisco sender."""
    if any(_CISCO_USER_AGENT.match(ua) for ua in _values(headers, "user-agent")):
        return True
    return any(
        _CISCO_CCM_PARAM.fullmatch(name)
        for contact in _contacts(headers)
        for name in contact.all_params()
    )


# --- Carriers (one per documented place) -----------------------------------------


def _contact_mac_param(headers: Headers) -> Iterator[str]:
    """``;mac=`` on a Contact (header or URI parameter)."""
    for contact in _contacts(headers):
        value = contact.param("mac")
        if value is not None:
            yield value


def _station_name_mac_param(headers: Headers) -> Iterator[str]:
    """``P-Station-Name: name;mac=...`` (Linksys/Sipura SPA)."""
    for value in _values(headers, "p-station-name"):
        _, semicolon, params = value.partition(";")
        mac = _parse_params(params).get("mac") if semicolon else None
        if mac is not None:
            yield mac


def _sip_instance(headers: Headers) -> Iterator[str]:
    """``+sip.instance`` in the v1 zero-time layout, or Cisco's zero layout."""
    cisco: bool | None = None  # computed lazily, only if a zero layout shows up
    for contact in _contacts(headers):
        instance = contact.param("+sip.instance")
        parts = _instance_parts(instance) if instance is not None else None
        if parts is None:
            continue
        prefix, tail = parts
        if prefix == _V1_ZERO_TIME:
            yield tail
        elif prefix == _CISCO_ZERO:
            if cisco is None:
                cisco = _is_cisco(headers)
            if cisco:
                yield tail


def _cisco_device_name(headers: Headers) -> Iterator[str]:
    """``+u.sip!devicename.ccm.cisco.com="SEP<MAC>"``; CSF/BOT/TCT names are not MACs."""
    for contact in _contacts(headers):
        name = contact.param("+u.sip!devicename.ccm.cisco.com") or ""
        if name[:3].upper() == "SEP" and _BARE_HEX12.fullmatch(name[3:]):
            yield name[3:]


def _mac_header(headers: Headers) -> Iterator[str]:
    """A ``MAC:`` header (Grandstream HT8xx)."""
    yield from _values(headers, "mac")


def _station_name_bare(headers: Headers) -> Iterator[str]:
    """``P-Station-Name`` whose value is exactly 12 hex digits; names are not MACs."""
    for value in _values(headers, "p-station-name"):
        name = value.partition(";")[0].strip()
        if _BARE_HEX12.fullmatch(name):
            yield name


# Grandstream "... 1.0.49.2 c074adca6f20", Polycom "...-UA/5.9.5.0614_0004f28e5a79",
# Panasonic "... (0080f0xxxxxx)": 12 hex digits ending the User-Agent.
_USER_AGENT_TAIL = re.compile(rf"[ _(]({_HEX}{{12}})\)?\s*$", re.IGNORECASE)


def _user_agent_tail(headers: Headers) -> Iterator[str]:
    """A MAC closing the User-Agent after a space, ``_`` or ``(``."""
    for value in _values(headers, "user-agent"):
        match = _USER_AGENT_TAIL.search(value)
        if match:
            yield match.group(1)


Carrier = Callable[[Headers], Iterator[str]]

# Order of evidence, most explicit first (README "Where phones put their MAC").
CARRIERS: tuple[tuple[str, Carrier], ...] = (
    ("contact-mac-param", _contact_mac_param),
    ("p-station-name-mac-param", _station_name_mac_param),
    ("sip-instance", _sip_instance),
    ("cisco-devicename", _cisco_device_name),
    ("mac-header", _mac_header),
    ("p-station-name", _station_name_bare),
    ("user-agent", _user_agent_tail),
)


@dataclass(frozen=True, slots=True)
class MacEvidence:
    """A MAC and the carrier it came from, so callers can log or audit the source."""

    carrier: str
    mac: str


def mac_evidence(headers: Headers) -> list[MacEvidence]:
    """Every valid MAC found, in order of trust; lets callers spot disagreeing carriers."""
    found: list[MacEvidence] = []
    for carrier, extract in CARRIERS:
        for candidate in extract(headers):
            mac = normalize_mac(candidate)
            if mac is not None:
                found.append(MacEvidence(carrier, mac))
    return found


#: Every carrier's MAC is 12 hex digits in the header text, with ':', '-' or '.'
#: between groups at most; without such a run there is nothing to look for.
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{2}(?:[:.\-]?[0-9A-Fa-f]{2}){5}")


def _has_hex_run(text: str) -> bool:
    """Whether ``text`` holds such a run: the reference for the C twin in
    ``_hexrun.c``, used instead when ``make core`` compiled it (``has_hex_run``)."""
    return _HEX_RUN.search(text) is not None


try:
    from pbx.phones._hexrun import has_hex_run
except ImportError:  # not compiled (``make clean-core``): the reference, same answers
    has_hex_run = _has_hex_run

#: The only headers any carrier reads.
_READ = frozenset({"contact", "user-agent", "p-station-name", "mac"})


def identify_mac(headers: Headers) -> str | None:
    """The sender's MAC from the most trusted carrier, or None when none is present.

    A phone sends the same Contact and User-Agent in every refresh, so the answer is
    memoised on just the headers the carriers read (bounded LRU).
    """
    relevant: list[tuple[str, str]] = []
    hex_run = False
    for pair in headers:
        if pair[0] in _READ:
            relevant.append(pair)
            if not hex_run and has_hex_run(pair[1]):
                hex_run = True
    if not hex_run:
        return None  # no 12 hex digits anywhere: no carrier can hold a MAC
    return _identify(tuple(relevant))


@lru_cache(maxsize=16384)
def _identify(headers: tuple[tuple[str, str], ...]) -> str | None:
    for _, extract in CARRIERS:
        for candidate in extract(headers):
            mac = normalize_mac(candidate)
            if mac is not None:
                return mac
    return None
