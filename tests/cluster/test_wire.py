"""Framing between the main process and its SIP workers: whole, byte by byte, and
several frames per chunk all give the same messages (h11's table-driven way)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from pbx.cluster.wire import MAX_FRAME, Deframer, encode
from pbx.phones.store import Sighting

MESSAGES: list[tuple[object, ...]] = [
    ("stop",),
    ("committed", 7),
    ("ready", 0, {"udp": [("127.0.0.1", 5060)]}),
    (
        "batch",
        1,
        [
            Sighting(
                extension="1001",
                ip_address="192.0.2.7",
                mac_address="000b82123456",
                user_agent="Grandstream GXP2170",
                contact_uri="<sip:1001@192.0.2.7:5060>",
                at=datetime(2026, 11, 27, 21, 0, tzinfo=UTC),
            )
        ],
        {"1001": {"192.0.2.7": 1.8e9}, "1002": {}},
        3,
    ),
]


@pytest.mark.parametrize("chunk", [None, 1, 3, 4096], ids=["whole", "bytewise", "3", "4096"])
def test_any_chunking_gives_the_same_messages(chunk: int | None) -> None:
    stream = b"".join(encode(m) for m in MESSAGES)
    deframer = Deframer()
    got: list[tuple[object, ...]] = []
    step = chunk or len(stream)
    for start in range(0, len(stream), step):
        got += deframer.feed(stream[start : start + step])
    assert got == MESSAGES


def test_an_oversized_frame_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(ValueError, match="frame of"):
        Deframer().feed(struct.pack("!I", MAX_FRAME + 1) + b"x")
