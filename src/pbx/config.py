"""Typed configuration: ``config.yml`` plus ``PBX_*`` environment overrides.

Why this module exists: the PBX must refuse to start on a bad configuration and say,
in one line per problem, which key is wrong and why. So every way a file can be bad
(missing, unreadable, not YAML, not a mapping, unknown keys, wrong values, settings that
contradict each other) ends up as a :class:`ConfigError`, never as a stack trace.

There is deliberately no module-level settings instance: the application calls
:func:`load_settings` once at start-up and passes the result down.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "ApiSettings",
    "ConfigError",
    "DatabaseSettings",
    "ExtensionSettings",
    "LoggingSettings",
    "PostgresqlSettings",
    "RegistrarSettings",
    "ServerSettings",
    "Settings",
    "SqliteSettings",
    "TrackingSettings",
    "load_settings",
    "render_error",
]

ENV_PREFIX = "PBX_"
"""Environment variables starting with this (any case) override keys of the file."""

MAX_FILE_BYTES = 1 << 20
"""A configuration file is small; refusing big ones keeps ``--config /dev/zero`` finite."""

_SECRET_KEYS = frozenset({"password", "ha1"})


class ConfigError(Exception):
    """The configuration cannot be used; ``message`` holds one line per problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def problems(self) -> tuple[str, ...]:
        """Each problem on its own, in the order found."""
        return tuple(self.message.splitlines())


def render_error(err: ConfigError) -> str:
    """Text for a command line tool to print: one line per problem, nothing else."""
    return err.message


class _CrossFieldError(ValueError):
    """Problems found by comparing several values; each carries a key path of its own.

    A validator can only fail at its own location, so the real key paths travel in the
    exception and are put back together when the error is described.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


# --- small value types -----------------------------------------------------------------


def _refuse_bool(value: object) -> object:
    """YAML ``true`` is not a port number, although Python thinks it is 1."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


def _whole_number_as_text(value: object) -> object:
    """``number: 1001`` is natural YAML; keep it as the text the user wrote."""
    if isinstance(value, bool):
        return value  # rejected by the str validator with a clear message
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError("must be text; put the value in quotes")
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


_NUMBER_RE = re.compile(r"[0-9A-Za-z._-]{1,20}")


def _check_number(value: str) -> str:
    if not _NUMBER_RE.fullmatch(value):
        raise ValueError("must be 1 to 20 characters of 0-9, A-Z, a-z, '.', '_' or '-'")
    return value


def _no_duplicates(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"lists {value!r} twice")
        seen.add(value)
    return values


PositiveInt = Annotated[int, BeforeValidator(_refuse_bool), Field(ge=1)]
Port = Annotated[int, BeforeValidator(_refuse_bool), Field(ge=0, le=65535)]
"""Port 0 asks the OS for a free port, which tests rely on."""
NonEmptyStr = Annotated[str, Field(min_length=1)]
Transport = Annotated[Literal["udp", "tcp"], BeforeValidator(_lower)]
Algorithm = Annotated[Literal["MD5", "SHA-256"], BeforeValidator(_upper)]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]
ExtensionNumber = Annotated[
    str, BeforeValidator(_whole_number_as_text), AfterValidator(_check_number)
]


class _Section(BaseModel):
    """Base of every section: unknown keys are errors and settings never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections --------------------------------------------------------------------------


class ServerSettings(_Section):
    """Where the SIP side listens."""

    sip_host: NonEmptyStr = "0.0.0.0"
    sip_port: Port = 5060
    transports: Annotated[
        tuple[Transport, ...], Field(min_length=1), AfterValidator(_no_duplicates)
    ] = ("udp", "tcp")
    workers: int = Field(default=1, ge=1, le=64)
    """SIP worker processes. 1 serves everything in one process. More share the SIP
    port (SO_REUSEPORT); each extension belongs to one of them, and the main process
    commits their rows and serves the API (README, "Several SIP workers"). Use up to
    the number of cores."""
    kernel_steering: bool = True
    """With several workers, let the kernel hand each UDP REGISTER to the worker that
    owns its extension (a classic BPF program on the port, Linux 4.5+), instead of the
    worker the source address picks passing it on. Off: the workers pass every one."""


class ApiSettings(_Section):
    """The HTTP API and web pages; loopback by default since they are unauthenticated."""

    host: NonEmptyStr = "127.0.0.1"
    port: Port = 8080
    enabled: bool = True


class DatabaseSettings(_Section):
    """Common base of the database kinds; ``url`` is what SQLAlchemy needs."""

    def url(self, base_dir: Path) -> str:
        """SQLAlchemy URL; relative paths are taken from ``base_dir`` (the config's folder)."""
        raise NotImplementedError


class SqliteSettings(DatabaseSettings):
    """A single-file database, the default for a local run."""

    type: Literal["sqlite"] = "sqlite"
    path: NonEmptyStr = "pbx.db"

    def url(self, base_dir: Path) -> str:
        """``sqlite:///<absolute path>`` (``:memory:`` is passed through)."""
        if self.path == ":memory:":
            return "sqlite:///:memory:"
        location = Path(self.path).expanduser()
        if not location.is_absolute():
            location = Path(base_dir).expanduser() / location
        return f"sqlite:///{os.path.abspath(location)}"


class PostgresqlSettings(DatabaseSettings):
    """A PostgreSQL server reached through psycopg 3."""

    type: Literal["postgresql"]
    host: NonEmptyStr = "localhost"
    port: Annotated[int, BeforeValidator(_refuse_bool), Field(ge=1, le=65535)] = 5432
    name: NonEmptyStr = "pbx_system"
    user: NonEmptyStr = "pbx_user"
    password: SecretStr

    def url(self, base_dir: Path) -> str:
        """``postgresql+psycopg://user:password@host:port/name`` with each part quoted.

        ``quote(..., safe="")`` rather than ``quote_plus``: SQLAlchemy decodes the URL
        with ``unquote``, which would turn a ``+`` from ``quote_plus`` into a literal plus
        instead of the space the password really holds.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        name = quote(self.name, safe="")
        return f"postgresql+psycopg://{user}:{password}@{host}:{self.port}/{name}"


Database = Annotated[SqliteSettings | PostgresqlSettings, Field(discriminator="type")]


class ExtensionSettings(_Section):
    """One phone account: a number and either its password or its MD5 HA1."""

    number: ExtensionNumber
    name: Annotated[str, BeforeValidator(_whole_number_as_text)] | None = None
    password: SecretStr | None = None
    ha1: SecretStr | None = None
    """MD5(number:realm:password) in lowercase hex; a credential, hence secret too."""

    @field_validator("password", "ha1", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return _whole_number_as_text(value)

    @field_validator("password")
    @classmethod
    def _password_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("ha1")
    @classmethod
    def _ha1_is_md5_hex(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().lower()
        if not re.fullmatch(r"[0-9a-f]{32}", text):
            raise ValueError("must be 32 hex digits: the MD5 of number:realm:password")
        return SecretStr(text)

    @model_validator(mode="after")
    def _one_credential(self) -> ExtensionSettings:
        if self.password is None and self.ha1 is None:
            raise _CrossFieldError([((), "needs a password or an ha1")])
        if self.password is not None and self.ha1 is not None:
            raise _CrossFieldError([(("ha1",), "give either password or ha1, not both")])
        return self


def _realm_text(value: str) -> str:
    if any(ch in value for ch in '"\\') or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain quotes, backslashes or control characters")
    return value


class RegistrarSettings(_Section):
    """Registration and digest authentication policy (times in seconds)."""

    realm: Annotated[str, Field(min_length=1), AfterValidator(_realm_text)] = "pbx"
    domains: tuple[Annotated[str, Field(min_length=1), AfterValidator(str.lower)], ...] = ()
    """Domains accepted in the Request-URI; empty accepts any."""
    min_expires: PositiveInt = 60
    max_expires: PositiveInt = 7200
    default_expires: PositiveInt = 3600
    max_contacts: PositiveInt = 10
    auth_algorithms: Annotated[
        tuple[Algorithm, ...], Field(min_length=1), AfterValidator(_no_duplicates)
    ] = ("MD5",)
    """Offered in this order, one challenge each."""
    nonce_ttl: PositiveInt = 300

    @model_validator(mode="after")
    def _expires_in_order(self) -> RegistrarSettings:
        if self.min_expires > self.max_expires:
            raise _CrossFieldError(
                [
                    (
                        ("min_expires",),
                        f"must be <= max_expires ({self.max_expires}) (got {self.min_expires})",
                    )
                ]
            )
        if not self.min_expires <= self.default_expires <= self.max_expires:
            raise _CrossFieldError(
                [
                    (
                        ("default_expires",),
                        f"must be between min_expires ({self.min_expires}) and max_expires "
                        f"({self.max_expires}) (got {self.default_expires})",
                    )
                ]
            )
        return self


class TrackingSettings(_Section):
    """Phone inventory behaviour."""

    clear_on_boot: bool = True
    """Forget bindings left from the previous run: phones re-register anyway."""
    commit_delay_ms: float = Field(default=4.0, ge=0, le=100)
    """Under load, how long a group commit waits for more phones before it writes
    (PostgreSQL's ``commit_delay`` idea). It only applies while commits carry several
    phones (4 or more), so at low rates nothing is delayed; 0 turns it off."""


class LoggingSettings(_Section):
    """Logging threshold (standard library level names)."""

    level: LogLevel = "INFO"


class Settings(_Section):
    """The whole configuration; every section has working defaults."""

    server: ServerSettings = ServerSettings()
    api: ApiSettings = ApiSettings()
    database: Database = SqliteSettings()
    extensions: tuple[ExtensionSettings, ...] = ()
    registrar: RegistrarSettings = RegistrarSettings()
    tracking: TrackingSettings = TrackingSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("extensions")
    @classmethod
    def _unique_numbers(
        cls, extensions: tuple[ExtensionSettings, ...]
    ) -> tuple[ExtensionSettings, ...]:
        first: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, extension in enumerate(extensions):
            if extension.number in first:
                problems.append(
                    (
                        (index, "number"),
                        f"duplicate extension {extension.number!r} "
                        f"(already extensions[{first[extension.number]}])",
                    )
                )
            else:
                first[extension.number] = index
        if problems:
            raise _CrossFieldError(problems)
        return extensions

    @model_validator(mode="after")
    def _sha256_needs_password(self) -> Settings:
        if "SHA-256" not in self.registrar.auth_algorithms:
            return self
        problems: list[tuple[tuple[str | int, ...], str]] = [
            (
                ("extensions", index, "ha1"),
                f"extension {extension.number!r} has only an MD5 ha1, which cannot answer "
                "the SHA-256 challenge in registrar.auth_algorithms; give its password instead",
            )
            for index, extension in enumerate(self.extensions)
            if extension.password is None
        ]
        if problems:
            raise _CrossFieldError(problems)
        return self


# --- reading the file ------------------------------------------------------------------

_INT_TAG = "tag:yaml.org,2002:int"
_BOOL_TAG = "tag:yaml.org,2002:bool"


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 habits and duplicate keys refused.

    YAML 1.1 reads ``0012`` as octal 10 and ``no`` as false, which silently turns an
    extension number or a name into something else; here they stay text. Only plain
    decimal integers and true/false are resolved. A duplicate key would silently drop
    half a section, so it is an error.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                line = seen.get(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if line is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {line})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _BOOL_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_ConfigLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_text(path: Path, source: str) -> str:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{source}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{source}: is not a regular file")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: is larger than {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        ) from None


def _parse_yaml(text: str, where: str) -> Any:
    """YAML to Python objects; any YAML failure becomes one line naming ``where``."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        if exc.context and problem.startswith("but "):
            problem = f"{_one_line(exc.context)} {problem}"
        place = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = "" if problem.startswith("duplicate key") else "YAML syntax error: "
        raise ConfigError(f"{where}: {place}{kind}{problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
        raise ConfigError(
            f"{where}: line {line}: YAML syntax error: character {code:#x} is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML syntax error: {_one_line(str(exc))}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML syntax error: nested too deeply") from None


# --- the shape of the settings, for paths, suggestions and environment overrides ---------

Loc = tuple[str | int, ...]


class _Shape(typing.NamedTuple):
    """What a key holds: a section (one of ``models``), a list of sections, or a value."""

    kind: Literal["section", "list", "value"]
    models: tuple[type[BaseModel], ...] = ()
    text: bool = False  # a string-like value: environment overrides are taken verbatim


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, without Annotated, Optional and None."""
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [
            alt
            for arg in typing.get_args(annotation)
            if arg is not type(None)
            for alt in _unwrap(arg)
        ]
    return [annotation]


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _shape_of(annotation: Any) -> _Shape:
    alternatives = _unwrap(annotation)
    if alternatives and all(_is_model(alt) for alt in alternatives):
        return _Shape("section", tuple(alternatives))
    if len(alternatives) == 1 and typing.get_origin(alternatives[0]) in (tuple, list):
        items = [alt for arg in typing.get_args(alternatives[0]) for alt in _unwrap(arg)]
        items = [item for item in items if item is not Ellipsis]
        if items and all(_is_model(item) for item in items):
            return _Shape("list", tuple(items))
    text = bool(alternatives) and all(alt in (str, SecretStr) for alt in alternatives)
    return _Shape("value", text=text)


def _fields(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        for name, info in model.model_fields.items():
            found.setdefault(name, info.annotation)
    return found


def _tag_of(model: type[BaseModel]) -> str | None:
    """The ``type`` literal of a database kind, used as pydantic's union tag."""
    info = model.model_fields.get("type")
    if info is None or typing.get_origin(info.annotation) is not Literal:
        return None
    return str(typing.get_args(info.annotation)[0])


def _clean_loc(loc: Loc) -> tuple[Loc, tuple[type[BaseModel], ...]]:
    """Drop pydantic's union tags from ``loc``; also give the sections holding its last key."""
    shape = _Shape("section", (Settings,))
    parents: tuple[type[BaseModel], ...] = (Settings,)
    clean: list[str | int] = []
    items = list(loc)
    while items:
        part = items.pop(0)
        clean.append(part)
        if shape.kind == "section":
            parents = shape.models
            annotation = _fields(shape.models).get(str(part))
            if annotation is None:
                return (*clean, *items), parents
            shape = _shape_of(annotation)
            if shape.kind == "section" and len(shape.models) > 1 and items:
                tagged = [model for model in shape.models if _tag_of(model) == items[0]]
                if tagged:
                    items.pop(0)
                    shape = _Shape("section", tuple(tagged))
        elif shape.kind == "list":
            shape = _Shape("section", shape.models)
        else:
            return (*clean, *items), parents
    return tuple(clean), parents


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _path(loc: Sequence[str | int]) -> str:
    """``registrar.min_expires``, ``extensions[2].number``, ``server['odd key']``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "(top level)"


def _show(value: object) -> str:
    """A value for a message: short, one line, and never a whole list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__name__}"


# --- environment overrides -------------------------------------------------------------


def _apply_environment(
    data: dict[Any, Any], environ: Mapping[str, str]
) -> tuple[dict[Loc, str], list[str]]:
    """Write ``PBX_SECTION__KEY=value`` into ``data``; give where each value came from.

    A name without ``__`` that is not a section (``PBX_TEST_POSTGRES_URL``) is left
    alone for other tools. Names are case-insensitive; ``__`` separates levels and a
    number picks a list item (``PBX_EXTENSIONS__0__PASSWORD``). Values are YAML
    (``5070``, ``true``, ``[a, b]``) except for text settings, which take the
    variable verbatim so that a password such as ``#x: [`` arrives intact.
    """
    origins: dict[Loc, str] = {}
    problems: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        if "__" not in name and name[len(ENV_PREFIX) :].lower() not in Settings.model_fields:
            # PBX_SOMETHING that names no section is not a settings path (tools and
            # tests use such names); a misspelt PBX_SECTION__KEY is still an error.
            continue
        label = f"${name}"
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(keys):
            problems.append(f"{label}: expected PBX_SECTION__KEY, with '__' between keys")
            continue
        problem = _apply_one(data, keys, environ[name], label, origins)
        if problem:
            problems.append(problem)
    return origins, problems


def _apply_one(
    data: dict[Any, Any], keys: list[str], raw: str, label: str, origins: dict[Loc, str]
) -> str | None:
    shape = _Shape("section", (Settings,))
    container: Any = data
    loc: list[str | int] = []
    for position, key in enumerate(keys):
        step: str | int
        if shape.kind == "section":
            fields = _fields(shape.models)
            if key not in fields:
                return f"{label}: {_path((*loc, key))}: unknown key{_suggest(key, fields)}"
            step, shape = key, _shape_of(fields[key])
        elif shape.kind == "list":
            if not key.isdigit():
                return f"{label}: {_path(loc)}: expected a list index, not {key!r}"
            step, shape = int(key), _Shape("section", shape.models)
        else:
            return f"{label}: {_path(loc)}: is a single value and has no key {key!r}"
        loc.append(step)
        if position == len(keys) - 1:
            break
        if isinstance(step, int):
            if not isinstance(container, list):
                return None  # the file's own value is wrong; validation reports it
            if step >= len(container):
                return f"{label}: {_path(loc)}: there is no such item in the file"
            container = container[step]
        else:
            if not isinstance(container, dict):
                return None
            if container.get(step) is None:
                container[step] = [] if shape.kind == "list" else {}
                origins[tuple(loc)] = label
            container = container[step]
    if shape.text:
        value: Any = raw
    else:
        try:
            value = _parse_yaml(raw, f"{label}: {_path(loc)}")
        except ConfigError as exc:
            return exc.message
    last = loc[-1]
    if isinstance(last, int):
        if not isinstance(container, list):
            return None
        if last >= len(container):
            return f"{label}: {_path(loc)}: there is no such item in the file"
        container[last] = value
    else:
        if not isinstance(container, dict):
            return None
        container[last] = value
    origins[tuple(loc)] = label
    return None


def _suggest(key: object, allowed: Mapping[str, Any] | list[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- describing validation errors ------------------------------------------------------

_PLAIN_MESSAGES = {
    "missing": "required key is missing",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_unicode": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "recursion_loop": "refers to itself",
}


def _describe(error: Any, source: str, origins: Mapping[Loc, str]) -> list[str]:
    """One or more lines for one pydantic error."""
    loc, parents = _clean_loc(tuple(error["loc"]))
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    show_value = True
    lines: list[tuple[Loc, str]] = []

    if kind == "extra_forbidden" or kind == "invalid_key":
        key = loc[-1]
        message = "unknown key"
        elsewhere = [
            _tag_of(model)
            for model in _siblings(loc[:-1])
            if model not in parents and str(key) in model.model_fields
        ]
        if elsewhere and elsewhere[0]:
            message += f" for type {_tag_of(parents[0])!r} (it belongs to type {elsewhere[0]!r})"
        else:
            message += _suggest(key, _fields(parents))
        if kind == "invalid_key":
            loc, message = loc[:-1], f"unknown key {_show(key)} (keys must be text)"
        lines.append((loc, message))
        show_value = False
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "type")
        tags = ctx.get("expected_tags") or ", ".join(
            repr(_tag_of(model)) for model in _siblings(loc[:-1])
        )
        if kind == "union_tag_not_found" or not isinstance(value, dict) or "type" not in value:
            lines.append((loc, f"required key is missing (one of {tags})"))
            show_value = False
        else:
            lines.append((loc, f"must be one of {tags}"))
            value = value["type"]
    elif kind == "value_error" and isinstance(ctx.get("error"), _CrossFieldError):
        for sub_loc, message in ctx["error"].problems:
            lines.append(((*loc, *sub_loc), message))
        show_value = False
    elif kind == "value_error":
        lines.append((loc, _one_line(str(ctx.get("error", error["msg"])))))
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        symbol = {"greater_than_equal": ">=", "greater_than": ">", "less_than": "<"}.get(kind, "<=")
        bound = next(iter(ctx.values()), "?")
        lines.append((loc, f"must be {symbol} {bound}"))
    elif kind in ("string_too_short", "too_short"):
        minimum = ctx.get("min_length", 1)
        what = "characters" if kind == "string_too_short" else "items"
        lines.append(
            (loc, "must not be empty" if minimum == 1 else f"needs at least {minimum} {what}")
        )
    elif kind == "literal_error":
        lines.append((loc, f"must be {ctx.get('expected', 'one of the allowed values')}"))
    else:
        lines.append((loc, _PLAIN_MESSAGES.get(kind) or _one_line(str(error["msg"]))))
        show_value = kind != "missing"

    result = []
    for where, message in lines:
        secret = any(part in _SECRET_KEYS for part in where if isinstance(part, str))
        suffix = (
            f" (got {_show(value)})"
            if show_value and not secret and not isinstance(value, dict | list | tuple | set)
            else ""
        )
        result.append(f"{_origin(where, source, origins)}: {_path(where)}: {message}{suffix}")
    return result


def _siblings(loc: Loc) -> tuple[type[BaseModel], ...]:
    """All alternatives of the section at ``loc`` (both database kinds, say)."""
    shape = _Shape("section", (Settings,))
    for part in loc:
        if shape.kind == "section":
            annotation = _fields(shape.models).get(str(part))
            if annotation is None:
                return ()
            shape = _shape_of(annotation)
        elif shape.kind == "list":
            shape = _Shape("section", shape.models)
        else:
            return ()
    if shape.kind == "list":
        return shape.models
    return shape.models if shape.kind == "section" else ()


def _origin(loc: Loc, source: str, origins: Mapping[Loc, str]) -> str:
    """The environment variable that set ``loc`` (or a section above it), else the file."""
    for length in range(len(loc), 0, -1):
        if loc[:length] in origins:
            return origins[loc[:length]]
    return source


def _implied(error: Any, errors: list[Any]) -> bool:
    """A list reported as too short only because its items were rejected: say it once."""
    if error["type"] != "too_short":
        return False
    loc = tuple(error["loc"])
    return any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in errors
    )


# --- entry point -----------------------------------------------------------------------


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, override from the environment, and validate; raise ConfigError on any problem.

    Relative paths inside the file (the SQLite database) are meant relative to
    ``path.parent``: pass that to ``DatabaseSettings.url``.
    """
    path = Path(path)
    source = str(path)
    environment = os.environ if environ is None else environ
    data = _parse_yaml(_read_text(path, source), source)
    if data is None:
        raise ConfigError(f"{source}: the file is empty; expected sections such as server:")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of sections (got {_show(data)})"
        )
    origins, problems = _apply_environment(data, environment)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for error in errors:
            if not _implied(error, errors):
                problems.extend(_describe(error, source, origins))
        raise ConfigError("\n".join(problems)) from None
    if problems:
        raise ConfigError("\n".join(problems))
    return settings
