"""RFC 4475 and RFC 5118 torture messages, sent as raw datagrams to ``pbx serve``.

Each of the 62 messages of ``shared/sip-torture/manifest.json`` goes from
127.0.0.1:5060 (the port RFC 3261 §18.2.2 answers when a Via names none) while the test
also listens on 5050, 5070, 6050 and 19823, the other Via sent-by ports of the set: a
response may arrive on any of them. The outcome is the status code, or ``drop`` when
nothing arrives within a short wait. Every outcome must be one the manifest accepts; the
server must still be up and answering afterwards. The share of *preferred* outcomes
(the first acceptable one) is printed as ``torture: N/62 preferred outcome``.

Messages are sent one at a time, so each response belongs to the message just sent;
messages whose preferred outcome is ``drop`` get the shorter wait, since a drop always
costs the whole wait.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SHARED, TORTURE_SUMMARY, PbxServer, running_pbx

pytestmark = pytest.mark.e2e

TORTURE = SHARED / "sip-torture"
SEND_FROM = ("127.0.0.1", 5060)
LISTEN_PORTS = (5060, 5050, 5070, 6050, 19823)
#: How long to wait for an answer before calling the outcome ``drop``.
WAIT_ANSWER = 1.0
WAIT_DROP = 0.4


def _manifest() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((TORTURE / "manifest.json").read_text())
    return entries


MANIFEST = _manifest()


@dataclass(frozen=True)
class Outcome:
    """What came back for one message: ``status`` (or "drop"), where, and the bytes."""

    status: str
    port: int | None = None
    first_line: str = ""


def _bind_listeners() -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for port in LISTEN_PORTS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", port))
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        pytest.fail(
            f"cannot bind UDP 127.0.0.1:{port} for the torture test ({exc}); something else "
            "(another SIP server, another test run) holds one of "
            f"{', '.join(map(str, LISTEN_PORTS))}",
            pytrace=False,
        )
    return sockets


def _collect(selector: selectors.BaseSelector, wait: float) -> list[tuple[bytes, int]]:
    """The datagrams that arrive until the first one, or until ``wait`` is over."""
    deadline = time.monotonic() + wait
    got: list[tuple[bytes, int]] = []
    while not got:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in selector.select(left):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            try:
                data, _ = sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            got.append((data, int(sock.getsockname()[1])))
    return got


def _outcome(datagrams: list[tuple[bytes, int]]) -> Outcome:
    if not datagrams:
        return Outcome("drop")
    data, port = datagrams[0]
    first_line = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    m = re.match(r"SIP/2\.0 ([0-9]{3})\b", first_line)
    return Outcome(m.group(1) if m else f"not a response: {first_line!r}", port, first_line)


@pytest.fixture(scope="module")
def torture_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbxServer]:
    """One server for the whole set (it must survive all 62 messages in a row)."""
    with running_pbx(tmp_path_factory.mktemp("torture")) as server:
        yield server


@pytest.fixture(scope="module")
def torture_outcomes(torture_pbx: PbxServer, pytestconfig: pytest.Config) -> dict[str, Outcome]:
    """Send every manifest message in order; {file: outcome}. Also records the score."""
    sockets = _bind_listeners()
    sender = sockets[0]
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    outcomes: dict[str, Outcome] = {}
    try:
        for entry in MANIFEST:
            data = (TORTURE / (entry.get("wire_file") or entry["file"])).read_bytes()
            stale = _collect(selector, 0.0)
            assert not stale, f"unexpected datagram before {entry['file']}: {stale}"
            sender.sendto(data, torture_pbx.address)
            wait = WAIT_DROP if entry["acceptable_outcomes"][0] == "drop" else WAIT_ANSWER
            outcomes[entry["file"]] = _outcome(_collect(selector, wait))
        late = _collect(selector, WAIT_DROP)
        assert not late, f"late or extra responses after the last message: {late}"
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    preferred = sum(outcomes[e["file"]].status == e["acceptable_outcomes"][0] for e in MANIFEST)
    line = f"torture: {preferred}/{len(MANIFEST)} preferred outcome"
    pytestconfig.stash[TORTURE_SUMMARY] = line
    return outcomes


@pytest.mark.parametrize("entry", MANIFEST, ids=[Path(e["file"]).stem for e in MANIFEST])
def test_torture_message_outcome_is_acceptable(
    entry: dict[str, Any], torture_outcomes: dict[str, Outcome]
) -> None:
    """The status (or drop) is one the manifest accepts for this message."""
    outcome = torture_outcomes[entry["file"]]
    assert outcome.status in entry["acceptable_outcomes"], (
        f"{entry['file']} ({entry['section']} {entry['title']}): got {outcome.status} "
        f"on port {outcome.port} ({outcome.first_line!r}); acceptable "
        f"{entry['acceptable_outcomes']}. Expected: {entry['expected_registrar_behaviour']}"
    )


def test_torture_summary_and_server_survives(
    torture_outcomes: dict[str, Outcome], torture_pbx: PbxServer
) -> None:
    """After all 62 messages the server is running and still answers OPTIONS."""
    assert len(torture_outcomes) == len(MANIFEST) == 62
    preferred = [
        e["file"]
        for e in MANIFEST
        if torture_outcomes[e["file"]].status == e["acceptable_outcomes"][0]
    ]
    print(f"torture: {len(preferred)}/{len(MANIFEST)} preferred outcome")
    not_preferred = {
        e["file"]: (torture_outcomes[e["file"]].status, e["acceptable_outcomes"])
        for e in MANIFEST
        if e["file"] not in preferred
    }
    print("not preferred:", json.dumps(not_preferred, indent=1))
    assert torture_pbx.proc.poll() is None, torture_pbx.log_text()[-4000:]
    assert torture_pbx.answers_options(timeout=2.0)
