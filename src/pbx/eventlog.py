"""The registrar's audit trail: one JSON line per event on the ``pbx.events`` logger.

Levels follow what operators of Asterisk and Kamailio are used to: a new or removed
binding, an expiry and a failed authentication are news (INFO); a refresh of a
binding that already existed is routine and would otherwise be most of the log at
tens of thousands of phones (DEBUG). The dict is only built when the level is on.
"""

from __future__ import annotations

import json
import logging

from pbx.sip.events import AuthFailed, BindingEvent, BindingRefreshed, Event, Registered

event_log = logging.getLogger("pbx.events")


def _level(event: Event) -> int:
    return logging.DEBUG if isinstance(event, BindingRefreshed) else logging.INFO


def log_events(events: tuple[Event, ...]) -> None:
    """Log each event of one request (or of one expiry run) as a JSON line."""
    for event in events:
        if isinstance(event, Registered):
            continue  # summarised by the binding events
        level = _level(event)
        if not event_log.isEnabledFor(level):
            continue
        record: dict[str, object]
        if isinstance(event, BindingEvent):
            record = {
                "event": type(event).__name__,
                "extension": event.extension,
                "transport": event.source.transport,
                "ip": event.source.host,
                "port": event.source.port,
                "user_agent": event.user_agent,
                "contact": event.contact,
                "contact_params": dict(event.contact_params),
                "expires": event.expires,
            }
        else:
            assert isinstance(event, AuthFailed)
            record = {
                "event": "AuthFailed",
                "extension": event.extension,
                "transport": event.source.transport,
                "ip": event.source.host,
                "port": event.source.port,
                "user_agent": event.user_agent,
                "reason": event.reason,
            }
        event_log.log(level, json.dumps(record, ensure_ascii=False, default=str))
