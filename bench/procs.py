"""Processes the harness starts, and what /proc says about them.

Why /proc and not psutil: the figures we need are two counters (CPU ticks and resident
memory) of a process tree, and the harness must not add a dependency to measure them.
Every process is started in a session of its own, so that stopping it (SIGTERM, then
SIGKILL to that one process group) reaches its children and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(path: str) -> tuple[str, list[str]] | None:
    """The command name in a /proc stat file, and the fields after it (the name may
    hold spaces and brackets, hence the search from the right)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name."""
    stat = _stat(f"/proc/{pid}/stat")
    return None if stat is None else stat[1]


def thread_times(pid: int) -> dict[tuple[int, str], tuple[float, float]]:
    """(thread id, thread name) -> (user, system) CPU seconds of each live thread of
    ``pid`` (``bench.threads``)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    out = {}
    for tid in tids:
        stat = _stat(f"/proc/{pid}/task/{tid}/stat")
        if stat is not None:
            name, fields = stat
            # after the name: state(0) ... utime(11) stime(12)
            out[(int(tid), name)] = (int(fields[11]) / TICKS, int(fields[12]) / TICKS)
    return out


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (Kamailio's workers, for instance)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """utime+stime of ``root`` and its live descendants (threads are included by /proc),
    plus cutime+cstime of children already reaped."""
    total = 0
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            total += sum(int(x) for x in fields[11:15])
    return total / TICKS


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/PID/status (``VmRSS``, ``VmHWM``); 0 when gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def udp_receive_drops() -> int:
    """Datagrams the kernel has dropped because a socket's receive buffer was full
    (``RcvbufErrors`` in /proc/net/snmp, machine-wide). Why: a dropped request looks
    to sipp like a slow answer, and its retransmission fails a rung; this tells a
    buffer too small from a server too slow."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    names, values = [fields for fields in lines if fields[0] == "Udp:"][:2]
    return int(values[names.index("RcvbufErrors")])


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free port on {host}")


def start(command: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, stdout and stderr to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group we started, SIGKILL it after ``grace`` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (workers)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)


@contextlib.contextmanager
def running(
    command: Sequence[str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A started process that is stopped however the block ends."""
    proc = start(command, log, cwd)
    try:
        yield proc
    finally:
        stop(proc)


def options_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when an OPTIONS sent over UDP gets any SIP response: the server is up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        message = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-bench{time.monotonic_ns()}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:bench@127.0.0.1>;tag=ping\r\nTo: <sip:{host}:{port}>\r\n"
            f"Call-ID: ping-{time.monotonic_ns()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        sock.settimeout(timeout)
        try:
            sock.sendto(message, (host, port))
            data = sock.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 ")


#: OPTIONS probes from distinct source ports that must all be answered promptly.
#: The kernel spreads sources over a server's SO_REUSEPORT sockets (pbx's SIP
#: workers), so 16 answered probes mean every worker serves (each misses all 16 with
#: probability 2**-16 for two): a rung must not start while one is still starting.
READY_PROBES = 16


def wait_sip_ready(proc: subprocess.Popen[bytes], host: str, port: int, log: Path) -> None:
    """Wait (at most 60 s) until the server answers OPTIONS from ``READY_PROBES``
    fresh source ports in a row; raise with its log if not."""
    deadline = time.monotonic() + 60
    answered = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if options_ping(host, port, timeout=0.2):
            answered += 1
            if answered >= READY_PROBES:
                return
            continue
        answered = 0
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"server on {host}:{port} did not come up; log tail:\n{tail}")
