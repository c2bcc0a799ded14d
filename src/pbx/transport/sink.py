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
        # Sends waiting on each future: one done-callback per group commit releases
        # them all, instead of one scheduled callback per response.
        self._groups: dict[asyncio.Future[None], list[Callable[[], None]]] = {}

    def after(self, waiter: Awaitable[None] | None, send: Callable[[], None]) -> None:
        """Call ``send`` now (no waiter) or when ``waiter`` completes."""
        if waiter is None:
            send()
        elif isinstance(waiter, asyncio.Future):
            group = self._groups.get(waiter)
            if group is None:
                group = self._groups[waiter] = []
                waiter.add_done_callback(self._done)
            group.append(send)
        else:
            task = self._loop.create_task(self._await(waiter, send))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _done(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("event sink failed; the responses are sent anyway: %s", done.exception())
        for send in self._groups.pop(done, ()):
            try:
                send()
            except Exception:  # one failed send must not hold the others back
                log.exception("could not send a response")

    @staticmethod
    async def _await(waiter: Awaitable[None], send: Callable[[], None]) -> None:
        try:
            await waiter
        except Exception:
            log.exception("event sink failed; the response is sent anyway")
        send()
