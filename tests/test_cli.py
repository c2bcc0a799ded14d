"""The ``pbx`` command as an operator meets it: exit codes, messages, a real serve."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PBX = [sys.executable, "-m", "pbx"]
REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PBX, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=_env()
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("PBX_")}


def test_check_config_accepts_the_repository_config() -> None:
    result = run("check-config", "--config", str(REPO / "config.yml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {sip_port: seventy}\n", "server.sip_port"),
        ("registrar: {min_expires: -5}\n", "registrar.min_expires"),
        ("database: {type: oracle}\n", "database"),
        ("extensions: [{number: '1001'}]\n", "extensions[0]"),
        ("server: [unclosed\n", "YAML"),
    ],
)
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_bad_config_is_one_clear_message_and_exit_2(
    tmp_path: Path, text: str, expected: str, command: str
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(text)
    result = run(command, "--config", str(config))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = run("check-config", "--config", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert "nope.yml" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    """A port free for UDP and TCP on every address ``serve`` may bind (0.0.0.0 and,
    where there is IPv6, ::). Free for UDP on 127.0.0.1 alone was not enough: the
    kernel may have the same number in use as the local port of a TCP connection,
    and ``serve`` then (rightly) refused to start."""
    families = [(socket.AF_INET, "0.0.0.0")]
    if _has_ipv6_loopback():
        families.append((socket.AF_INET6, "::"))
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            for family, host in families:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(family, kind) as s:
                        if family == socket.AF_INET6:
                            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                        s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for UDP and TCP on every address")


def _options(family: int, host: str, port: int, transport: str) -> bytes:
    sock = socket.socket(family, socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        if transport == "TCP":
            sock.connect((host, port))
            local = sock.getsockname()[1]
        else:
            sock.bind((host, 0))
            local = sock.getsockname()[1]
        ref = f"[{host}]" if ":" in host else host
        msg = (
            f"OPTIONS sip:{ref}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {ref}:{local};branch=z9hG4bK-cli-{local};rport\r\n"
            f"From: <sip:probe@{ref}>;tag=1\r\nTo: <sip:probe@{ref}>\r\n"
            f"Call-ID: cli-{local}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        if transport == "TCP":
            sock.sendall(msg)
            return sock.recv(4096)
        sock.sendto(msg, (host, port))
        return sock.recvfrom(4096)[0]
    finally:
        sock.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_serve_answers_on_ipv4_and_ipv6_and_stops_gracefully(tmp_path: Path) -> None:
    """``0.0.0.0`` serves IPv4 and IPv6, UDP and TCP; SIGTERM ends it with exit 0."""
    port = _free_port()
    config = tmp_path / "config.yml"
    config.write_text(
        f"server: {{sip_host: 0.0.0.0, sip_port: {port}}}\n"
        "api: {enabled: false}\n"
        "database: {type: sqlite, path: pbx.db}\n"
        "extensions: [{number: '1001', password: secret1001}]\n"
    )
    proc = subprocess.Popen(
        [*PBX, "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = _options(socket.AF_INET, "127.0.0.1", port, "UDP")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"pbx exited with {proc.returncode}: {proc.communicate()[0]}")
                if time.monotonic() > deadline:
                    raise
        assert reply.startswith(b"SIP/2.0 200 OK")
        assert _options(socket.AF_INET, "127.0.0.1", port, "TCP").startswith(b"SIP/2.0 200 OK")
        if _has_ipv6_loopback():
            assert _options(socket.AF_INET6, "::1", port, "UDP").startswith(b"SIP/2.0 200")
            assert _options(socket.AF_INET6, "::1", port, "TCP").startswith(b"SIP/2.0 200")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, output
        assert "stopped" in output
        assert (tmp_path / "pbx.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_verify_database_healthy_and_missing(tmp_path: Path) -> None:
    """``pbx verify-database`` reports on the configured SQLite file: healthy -> 0,
    missing -> 1 with the fix to try; it never creates the file itself."""
    from pbx.phones.sql import upgrade_to_head

    config = tmp_path / "config.yml"
    config.write_text("database: {type: sqlite, path: inventory.db}\n")
    missing = run("verify-database", "--config", str(config))
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "FAIL" in missing.stdout
    assert not (tmp_path / "inventory.db").exists()

    upgrade_to_head(f"sqlite:///{tmp_path / 'inventory.db'}")
    healthy = run("verify-database", "--config", str(config))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "registered_phones" in healthy.stdout
    assert "FAIL" not in healthy.stdout


@pytest.mark.parametrize("taken", ["sip", "api"])
def test_a_port_in_use_is_a_clear_message_and_exit_1(tmp_path: Path, taken: str) -> None:
    """Another program on the SIP or API port: one line saying so, exit 1, and the
    process does not hang with half of its services running."""
    sip_port, api_port = _free_port(), _free_port()
    blocker = socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM if taken == "sip" else socket.SOCK_STREAM
    )
    blocker.bind(("127.0.0.1", sip_port if taken == "sip" else api_port))
    if taken == "api":
        blocker.listen()
    config = tmp_path / "config.yml"
    config.write_text(
        f"server: {{sip_host: 127.0.0.1, sip_port: {sip_port}, transports: [udp]}}\n"
        f"api: {{host: 127.0.0.1, port: {api_port}}}\n"
        "database: {type: sqlite, path: pbx.db}\n"
    )
    try:
        result = run("serve", "--config", str(config))
    finally:
        blocker.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot start" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
