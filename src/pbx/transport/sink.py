"""What a transport hands registrar events to before it answers, and how it waits.

A sink returns None when it has taken the events synchronously (logging), or an
awaitable that completes once they are durable (the phone tracker's group commit);
the transport sends the response only then, so a 200 OK means the row is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pbx.sip.events import Event

log = logging.getLogger("pbx.transport")

EventSink = Callable[[tuple[Event, ...]], "Awaitable[None] | None"]


class Replies:
    """Runs ``send`` callbacks once their sink awaitable completes.

    A future (the tracker's shared group-commit future) gets a done-callback: no task
    per response on the hot path. Any other awaitable gets a task, kept referenced
    until it finishes. A failing sink is logged and the response still goes out: the
    phone must not be left without an answer because the inventory failed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def after(self, waiter: Awaitable[None] | None, send: Callable[[], None]) -> None:
        """Call ``send`` now (no waiter) or when ``waiter`` completes."""
        if waiter is None:
            send()
        elif isinstance(waiter, asyncio.Future):
            waiter.add_done_callback(lambda done: self._done(done, send))
        else:
            task = self._loop.create_task(self._await(waiter, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _done(done: asyncio.Future[None], send: Callable[[], None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("event sink failed; the response is sent anyway: %s", done.exception())
        send()

    @staticmethod
    async def _await(waiter: Awaitable[None], send: Callable[[], None]) -> None:
        try:
            await waiter
        except Exception:
            log.exception("event sink failed; the response is sent anyway")
        send()
