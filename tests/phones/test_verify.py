"""verify-database against real SQLite files and a real PostgreSQL, healthy and broken."""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, make_url, text

from pbx.phones.sql import upgrade_to_head
from pbx.phones.verify import verify

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "verify_database.py"


def run(url: str) -> tuple[int, dict[str, str], str]:
    """Exit status, {check name: status}, and the whole report."""
    out = io.StringIO()
    code = verify(url, out)
    report = out.getvalue()
    statuses = {}
    for line in report.splitlines():
        status = line[:5].strip()
        if status in {"OK", "FAIL", "SKIP"}:
            statuses[line[6:30].strip()] = status
    return code, statuses, report


def script_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_database", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthy_database_passes_every_check_and_writes_nothing(db_url: str) -> None:
    code, statuses, report = run(db_url)
    assert code == 0, report
    assert set(statuses.values()) == {"OK"} and len(statuses) == 8, report
    assert report.rstrip().endswith("Result: healthy")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM registered_phones")).scalar_one() == 0
    engine.dispose()


def test_password_is_not_printed(tmp_path: Path) -> None:
    _code, _statuses, report = run(f"postgresql+psycopg://pbx:s3cret@127.0.0.1:{_free_port()}/x")
    assert "s3cret" not in report and "***" in report


def test_missing_sqlite_file_fails_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    code, statuses, report = run(f"sqlite:///{path}")
    assert code == 1
    assert statuses["driver"] == "OK" and statuses["connection"] == "FAIL"
    assert statuses["migrations"] == "SKIP"
    assert "does not exist -> fix: start pbx once" in report
    assert not path.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_postgresql_on_a_wrong_port_fails_the_connection() -> None:
    port = _free_port()  # nothing listens there
    code, statuses, report = run(f"postgresql+psycopg://postgres@127.0.0.1:{port}/pbx_test")
    assert code == 1
    assert (statuses["driver"], statuses["connection"]) == ("OK", "FAIL"), report
    assert f"listening on 127.0.0.1:{port}" in report
    assert statuses["write/read round trip"] == "SKIP"


def test_empty_sqlite_database_fails_migrations_and_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    code, statuses, report = run(f"sqlite:///{path}")
    assert code == 1
    assert statuses["connection"] == "OK"
    assert statuses["migrations"] == statuses["table registered_phones"] == "FAIL", report
    assert statuses["row counts"] == "SKIP"
    assert "table registered_phones is missing" in report


@pytest.mark.postgres
def test_empty_postgresql_database_fails_migrations_and_table(fresh_postgres_db: str) -> None:
    code, statuses, report = run(fresh_postgres_db)
    assert code == 1
    assert statuses["connection"] == "OK", report
    assert statuses["migrations"] == statuses["table registered_phones"] == "FAIL", report


def test_a_dropped_unique_constraint_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pbx.db'}"
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # rebuild the table without UNIQUE(ip, extension)
        conn.execute(text("ALTER TABLE registered_phones RENAME TO old"))
        conn.execute(
            text("""CREATE TABLE registered_phones (
            id INTEGER PRIMARY KEY, mac_address VARCHAR(20),
            extension_number VARCHAR(20) NOT NULL, user_agent VARCHAR(255),
            ip_address VARCHAR(50) NOT NULL, first_registered TIMESTAMP,
            last_registered TIMESTAMP, contact_uri VARCHAR(255),
            UNIQUE(mac_address, extension_number))""")
        )
        conn.execute(text("DROP TABLE old"))
    engine.dispose()
    code, statuses, report = run(url)
    assert code == 1
    assert statuses["unique (mac, extension)"] == "OK"
    assert statuses["unique (ip, extension)"] == "FAIL", report
    assert statuses["write/read round trip"] == "OK"


def test_a_changed_column_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pbx.db'}"
    upgrade_to_head(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE registered_phones DROP COLUMN contact_uri"))
    engine.dispose()
    code, statuses, report = run(url)
    assert code == 1 and statuses["table registered_phones"] == "FAIL"
    assert "contact_uri missing" in report


# -- the script: config file, environment, exit status -------------------------------------


def test_config_sqlite_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "config.yml"
    config.write_text("server: {sip_port: 5060}\ndatabase:\n  type: sqlite\n  path: data/x.db\n")
    url = script_module().database_url(config, environ={})
    assert url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'x.db'}"


def test_config_postgresql_with_password_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("database:\n  type: postgresql\n  host: db.local\n  name: pbx\n")
    env = {"PBX_DATABASE__PASSWORD": "p@ss w/rd", "PBX_DATABASE__PORT": "6543"}
    url = make_url(script_module().database_url(config, environ=env))
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "db.local",
        6543,
        "pbx",
    )
    assert (url.username, url.password) == ("pbx_user", "p@ss w/rd")
    with pytest.raises(ValueError, match="PBX_DATABASE__PASSWORD"):
        script_module().database_url(config, environ={})


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_script_on_a_healthy_sqlite_config_exits_0(tmp_path: Path) -> None:
    upgrade_to_head(f"sqlite:///{tmp_path / 'pbx.db'}")
    config = tmp_path / "config.yml"
    config.write_text("database:\n  type: sqlite\n  path: pbx.db\n")
    proc = _script("--config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Result: healthy" in proc.stdout


@pytest.mark.postgres
def test_script_main_on_postgresql_config_with_env_overrides(
    tmp_path: Path,
    fresh_postgres_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_url(fresh_postgres_db)
    config = tmp_path / "config.yml"
    config.write_text(
        f"database:\n  type: postgresql\n  host: 127.0.0.1\n  port: 1\n"
        f"  name: {server.database}\n  user: postgres\n"
    )
    for name in list(os.environ):
        if name.startswith("PBX_DATABASE__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PBX_DATABASE__PASSWORD", "unused-with-trust-auth")
    main = script_module().main
    assert main(["--config", str(config)]) == 1
    assert "FAIL  connection" in capsys.readouterr().out  # port 1, from the file
    monkeypatch.setenv("PBX_DATABASE__PORT", str(server.port))
    assert main(["--config", str(config)]) == 1
    assert "FAIL  migrations" in capsys.readouterr().out  # reached the server: empty database
    upgrade_to_head(fresh_postgres_db)
    assert main(["--config", str(config)]) == 0
    assert "Result: healthy" in capsys.readouterr().out
