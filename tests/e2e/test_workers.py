"""``server.workers: 2``: two SIP worker processes share the port (SO_REUSEPORT), the
main process commits their rows and serves the API.

What must hold as with one process: a 200 OK means the row is committed (read here
straight from the SQLite file, from another process), the API sees every phone and its
live binding whichever worker served it, an unregister shows at once, SIGTERM exits 0
with the workers gone, and a worker that dies takes the service down with an error
instead of leaving half a registrar.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pbx.cluster.worker import HEARTBEAT
from tests.e2e.conftest import free_port, running_pbx, write_config
from tests.e2e.sipclient import SipClient
from tests.e2e.test_inventory import get_json, wait_api

pytestmark = pytest.mark.e2e

#: Phones, each from its own UDP port: the kernel picks a worker per source address,
#: so with 32 sources both workers serve some (all on one: probability 2**-31).
PHONES = 32


def _rows(folder: Path, extension: str) -> list[tuple[str, str]]:
    with sqlite3.connect(folder / "pbx.db") as db:
        return db.execute(
            "SELECT extension_number, contact_uri FROM registered_phones "
            "WHERE extension_number = ?",
            (extension,),
        ).fetchall()


def _health_when(api_port: int, condition: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """``/api/health`` once ``condition`` holds (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        health = get_json(api_port, "/api/health")
        if condition(health):
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_two_workers_serve_commit_and_report_every_phone(tmp_path: Path) -> None:
    api_port = free_port()
    folder = tmp_path / "pbx"
    with running_pbx(folder, api_port=api_port, workers=2) as server:
        wait_api(api_port)
        clients = [SipClient(server.address) for _ in range(PHONES)]
        try:
            for n, client in enumerate(clients):
                extension = str(1000 + n)
                _, final = client.register(extension, f"secret{extension}")
                assert final.status == 200, final.reason
                # Committed before the answer, by another process: the file has it now.
                assert _rows(folder, extension), f"no row for {extension} at its 200 OK"
            # Binding counts come with each worker's heartbeat, once a second.
            health = _health_when(api_port, lambda h: h["sip"]["bindings"] == PHONES)
            assert health["status"] == "ok"
            workers = health["sip"]["workers"]
            assert [w["index"] for w in workers] == [0, 1] and all(w["up"] for w in workers)
            assert all(w["bindings"] > 0 for w in workers), workers
            pids = [w["pid"] for w in workers]
            assert all(_alive(pid) for pid in pids)
            live = get_json(api_port, "/api/registered-phones?stale=false")
            assert sorted(p["extension_number"] for p in live) == sorted(
                str(1000 + n) for n in range(PHONES)
            )
            assert all(p["registered"] and p["expires_at"] for p in live)

            # TCP: the kernel hands each connection to one worker, which answers on it.
            for _ in range(4):
                with SipClient(server.address, "tcp") as tcp:
                    _, final = tcp.register("1099", "secret1099")
                    assert final.status == 200, final.reason
            (row,) = get_json(api_port, "/api/registered-phones/extension/1099")
            assert row["contact_uri"].endswith(";transport=tcp>") and row["registered"]

            # An unregister is visible at its 200 OK, whichever worker had the binding.
            _, final = clients[5].register("1005", "secret1005", contact="*", expires=0)
            assert final.status == 200
            phones = get_json(api_port, "/api/registered-phones/extension/1005")
            assert [(p["registered"], p["expires_at"]) for p in phones] == [(False, None)]
            _health_when(api_port, lambda h: h["sip"]["bindings"] == PHONES - 1 + 4)
        finally:
            for client in clients:
                client.close()
    # running_pbx asserted exit 0 on SIGTERM; the workers went with it.
    assert not [pid for pid in pids if _alive(pid)], "a SIP worker outlived the service"


def _passed_on(health: Any) -> int:
    return sum(w["passed_on"] for w in health["sip"]["workers"])


def _passed_on_and_taken_over(health: Any) -> bool:
    passed = _passed_on(health)
    return passed > 0 and passed == sum(w["taken_over"] for w in health["sip"]["workers"])


@pytest.mark.parametrize("kernel_steering", [False, True], ids=["workers-pass", "kernel-steers"])
def test_an_extension_is_one_registrar_whichever_worker_the_kernel_picks(
    tmp_path: Path, kernel_steering: bool
) -> None:
    """Phones of one extension from many source ports: the worker owning the extension
    answers them all, so max_contacts, a fetch and Contact: * see every binding, as
    with one process. Without the kernel's steering they reach both workers and one
    passes them to the other; with it, the kernel hands every UDP one to the owner."""
    api_port = free_port()
    with running_pbx(
        tmp_path / "pbx", api_port=api_port, workers=2, kernel_steering=kernel_steering
    ) as server:
        wait_api(api_port)
        clients = [SipClient(server.address) for _ in range(12)]
        try:
            for client in clients[:10]:
                _, final = client.register("1042", "secret1042")
                assert final.status == 200, final.reason
            _, over = clients[10].register("1042", "secret1042")
            assert over.status == 403, "max_contacts must count the bindings of both workers"
            _, fetch = clients[11].register("1042", "secret1042", contact=None)
            assert fetch.status == 200
            assert len(fetch.values("contact")) == 10
            _, cleared = clients[11].register("1042", "secret1042", contact="*", expires=0)
            assert cleared.status == 200
            _, fetch = clients[0].register("1042", "secret1042", contact=None)
            assert fetch.values("contact") == []
            if kernel_steering:
                # Every UDP REGISTER reached the owner: none passed on (the other
                # variant shows these sources do cross). The counts come with the
                # workers' heartbeats: wait for one after the last REGISTER.
                time.sleep(HEARTBEAT + 0.5)
                assert _passed_on(get_json(api_port, "/api/health")) == 0
            else:
                # Some went through the other worker (12 sources: all on one, 2**-11).
                _health_when(api_port, _passed_on_and_taken_over)

            # TCP: each connection stays where the kernel put it; its REGISTERs are
            # answered by the owner all the same, on the same connection.
            connections = [SipClient(server.address, "tcp") for _ in range(8)]
            try:
                for connection in connections:
                    _, final = connection.register("1043", "secret1043")
                    assert final.status == 200, final.reason
                _, fetch = clients[0].register("1043", "secret1043", contact=None)
                assert len(fetch.values("contact")) == 8
                _, cleared = connections[3].register("1043", "secret1043", contact="*", expires=0)
                assert cleared.status == 200
                assert (
                    not clients[0].register("1043", "secret1043", contact=None)[1].values("contact")
                )
            finally:
                for connection in connections:
                    connection.close()
        finally:
            for client in clients:
                client.close()


def test_registrations_go_on_while_the_database_is_away_and_are_written_back(
    tmp_path: Path,
) -> None:
    """The main process's memory fallback serves the workers too: 200 OKs while the
    database cannot be opened, the API shows the phones and says degraded, and the rows
    reach the database once it can be."""
    api_port = free_port()
    folder = tmp_path / "pbx"
    folder.mkdir()
    config = write_config(folder, free_port(), api_port=api_port, workers=2)
    database = tmp_path / "not-yet" / "pbx.db"  # its folder does not exist yet
    settings = json.loads(config.read_text())
    settings["database"] = {"type": "sqlite", "path": str(database)}
    config.write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PBX_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbx", "serve", "--config", str(config)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    clients = [SipClient(("127.0.0.1", settings["server"]["sip_port"])) for _ in range(6)]
    try:
        wait_api(api_port)
        for n, client in enumerate(clients):
            _, final = client.register(str(1060 + n), f"secret{1060 + n}")
            assert final.status == 200, final.reason
        health = get_json(api_port, "/api/health")
        assert health["status"] == "degraded"
        assert health["database"]["status"] == "fallback"
        assert health["database"]["pending"] == 6
        shown = get_json(api_port, "/api/registered-phones")
        assert sorted(p["extension_number"] for p in shown) == [str(1060 + n) for n in range(6)]

        database.parent.mkdir()
        # The tracker retries with backoff up to 30 s between attempts.
        _health_when(api_port, lambda h: h["database"]["status"] == "connected", timeout=45)
        with sqlite3.connect(database) as db:
            rows = db.execute("SELECT extension_number FROM registered_phones").fetchall()
        assert sorted(r[0] for r in rows) == [str(1060 + n) for n in range(6)]
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0


@contextlib.contextmanager
def _serve_two_workers(folder: Path, port: int, api_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``pbx serve`` with 2 workers, output piped (running_pbx insists on exit 0);
    killed on the way out if the test left it running."""
    folder.mkdir()
    config = write_config(folder, port, api_port=api_port, workers=2)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PBX_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbx", "serve", "--config", str(config)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_that_dies_stops_the_service_with_an_error(tmp_path: Path) -> None:
    api_port = free_port()
    with _serve_two_workers(tmp_path / "pbx", free_port(), api_port) as proc:
        wait_api(api_port)
        victim = get_json(api_port, "/api/health")["sip"]["workers"][1]["pid"]
        os.kill(victim, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    text = out.decode(errors="replace")
    assert proc.returncode == 1, text[-3000:]
    assert "SIP worker 1 exited unexpectedly" in text
    assert "pbx: stopped: a SIP worker exited unexpectedly" in text


def test_a_paused_main_process_is_named_in_the_log(tmp_path: Path) -> None:
    """The main process has no expiry timer; its own watch reports a loop that woke
    late. Here the whole process is paused (SIGSTOP) for 1.5 s, as a stalled host or
    a debugger would."""
    api_port = free_port()
    with _serve_two_workers(tmp_path / "pbx", free_port(), api_port) as proc:
        wait_api(api_port)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGCONT)
        wait_api(api_port)
        time.sleep(1.2)  # its next wake-up, at most a second on
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "the event loop of the main process woke" in text, text[-3000:]


def test_workers_do_not_outlive_a_killed_main_process(tmp_path: Path) -> None:
    """SIGKILL leaves no time to stop the workers; they notice the main process is gone
    and exit, so they cannot keep the SIP port from the next start."""
    api_port = free_port()
    folder = tmp_path / "pbx"
    port = free_port()
    with _serve_two_workers(folder, port, api_port) as proc:
        wait_api(api_port)
        pids = [w["pid"] for w in get_json(api_port, "/api/health")["sip"]["workers"]]
        proc.kill()
        proc.communicate(timeout=20)  # the pipe closes when the workers are gone too
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "SIP workers outlived their main process"
            time.sleep(0.1)
    with running_pbx(folder, port) as server:  # the port is free again
        assert server.answers_options()


def test_port_in_use_is_a_clear_start_failure(tmp_path: Path) -> None:
    folder = tmp_path / "pbx"
    folder.mkdir()
    port = free_port()
    config = write_config(folder, port, workers=2)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PBX_")}
    with _bound_udp(port):
        proc = subprocess.run(
            [sys.executable, "-m", "pbx", "serve", "--config", str(config)],
            cwd=folder,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "pbx: cannot start:" in proc.stderr


class _bound_udp:
    """A plain UDP socket (no SO_REUSEPORT) holding ``port``, as another program would."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
