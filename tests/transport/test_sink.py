"""Replies: responses held until their events are durable, released together."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pbx.transport.sink import Replies


def test_sends_wait_for_their_future_and_go_out_in_order() -> None:
    async def main() -> None:
        replies = Replies(asyncio.get_running_loop())
        sent: list[str] = []
        commit: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for name in ("a", "b", "c"):
            replies.after(commit, lambda name=name: sent.append(name))
        replies.after(None, lambda: sent.append("now"))
        await asyncio.sleep(0)
        assert sent == ["now"]  # nothing held is sent before the commit
        commit.set_result(None)
        await asyncio.sleep(0)
        assert sent == ["now", "a", "b", "c"]

    asyncio.run(main())


def test_a_failed_commit_still_sends_and_one_bad_send_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        replies = Replies(asyncio.get_running_loop())
        sent: list[str] = []
        commit: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def broken() -> None:
            raise OSError("network unreachable")

        replies.after(commit, broken)
        replies.after(commit, lambda: sent.append("b"))
        commit.set_exception(RuntimeError("disk full"))
        await asyncio.sleep(0)
        assert sent == ["b"]

    caplog.set_level(logging.ERROR, logger="pbx.transport")
    asyncio.run(main())
    assert "disk full" in caplog.text
    assert "could not send a response" in caplog.text


def test_any_awaitable_works_as_a_waiter() -> None:
    async def main() -> None:
        replies = Replies(asyncio.get_running_loop())
        sent: list[str] = []
        gate = asyncio.Event()
        replies.after(gate.wait(), lambda: sent.append("x"))
        await asyncio.sleep(0)
        assert sent == []
        gate.set()
        for _ in range(3):
            await asyncio.sleep(0)
        assert sent == ["x"]

    asyncio.run(main())
