"""Tests for pbx.config: the repository's config.yml, every error message, env overrides.

Each table row is a real file written to disk and loaded through ``load_settings``; error
rows compare the whole message, so a changed wording or a second, unexpected line fails.
"""

from __future__ import annotations

import hashlib
import os
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from pbx.config import (
    MAX_FILE_BYTES,
    ConfigError,
    PostgresqlSettings,
    Settings,
    SqliteSettings,
    load_settings,
    render_error,
)

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.yml"
SECRET = "hunter2-Secret"
HA1 = hashlib.md5(b"1001:pbx:secret").hexdigest()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={} if environ is None else environ)
    return caught.value.message


# --- the repository's own file ---------------------------------------------------------


def test_repository_config_loads() -> None:
    loaded = load_settings(REPO_CONFIG, environ={})

    assert loaded.server.sip_port == 5060
    assert (loaded.api.host, loaded.api.port, loaded.api.enabled) == ("127.0.0.1", 8080, True)
    assert loaded.database == SqliteSettings(type="sqlite", path="pbx.db")
    assert loaded.database.url(REPO_CONFIG.parent) == f"sqlite:///{REPO_CONFIG.parent}/pbx.db"
    assert loaded.registrar.realm == "pbx"
    assert loaded.tracking.clear_on_boot is True
    assert [e.number for e in loaded.extensions] == ["1001", "1002", "1003", "1004", "1005"]
    assert all(e.password is not None and e.ha1 is None for e in loaded.extensions)


def test_repository_config_keeps_a_postgresql_example() -> None:
    text = REPO_CONFIG.read_text(encoding="utf-8")
    assert "#   type: postgresql" in text


def test_defaults_match_the_documented_values(tmp_path: Path) -> None:
    loaded = load_settings(write(tmp_path, "logging: {level: INFO}\n"), environ={})

    assert loaded == Settings()
    assert loaded.server.model_dump() == {
        "sip_host": "0.0.0.0",
        "sip_port": 5060,
        "transports": ("udp", "tcp"),
        "workers": 1,
        "kernel_steering": True,
    }
    assert loaded.registrar.model_dump() == {
        "realm": "pbx",
        "domains": (),
        "min_expires": 60,
        "max_expires": 7200,
        "default_expires": 3600,
        "max_contacts": 10,
        "auth_algorithms": ("MD5",),
        "nonce_ttl": 300,
    }
    assert loaded.extensions == ()
    assert loaded.logging.level == "INFO"


# --- accepted spellings ----------------------------------------------------------------

ACCEPTED: list[tuple[str, str, Any]] = [
    # (file, expression over the loaded settings `s`, expected value)
    ("extensions: [{number: 1001, password: x}]", "s.extensions[0].number", "1001"),
    ("extensions: [{number: 0012, password: x}]", "s.extensions[0].number", "0012"),
    ("extensions: [{number: 1_001, password: x}]", "s.extensions[0].number", "1_001"),
    ("extensions: [{number: a.b-c_9, password: x}]", "s.extensions[0].number", "a.b-c_9"),
    ("extensions: [{number: '1', name: No, password: x}]", "s.extensions[0].name", "No"),
    ("extensions: [{number: '1', password: 1234}]", "s.extensions[0].password", "1234"),
    ("extensions: [{number: '1', ha1: " + HA1.upper() + "}]", "s.extensions[0].ha1", HA1),
    ("server: {transports: [TCP]}", "s.server.transports", ("tcp",)),
    ("server: {sip_port: '5070'}", "s.server.sip_port", 5070),
    ("server: {sip_port: 0}", "s.server.sip_port", 0),
    ("server: {workers: 4}", "s.server.workers", 4),
    ("api: {enabled: false}", "s.api.enabled", False),
    ("api: {enabled: yes}", "s.api.enabled", True),
    ("registrar: {auth_algorithms: [sha-256, md5]}", "s.registrar.auth_algorithms",
     ("SHA-256", "MD5")),
    ("registrar: {domains: [PBX.Example.org]}", "s.registrar.domains", ("pbx.example.org",)),
    ("registrar: {min_expires: 5, default_expires: 5, max_expires: 5}",
     "s.registrar.default_expires", 5),
    ("logging: {level: debug}", "s.logging.level", "DEBUG"),
    ("database: {type: postgresql, password: pw}", "s.database.name", "pbx_system"),
    ("tracking: {clear_on_boot: false}", "s.tracking.clear_on_boot", False),
    ("tracking: {commit_delay_ms: 0}", "s.tracking.commit_delay_ms", 0),
    ("\ufeffapi: {port: 9000}", "s.api.port", 9000),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expression", "expected"), ACCEPTED)
def test_accepted_values(tmp_path: Path, text: str, expression: str, expected: Any) -> None:
    loaded = load_settings(write(tmp_path, text + "\n"), environ={})
    value = eval(expression, {"s": loaded})
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected


# --- one line per problem --------------------------------------------------------------

ERRORS: list[tuple[str, str, list[str]]] = [
    # (id, file, expected lines with "F" standing for the file's path)
    ("below minimum", "registrar:\n  min_expires: -5\n",
     ["F: registrar.min_expires: must be >= 1 (got -5)"]),
    ("unknown key", "server:\n  sip_prot: 5060\n",
     ["F: server.sip_prot: unknown key (did you mean 'sip_port'?)"]),
    ("unknown section", "serverr: {}\n",
     ["F: serverr: unknown key (did you mean 'server'?)"]),
    ("unknown odd key", "api: {'my key': 1}\n", ["F: api['my key']: unknown key"]),
    ("non-text key", "server: {5060: x}\n", ["F: server: unknown key 5060 (keys must be text)"]),
    ("section not a mapping", "server: [udp]\n", ["F: server: must be a mapping"]),
    ("not an integer", "server: {sip_port: five}\n",
     ["F: server.sip_port: must be an integer (got 'five')"]),
    ("bool is not a port", "server: {sip_port: true}\n",
     ["F: server.sip_port: must be an integer (got true)"]),
    ("fraction", "api: {port: 80.5}\n", ["F: api.port: must be a whole number (got 80.5)"]),
    ("port too big", "api: {port: 65536}\n", ["F: api.port: must be <= 65535 (got 65536)"]),
    ("empty host", "server: {sip_host: ''}\n", ["F: server.sip_host: must not be empty (got '')"]),
    ("bad transport", "server: {transports: [udp, sctp]}\n",
     ["F: server.transports[1]: must be 'udp' or 'tcp' (got 'sctp')"]),
    ("transports not a list", "server: {transports: udp}\n",
     ["F: server.transports: must be a list (got 'udp')"]),
    ("no transports", "server: {transports: []}\n", ["F: server.transports: must not be empty"]),
    ("duplicate transport", "server: {transports: [udp, UDP]}\n",
     ["F: server.transports: lists 'udp' twice"]),
    ("no workers", "server: {workers: 0}\n", ["F: server.workers: must be >= 1 (got 0)"]),
    ("too many workers", "server: {workers: 65}\n", ["F: server.workers: must be <= 64 (got 65)"]),
    ("bad bool", "tracking: {clear_on_boot: maybe}\n",
     ["F: tracking.clear_on_boot: must be true or false (got 'maybe')"]),
    ("negative commit delay", "tracking: {commit_delay_ms: -1}\n",
     ["F: tracking.commit_delay_ms: must be >= 0.0 (got -1)"]),
    ("bad level", "logging: {level: loud}\n",
     ["F: logging.level: must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (got 'LOUD')"]),
    ("database type unknown", "database: {type: mysql}\n",
     ["F: database.type: must be one of 'sqlite', 'postgresql' (got 'mysql')"]),
    ("database type missing", "database: {path: x.db}\n",
     ["F: database.type: required key is missing (one of 'sqlite', 'postgresql')"]),
    ("key of the other database kind", "database: {type: sqlite, host: db}\n",
     ["F: database.host: unknown key for type 'sqlite' (it belongs to type 'postgresql')"]),
    ("postgresql without password", "database: {type: postgresql}\n",
     ["F: database.password: required key is missing"]),
    ("postgresql bad port", f"database: {{type: postgresql, port: 0, password: {SECRET}}}\n",
     ["F: database.port: must be >= 1 (got 0)"]),
    ("extensions not a list", "extensions: {number: 1001}\n", ["F: extensions: must be a list"]),
    ("extension not a mapping", "extensions: [1001]\n",
     ["F: extensions[0]: must be a mapping (got 1001)"]),
    ("extension without number", "extensions: [{password: x}]\n",
     ["F: extensions[0].number: required key is missing"]),
    ("bad number", "extensions: [{number: 'a b', password: x}]\n",
     ["F: extensions[0].number: must be 1 to 20 characters of 0-9, A-Z, a-z, '.', '_' or '-'"
      " (got 'a b')"]),
    ("long number", "extensions: [{number: 123456789012345678901, password: x}]\n",
     ["F: extensions[0].number: must be 1 to 20 characters of 0-9, A-Z, a-z, '.', '_' or '-'"
      " (got 123456789012345678901)"]),
    ("float number", "extensions: [{number: 10.5, password: x}]\n",
     ["F: extensions[0].number: must be text; put the value in quotes (got 10.5)"]),
    ("bool number", "extensions: [{number: true, password: x}]\n",
     ["F: extensions[0].number: must be text (got true)"]),
    ("no credential", "extensions: [{number: 1001}]\n",
     ["F: extensions[0]: needs a password or an ha1"]),
    ("both credentials", f"extensions: [{{number: 1001, password: x, ha1: {HA1}}}]\n",
     ["F: extensions[0].ha1: give either password or ha1, not both"]),
    ("empty password", "extensions: [{number: 1001, password: ''}]\n",
     ["F: extensions[0].password: must not be empty"]),
    ("ha1 not md5 hex", f"extensions: [{{number: 1001, ha1: {SECRET}}}]\n",
     ["F: extensions[0].ha1: must be 32 hex digits: the MD5 of number:realm:password"]),
    ("duplicate numbers",
     "extensions:\n - {number: 1001, password: a}\n - {number: 1002, password: b}\n"
     " - {number: '1001', password: c}\n - {number: 1002, password: d}\n",
     ["F: extensions[2].number: duplicate extension '1001' (already extensions[0])",
      "F: extensions[3].number: duplicate extension '1002' (already extensions[1])"]),
    ("sha-256 with ha1 only",
     f"registrar: {{auth_algorithms: [SHA-256]}}\nextensions:\n - {{number: 1001, ha1: {HA1}}}\n"
     " - {number: 1002, password: x}\n",
     ["F: extensions[0].ha1: extension '1001' has only an MD5 ha1, which cannot answer the"
      " SHA-256 challenge in registrar.auth_algorithms; give its password instead"]),
    ("unknown algorithm", "registrar: {auth_algorithms: [SHA1]}\n",
     ["F: registrar.auth_algorithms[0]: must be 'MD5' or 'SHA-256' (got 'SHA1')"]),
    ("no algorithms", "registrar: {auth_algorithms: []}\n",
     ["F: registrar.auth_algorithms: must not be empty"]),
    ("duplicate algorithm", "registrar: {auth_algorithms: [MD5, md5]}\n",
     ["F: registrar.auth_algorithms: lists 'MD5' twice"]),
    ("default below min", "registrar: {default_expires: 30}\n",
     ["F: registrar.default_expires: must be between min_expires (60) and max_expires (7200)"
      " (got 30)"]),
    ("default above max", "registrar: {default_expires: 9000}\n",
     ["F: registrar.default_expires: must be between min_expires (60) and max_expires (7200)"
      " (got 9000)"]),
    ("min above max", "registrar: {min_expires: 100, max_expires: 50, default_expires: 70}\n",
     ["F: registrar.min_expires: must be <= max_expires (50) (got 100)"]),
    ("zero nonce ttl", "registrar: {nonce_ttl: 0}\n",
     ["F: registrar.nonce_ttl: must be >= 1 (got 0)"]),
    ("quote in realm", "registrar: {realm: 'a\"b'}\n",
     ["F: registrar.realm: must not contain quotes, backslashes or control characters"
      " (got 'a\"b')"]),
    ("empty domain", "registrar: {domains: ['']}\n",
     ["F: registrar.domains[0]: must not be empty (got '')"]),
    ("several problems", "server: {sip_port: -1}\napi: {port: x}\n",
     ["F: server.sip_port: must be >= 0 (got -1)", "F: api.port: must be an integer (got 'x')"]),
    # the file as a whole
    ("empty file", "# only a comment\n",
     ["F: the file is empty; expected sections such as server:"]),
    ("top level list", "- server\n",
     ["F: the top level must be a mapping of sections (got a list)"]),
    ("top level text", "server\n",
     ["F: the top level must be a mapping of sections (got 'server')"]),
    ("bad indentation", "server:\n  sip_port: 5060\n   sip_host: x\n",
     ["F: line 3, column 12: YAML syntax error: mapping values are not allowed here"]),
    ("unclosed flow", "server: {sip_port: 5060\n",
     ["F: line 2, column 1: YAML syntax error: expected ',' or '}', but got '<stream end>'"]),
    ("tab", "server:\n\tsip_port: 1\n",
     ["F: line 2, column 1: YAML syntax error: found character '\\t' that cannot start any"
      " token"]),
    ("two documents", "a: 1\n---\nb: 2\n",
     ["F: line 2, column 1: YAML syntax error: expected a single document in the stream"
      " but found another document"]),
    ("python tag", "server: !!python/object:os.system x\n",
     ["F: line 1, column 9: YAML syntax error: could not determine a constructor for the tag"
      " 'tag:yaml.org,2002:python/object:os.system'"]),
    ("control character", "server: {}\napi: \x01\n",
     ["F: line 2: YAML syntax error: character 0x1 is not allowed"]),
    ("duplicate section", "server: {}\napi: {}\nserver: {}\n",
     ["F: line 3, column 1: duplicate key 'server' (first on line 1)"]),
    ("duplicate key", "api:\n  port: 1\n  port: 2\n",
     ["F: line 3, column 3: duplicate key 'port' (first on line 2)"]),
    ("self reference", "server: &s {sip_host: *s}\n", ["F: server.sip_host: must be text"]),
    (
        "deep nesting",
        "server:\n" + "".join(" " * depth + "-\n" for depth in range(1, 1000)),
        ["F: YAML syntax error: nested too deeply"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS])
def test_error_messages(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.splitlines() == [line.replace("F", str(path), 1) for line in expected]
    assert SECRET not in message


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = "x-base: &base {port: 1, enabled: false}\napi: {<<: *base, port: 9}\n"
    # x-base is an unknown key, so the merge itself must not be what fails
    assert error_of(write(tmp_path, text)).splitlines() == [
        f"{tmp_path / 'config.yml'}: x-base: unknown key"
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    assert error_of(path) == f"{path}: file not found"


def test_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "config.yml"
    assert error_of(path) == f"{path}: cannot read the file: Not a directory"


def test_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a file"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yml"
    os.mkfifo(path)
    assert error_of(path) == f"{path}: is not a regular file"


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_read_error_is_reported() -> None:
    """/proc/self/mem is a regular file whose first page cannot be read, even by root."""
    path = Path("/proc/self/mem")
    assert error_of(path) == f"{path}: cannot read the file: Input/output error"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(b"server: {}\nregistrar: {realm: caf\xe9}\n")
    assert error_of(path) == f"{path}: line 2: not UTF-8 text (byte 0xe9)"


def test_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, "#" * (MAX_FILE_BYTES + 1))
    assert error_of(path) == f"{path}: is larger than {MAX_FILE_BYTES} bytes"


def test_error_api() -> None:
    err = ConfigError("a: x: one\na: y: two")
    assert err.problems == ("a: x: one", "a: y: two")
    assert render_error(err) == "a: x: one\na: y: two" == str(err)


# --- environment overrides -------------------------------------------------------------

BASE = "server: {sip_port: 5060}\nextensions:\n  - {number: 1001, password: filepw}\n"

OVERRIDES: list[tuple[dict[str, str], str, Any]] = [
    ({"PBX_SERVER__SIP_PORT": "5070"}, "s.server.sip_port", 5070),
    ({"pbx_server__sip_port": "05070"}, "s.server.sip_port", 5070),
    ({"Pbx_Api__Enabled": "false"}, "s.api.enabled", False),
    ({"PBX_API__HOST": "127.0.0.2"}, "s.api.host", "127.0.0.2"),
    ({"PBX_REGISTRAR__AUTH_ALGORITHMS": '["SHA-256","MD5"]'}, "s.registrar.auth_algorithms",
     ("SHA-256", "MD5")),
    ({"PBX_SERVER__TRANSPORTS": "[tcp]"}, "s.server.transports", ("tcp",)),
    ({"PBX_REGISTRAR__REALM": "yes"}, "s.registrar.realm", "yes"),
    ({"PBX_EXTENSIONS__0__PASSWORD": "#not: [yaml"}, "s.extensions[0].password", "#not: [yaml"),
    ({"PBX_EXTENSIONS__0__PASSWORD": "0012"}, "s.extensions[0].password", "0012"),
    ({"PBX_EXTENSIONS__0__NUMBER": "007"}, "s.extensions[0].number", "007"),
    ({"PBX_EXTENSIONS": "[{number: 7, password: z}]"}, "[e.number for e in s.extensions]", ["7"]),
    ({"PBX_LOGGING": "{level: debug}"}, "s.logging.level", "DEBUG"),
    ({"PBX_DATABASE__TYPE": "postgresql", "PBX_DATABASE__PASSWORD": SECRET,
      "PBX_DATABASE__HOST": "db.internal"}, "s.database.url(Path('/'))",
     f"postgresql+psycopg://pbx_user:{SECRET}@db.internal:5432/pbx_system"),
    ({"HOME": "/root", "PBXSERVER": "x", "XPBX_SERVER__SIP_PORT": "1"}, "s.server.sip_port", 5060),
]  # fmt: skip


@pytest.mark.parametrize(("environ", "expression", "expected"), OVERRIDES)
def test_environment_overrides(
    tmp_path: Path, environ: dict[str, str], expression: str, expected: Any
) -> None:
    loaded = load_settings(write(tmp_path, BASE), environ=environ)
    value = eval(expression, {"s": loaded, "Path": Path})
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected


def test_environment_names_that_are_no_settings_path_are_left_alone(tmp_path: Path) -> None:
    """Tools and tests use PBX_* names of their own (PBX_TEST_POSTGRES_URL)."""
    loaded = load_settings(write(tmp_path, BASE), environ={"PBX_TEST_POSTGRES_URL": "x"})
    plain = load_settings(write(tmp_path, BASE), environ={})
    assert loaded.server.sip_port == plain.server.sip_port


ENV_ERRORS: list[tuple[dict[str, str], list[str]]] = [
    ({"PBX_SERVER__SIP_PROT": "1"},
     ["$PBX_SERVER__SIP_PROT: server.sip_prot: unknown key (did you mean 'sip_port'?)"]),
    ({"PBX_NOPE__X": "1"}, ["$PBX_NOPE__X: nope: unknown key"]),
    ({"PBX_SERVER__SIP_PORT": "abc"},
     ["$PBX_SERVER__SIP_PORT: server.sip_port: must be an integer (got 'abc')"]),
    ({"PBX_SERVER__SIP_PORT": "[1"},
     ["$PBX_SERVER__SIP_PORT: server.sip_port: line 1, column 3: YAML syntax error:"
      " expected ',' or ']', but got '<stream end>'"]),
    ({"PBX_SERVER__SIP_PORT__X": "1"},
     ["$PBX_SERVER__SIP_PORT__X: server.sip_port: is a single value and has no key 'x'"]),
    ({"PBX_SERVER____SIP_PORT": "1"},
     ["$PBX_SERVER____SIP_PORT: expected PBX_SECTION__KEY, with '__' between keys"]),
    ({"PBX_EXTENSIONS__3__PASSWORD": "x"},
     ["$PBX_EXTENSIONS__3__PASSWORD: extensions[3]: there is no such item in the file"]),
    ({"PBX_EXTENSIONS__FIRST__PASSWORD": "x"},
     ["$PBX_EXTENSIONS__FIRST__PASSWORD: extensions: expected a list index, not 'first'"]),
    ({"PBX_DATABASE__PASSWORD": SECRET},
     ["$PBX_DATABASE__PASSWORD: database.type: required key is missing"
      " (one of 'sqlite', 'postgresql')"]),
    ({"PBX_REGISTRAR__AUTH_ALGORITHMS": "SHA-256"},
     ["$PBX_REGISTRAR__AUTH_ALGORITHMS: registrar.auth_algorithms: must be a list"
      " (got 'SHA-256')"]),
    ({"PBX_EXTENSIONS__0__PASSWORD": ""},
     ["$PBX_EXTENSIONS__0__PASSWORD: extensions[0].password: must not be empty"]),
    ({"PBX_APPI__PORT": "1", "PBX_SERVER__SIP_PORT": "-1"},
     ["$PBX_APPI__PORT: appi: unknown key (did you mean 'api'?)",
      "$PBX_SERVER__SIP_PORT: server.sip_port: must be >= 0 (got -1)"]),
]  # fmt: skip


@pytest.mark.parametrize(("environ", "expected"), ENV_ERRORS)
def test_environment_errors(tmp_path: Path, environ: dict[str, str], expected: list[str]) -> None:
    message = error_of(write(tmp_path, BASE), environ)
    assert message.splitlines() == expected
    assert SECRET not in message


def test_environment_override_for_a_sqlite_file_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "database: {type: sqlite}\n")
    assert error_of(path, {"PBX_DATABASE__PASSWORD": SECRET}) == (
        "$PBX_DATABASE__PASSWORD: database.password: unknown key for type 'sqlite'"
        " (it belongs to type 'postgresql')"
    )


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBX_SERVER__SIP_PORT", "5071")
    assert load_settings(write(tmp_path, BASE)).server.sip_port == 5071


def test_password_never_shown(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"database: {{type: postgresql, password: {SECRET}}}\n"
        f"extensions: [{{number: 1001, password: {SECRET}}}]\n",
    )
    loaded = load_settings(path, environ={"PBX_EXTENSIONS__0__PASSWORD": SECRET + "-env"})
    for text in (repr(loaded), str(loaded), loaded.model_dump_json(), repr(loaded.database)):
        assert SECRET not in text
    assert isinstance(loaded.database, PostgresqlSettings)
    assert loaded.database.password.get_secret_value() == SECRET
    assert loaded.extensions[0].password is not None
    assert loaded.extensions[0].password.get_secret_value() == SECRET + "-env"


# --- database URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pbx.db", "sqlite:////etc/pbx/pbx.db"),
        ("data/../pbx.db", "sqlite:////etc/pbx/pbx.db"),
        ("/var/lib/pbx/pbx.db", "sqlite:////var/lib/pbx/pbx.db"),
        (":memory:", "sqlite:///:memory:"),
    ],
)
def test_sqlite_url(path: str, expected: str) -> None:
    assert SqliteSettings(path=path).url(Path("/etc/pbx")) == expected


def test_sqlite_url_from_a_relative_config_folder(tmp_path: Path) -> None:
    url = SqliteSettings().url(Path("conf"))
    assert url == f"sqlite:///{Path.cwd() / 'conf' / 'pbx.db'}"


@pytest.mark.parametrize("password", ["plain", "p@ss:w/rd", "with space", "a+b%20c", "ü#?&="])
def test_postgresql_url_round_trips_through_sqlalchemy(password: str) -> None:
    database = PostgresqlSettings(type="postgresql", password=SecretStr(password), user="u@x")
    url = make_url(database.url(Path("/ignored")))
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u@x",
        password,
        "localhost",
        5432,
        "pbx_system",
    )


def test_postgresql_url_with_ipv6_host() -> None:
    database = PostgresqlSettings(type="postgresql", password=SecretStr("x"), host="::1")
    assert make_url(database.url(Path("/"))).host == "::1"


# --- anything at all gives Settings or ConfigError -------------------------------------

KEYS = [
    "server", "api", "database", "extensions", "registrar", "tracking", "logging", "type",
    "sqlite", "postgresql", "path", "password", "ha1", "number", "name", "sip_port", "port",
    "transports", "auth_algorithms", "min_expires", "default_expires", "realm", "level", "x",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["udp", "MD5", "SHA-256", "sqlite", "postgresql", "1001", HA1]),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | scalars, inner, max_size=5)
    ),
    max_leaves=25,
)
env_names = st.builds(
    lambda parts: "PBX_" + "__".join(parts),
    st.lists(st.sampled_from([*KEYS, "0", "1", ""]), min_size=0, max_size=3),
)


def _check_outcome(path: Path, environ: dict[str, str]) -> None:
    try:
        load_settings(path, environ=environ)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must say something"
        for line in exc.problems:
            assert line.startswith((str(path) + ": ", "$PBX_")), line
            assert line.strip() == line and line


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=documents,
    environ=st.dictionaries(env_names, st.text(max_size=10), max_size=3),
)
def test_any_document_gives_settings_or_config_error(
    tmp_path: Path, document: Any, environ: dict[str, str]
) -> None:
    path = tmp_path / "config.yml"
    for flow in (None, False):
        path.write_text(yaml.safe_dump(document, default_flow_style=flow), "utf-8")
        _check_outcome(path, environ)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=string.printable + "{}[]:-&*!|>'\"%@`#,?\x00\x85\u2028é", max_size=80))
def test_any_text_gives_settings_or_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text, "utf-8")
    _check_outcome(path, {})


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=60))
def test_any_bytes_give_settings_or_config_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(raw)
    _check_outcome(path, {})


def test_yaml_habits_stay_local_to_the_config_loader() -> None:
    """Reading 0012 as text must not leak into PyYAML's SafeLoader used elsewhere."""
    assert yaml.safe_load("[0012, yes]") == [10, True]
