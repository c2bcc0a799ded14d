"""The server core: bytes from one source in, one response (and events) out.

Sans-IO (aioquic style): the transports call ``receive(data, source, now)`` and send
what comes back; ``expire(now)`` and ``next_timer()`` drive the one timer. Here live
the checks every request gets before the registrar sees it (RFC 3261 §8.2 order:
syntax, method, URI scheme, Require), the answers to OPTIONS and other methods, and
the cache that answers a retransmitted request with the same response without
processing it again (RFC 3261 §17.2.2, Timer J = 64*T1 for UDP).

A REGISTER datagram in the plain shape first goes to the fast lane
(``pbx.sip.fastlane``), which reads it without the generic message objects and hands
the same input to the same registrar rules; whatever it declines takes the path above.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from pbx.sip.errors import SipError
from pbx.sip.events import Event, Source
from pbx.sip.fastlane import FastRegister, read_fast
from pbx.sip.frozen import assign_once, refuse_delete
from pbx.sip.grammar import RFC1123_DATE_RE, parse_cseq, parse_name_addr, parse_uri, parse_via
from pbx.sip.message import Headers, Request, Response, serialize_response, split_list
from pbx.sip.parse import SINGLE_HEADERS, ParseError, parse_message
from pbx.sip.registrar import Registrar
from pbx.sip.response import Destination, build_response, error_response, response_destination
from pbx.sip.transactions import TRANSACTION_LIFETIME, transaction_key

log = logging.getLogger("pbx.sip")

ALLOW = "REGISTER, OPTIONS, ACK, BYE, CANCEL"
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
_REQUIRED = ("via", "from", "to", "call-id", "cseq")


@dataclass(init=False, unsafe_hash=True, slots=True)
class Outcome:
    """What to do after a message: send ``data`` (to ``destination`` for UDP; on the
    same connection for TCP) after handing ``events`` to whoever listens.

    One is built per message: immutable the cheap way ``pbx.sip.frozen`` describes
    (a named tuple's constructor is interpreted Python).
    """

    data: bytes | None
    destination: Destination | None
    events: tuple[Event, ...] = ()
    status: int = 0

    def __init__(
        self,
        data: bytes | None,
        destination: Destination | None,
        events: tuple[Event, ...] = (),
        status: int = 0,
    ) -> None:
        self.data = data
        self.destination = destination
        self.events = events
        self.status = status

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


_DROP = Outcome(None, None)


class Endpoint:
    """Validates requests, dispatches REGISTER to the registrar, absorbs retransmissions."""

    def __init__(
        self, registrar: Registrar, max_transactions: int = 200_000, fast_lane: bool = True
    ) -> None:
        self.registrar = registrar
        # False only in tests, to compare the fast lane with the general path.
        self._fast_lane = fast_lane
        # key -> (deadline, response bytes, host, port, status): atoms only, so that
        # the cyclic garbage collector does not have to walk tens of thousands of
        # cached answers (it untracks tuples of atoms).
        self._transactions: OrderedDict[str, tuple[float, bytes, str | None, int, int]] = (
            OrderedDict()
        )
        self._max_transactions = max_transactions

    def receive(self, data: bytes, source: Source, now: float) -> Outcome:
        """Handle one datagram, or one message cut from a stream by the framer."""
        stream = source.transport != "udp"
        if not stream and self._fast_lane and data.startswith(b"REGISTER "):
            fast = read_fast(data, source)
            if fast is not None:
                return self._receive_fast(fast, source, now)
        try:
            message = parse_message(data, stream=stream)
        except ParseError as exc:
            if exc.is_response or exc.partial is None:
                log.info("dropped unparseable message from %s: %s", source.host, exc.reason)
                return _DROP
            return self._answer_error(exc.partial, source, exc)
        if message is None or isinstance(message, Response):
            return _DROP  # keepalive, or a response: we have no client transactions
        return self.receive_request(message, source, now)

    def reject(self, error: ParseError, source: Source) -> Outcome:
        """The answer to a message a stream could not be cut into (RFC 3261 §18.3: a
        malformed or too large Content-Length): 400 or 513 addressed from its headers,
        so the sender learns why before the connection closes; nothing for a response
        or when the headers were not readable."""
        if error.is_response or error.partial is None:
            return _DROP
        return self._answer_error(error.partial, source, error)

    def receive_request(self, request: Request, source: Source, now: float) -> Outcome:
        """Handle a parsed request (transaction cache, validation, dispatch)."""
        key = self._transaction_key(request, source)
        if key is not None:
            cached = self._cached(key, now)
            if cached is not None:
                return cached
        outcome = self._process(request, source, now)
        if key is not None and outcome.data is not None:
            self._remember(key, outcome, now)
        return outcome

    def _cached(self, key: str, now: float) -> Outcome | None:
        """The answer already given to this transaction, while it is remembered."""
        cached = self._transactions.get(key)
        if cached is None or cached[0] <= now:
            return None
        _, data, host, port, status = cached
        destination = Destination(host, port) if host is not None else None
        return Outcome(data, destination, (), status)

    def _receive_fast(self, fast: FastRegister, source: Source, now: float) -> Outcome:
        """A REGISTER the fast lane read: same cache, same registrar rules."""
        cached = self._cached(fast.key, now)
        if cached is not None:
            return cached
        try:
            status, reason, extra, events = self.registrar.decide(fast.register, source, now)
        except SipError as exc:
            status, reason, extra, events = exc.status, exc.reason, list(exc.headers), []
        outcome = Outcome(
            fast.answer(status, reason, extra), fast.destination, tuple(events), status
        )
        self._remember(fast.key, outcome, now)
        return outcome

    def _remember(self, key: str, outcome: Outcome, now: float) -> None:
        """Cache an answer for retransmissions (RFC 3261 §17.2.2), oldest out first."""
        transactions = self._transactions
        dest = outcome.destination
        transactions[key] = (
            now + TRANSACTION_LIFETIME,
            outcome.data or b"",
            dest.host if dest is not None else None,
            dest.port if dest is not None else 0,
            outcome.status,
        )
        transactions.move_to_end(key)
        while len(transactions) > self._max_transactions:
            transactions.popitem(last=False)

    def expire(self, now: float) -> list[Event]:
        """Drop finished transactions and expired bindings; return expiry events."""
        transactions = self._transactions
        while transactions:
            key, entry = next(iter(transactions.items()))
            deadline = entry[0]
            if deadline > now:
                break
            del transactions[key]
        return self.registrar.expire(now)

    def next_timer(self) -> float | None:
        """When ``expire`` next has something to do."""
        times = [t for t in (self.registrar.next_timer(),) if t is not None]
        if self._transactions:
            times.append(next(iter(self._transactions.values()))[0])
        return min(times) if times else None

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _transaction_key(request: Request, source: Source) -> str | None:
        """RFC 3261 §17.2.3 matching; None over a reliable transport (no retransmits)."""
        if source.transport != "udp" or request.method == "ACK":
            return None
        headers = request.headers
        first = headers.get("via")
        if first is None:
            return None
        top = split_list(first)[0] if "," in first else first
        return transaction_key(
            request.method,
            request.uri,
            top,
            headers.get("from") or "",
            headers.get("call-id") or "",
            headers.get("cseq") or "",
            source,
        )

    def _answer_error(self, headers: Headers, source: Source, error: SipError) -> Outcome:
        destination = response_destination(headers, source)
        if destination is None:
            log.info("dropped bad request from %s: %s (no usable Via)", source.host, error.reason)
            return _DROP
        response = error_response(headers, source, error)
        return Outcome(serialize_response(response), destination, (), error.status)

    def _process(self, request: Request, source: Source, now: float) -> Outcome:
        headers = request.headers
        try:
            self._validate(request)
            if request.method == "ACK":
                return _DROP
            if request.method == "REGISTER":
                response, events = self.registrar.handle(request, source, now)
                return Outcome(
                    serialize_response(response),
                    response_destination(headers, source),
                    tuple(events),
                    response.status,
                )
            response = self._other_method(request, source)
        except SipError as exc:
            if request.method == "ACK":
                return _DROP  # never answer an ACK
            return self._answer_error(headers, source, exc)
        return Outcome(
            serialize_response(response), response_destination(headers, source), (), response.status
        )

    @staticmethod
    def _validate(request: Request) -> None:
        """RFC 3261 §8.2: syntax, method, scheme, extensions; raises SipError."""
        headers = request.headers
        seen: dict[str, str] = {}  # first value of each header, found in one pass
        vias: list[str] = []
        for name, value in headers.fields:
            if name == "via":
                vias.append(value)
            elif name in seen:
                if name in SINGLE_HEADERS:
                    raise SipError(400, f"Duplicate {name.title()} header")
            else:
                seen[name] = value
        if vias:
            seen["via"] = vias[0]
        for name in _REQUIRED:
            if name not in seen:
                raise SipError(400, f"Missing {name.title()} header")
        for value in vias:
            for item in split_list(value):
                parse_via(item)
        cseq = parse_cseq(seen["cseq"])
        max_forwards = seen.get("max-forwards")
        if max_forwards is not None:
            text = max_forwards.strip()
            if not text.isdigit() or not text.isascii() or int(text.lstrip("0") or "0") > 255:
                raise SipError(400, "Max-Forwards out of range")
        parse_name_addr(seen["from"], "From")
        parse_name_addr(seen["to"], "To")
        date = seen.get("date")
        if date is not None and not RFC1123_DATE_RE.match(date):
            raise SipError(400, "Malformed Date header")
        if request.method not in KNOWN_METHODS:
            raise SipError(501, "Not Implemented", (("allow", ALLOW),))
        if cseq.method != request.method:
            raise SipError(400, "CSeq method does not match the request method")
        uri = parse_uri(request.uri)
        if not uri.is_sip:
            raise SipError(416, "Unsupported URI Scheme")
        if uri.headers is not None:
            raise SipError(400, "Request-URI must not carry headers")
        if "require" in seen and request.method not in ("ACK", "CANCEL"):
            required = [v for v in headers.values("require") if v]
            if required:
                raise SipError(420, "Bad Extension", (("unsupported", ", ".join(required)),))

    @staticmethod
    def _other_method(request: Request, source: Source) -> Response:
        headers = request.headers
        if request.method == "OPTIONS":
            extra = [("allow", ALLOW), ("accept", "application/sdp"), ("supported", "")]
            return build_response(headers, source, 200, "OK", [e for e in extra if e[1]])
        if request.method in ("BYE", "CANCEL"):
            return build_response(headers, source, 481, "Call/Transaction Does Not Exist")
        return build_response(headers, source, 405, "Method Not Allowed", [("allow", ALLOW)])
