"""End-to-end fixtures: a real ``pbx serve`` subprocess on a private port.

Why a subprocess: these tests check what an operator runs (the CLI, the config file,
the JSON event log on stderr, graceful shutdown on SIGTERM), not the library in-process.
Every server gets its own free port, never one of the fixed ports the torture test
listens on, so e2e tests can run side by side in one pytest run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.sipclient import SipClient

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

#: Ports the torture test binds itself (the Via sent-by ports of RFC 4475/5118).
RESERVED_PORTS = frozenset({5060, 5050, 5070, 6050, 19823})
#: Extensions every test server knows: 1000..1099 and 1500, password ``secret<N>``.
EXTENSIONS = (*range(1000, 1100), 1500)
#: How long a server may take to start answering OPTIONS, or to stop after SIGTERM.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1, never handed out twice per run."""
    with _port_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.bind(("127.0.0.1", 0))
                port = int(tcp.getsockname()[1])
                if port in RESERVED_PORTS or port in _handed_out:
                    continue
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    try:
                        udp.bind(("127.0.0.1", port))
                    except OSError:
                        continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def require_tool(name: str, package: str) -> str:
    """Path of a real SIP tool; in CI a missing tool FAILS the test, it never skips."""
    path = shutil.which(name)
    if path:
        return path
    message = (
        f"`{name}` is not installed: run `make test-deps` "
        f"(scripts/install-test-deps.sh, i.e. `apt-get install -y {package}`)"
    )
    if os.environ.get("PBX_ALLOW_SKIP_E2E") == "1" and not os.environ.get("CI"):
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def write_config(
    folder: Path,
    port: int,
    extensions: tuple[int, ...] = EXTENSIONS,
    api_port: int | None = None,
    workers: int = 1,
    kernel_steering: bool | None = None,
) -> Path:
    """A complete config.yml for a loopback server (JSON is valid YAML); ``None``
    leaves a setting at its default."""
    api: dict[str, object] = {"enabled": False}
    if api_port is not None:
        api = {"enabled": True, "host": "127.0.0.1", "port": api_port}
    config = {
        "server": {
            "sip_host": "127.0.0.1",
            "sip_port": port,
            "transports": ["udp", "tcp"],
            "workers": workers,
            **({} if kernel_steering is None else {"kernel_steering": kernel_steering}),
        },
        "api": api,
        "database": {"type": "sqlite", "path": str(folder / "pbx.db")},
        "logging": {"level": "INFO"},
        "extensions": [{"number": str(n), "password": f"secret{n}"} for n in extensions],
    }
    path = folder / "config.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class PbxServer:
    """A running ``pbx serve``: where it listens and what it logged."""

    host: str
    port: int
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for sockets."""
        return (self.host, self.port)

    def log_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, object]]:
        """The JSON lines of logger ``pbx.events``, in order."""
        found: list[dict[str, object]] = []
        for line in self.log_text().splitlines():
            _, marker, payload = line.partition("pbx.events: ")
            if marker and payload.startswith("{"):
                found.append(json.loads(payload))
        return found

    def events_of(self, kind: str, extension: str | None = None) -> list[dict[str, object]]:
        """Events named ``kind`` (for ``extension`` when given)."""
        return [
            e
            for e in self.events()
            if e.get("event") == kind and (extension is None or e.get("extension") == extension)
        ]

    def wait_for(
        self,
        condition: Callable[[list[dict[str, object]]], bool],
        what: str,
        timeout: float = 10.0,
    ) -> list[dict[str, object]]:
        """Poll the event log until ``condition(events)`` holds; fail (bounded) otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if condition(events):
                return events
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(
                    f"event log never showed {what}; server log:\n{self.log_text()[-4000:]}",
                    pytrace=False,
                )
            time.sleep(0.05)

    def answers_options(self, timeout: float = 1.0) -> bool:
        """True when an OPTIONS over UDP gets a 200."""
        try:
            with SipClient(self.address) as client:
                client.send(_options(client))
                return client.receive(timeout).status == 200
        except (TimeoutError, ConnectionError, ValueError):
            return False

    def stop(self) -> int:
        """SIGTERM, and the exit code (None becomes -1 after a kill: not graceful)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -1
        return int(self.proc.returncode)


def _options(client: SipClient) -> bytes:
    from tests.e2e.sipclient import build_request

    return build_request(
        "OPTIONS", "probe", server=client.server, local=client.local,
        call_id=client.call_id, cseq=1,
    )  # fmt: skip


@contextlib.contextmanager
def running_pbx(
    folder: Path,
    port: int | None = None,
    *,
    extensions: tuple[int, ...] = EXTENSIONS,
    api_port: int | None = None,
    workers: int = 1,
    kernel_steering: bool | None = None,
) -> Iterator[PbxServer]:
    """Start ``python -m pbx serve``, wait until it answers OPTIONS, stop it gracefully.

    The same ``folder`` (and so the same SQLite file) can be started again, as a restart.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = write_config(folder, port, extensions, api_port, workers, kernel_steering)
    log_path = folder / "pbx.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.upper().startswith("PBX_")}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pbx", "serve", "--config", str(config)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = PbxServer("127.0.0.1", port, config, log_path, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.answers_options(timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"pbx serve did not come up on UDP {port} (exit {proc.poll()}):\n"
                    f"{server.log_text()[-4000:]}",
                    pytrace=False,
                )
            time.sleep(0.05)  # let it import and bind rather than compete for the CPU
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"pbx did not exit 0 on SIGTERM (got {code}):\n{server.log_text()[-4000:]}"


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxServer]:
    """A fresh server per test: its event log holds only that test's traffic."""
    with running_pbx(tmp_path / "pbx") as server:
        yield server


TORTURE_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Show the torture score even without ``-s``."""
    line = config.stash.get(TORTURE_SUMMARY, None)
    if line:
        terminalreporter.write_line(line)
