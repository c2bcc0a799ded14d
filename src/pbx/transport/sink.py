"""What a transport hands registrar events to before it answers.

A sink returns None when it has taken the events synchronously (logging), or an
awaitable that completes once they are durable (the phone tracker's group commit);
the transport sends the response only then, so a 200 OK means the row is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pbx.sip.events import Event

EventSink = Callable[[tuple[Event, ...]], "Awaitable[None] | None"]
