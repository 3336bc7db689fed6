"""Database URLs and pool options: parsed once, validated strictly, never leaking secrets.

Every option has one name, one type and one range; an unknown or invalid one is a
`ConfigError` naming it, because a typo in a timeout silently ignored is the kind of
bug that surfaces only in production. Options may come as keyword arguments or in
the URL's query string (strings there are converted to the option's type).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from rawdb.errors import ConfigError
from rawdb.sqlite_pragmas import PragmaValue, check_sqlite_pragmas, check_synchronous

DEFAULT_URL = "sqlite:///rawdb.db"

_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+aiomysql": "mysql",
    "mariadb+aiomysql": "mysql",
}


class DatabaseURL:
    """A parsed URL. ``repr`` and ``str`` never show the password.

    A plain class on purpose: a Struct or dataclass would hand the password to every
    generic field dumper (rich's repr, ``asdict``, JSON encoders)."""

    __slots__ = ("database", "dialect", "host", "hosts", "password", "path", "port", "user")

    def __init__(self, dialect: str, host: str | None = None, port: int | None = None,
                 user: str | None = None, password: str | None = None, database: str | None = None,
                 path: str | None = None, hosts: tuple[tuple[str, int | None], ...] = ()) -> None:
        self.dialect = dialect
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.path = path  # SQLite file path, or ":memory:"
        # Every (host, port) of a multi-host URL, in order; empty for one host (``host``/``port``
        # then name it, and for several they name the first).
        self.hosts = hosts

    def __rich_repr__(self) -> Any:
        yield self.redacted()

    def __repr__(self) -> str:
        return f"DatabaseURL({self.redacted()!r})"

    def __str__(self) -> str:
        return self.redacted()

    def redacted(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.path}"
        auth = ""
        if self.user is not None:
            auth = self.user + (":***" if self.password else "") + "@"
        return f"{self.dialect}://{auth}{self.netloc()}/{self.database or ''}"

    def netloc(self) -> str:
        """``host:port``, or every one of them, comma-separated, for a multi-host URL."""
        pairs = self.hosts or ((self.host or "", self.port),)
        return ",".join((f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
                        for host, port in pairs)

    def scrub(self, text: str) -> str:
        """Remove the password from any text (driver messages sometimes echo the DSN)."""
        if self.password:
            return text.replace(self.password, "***")
        return text


class PoolOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What users tune. Seconds everywhere; ``None`` turns a limit off."""

    min_size: int = 1
    max_size: int = 10
    acquire_timeout: float = 30.0
    max_lifetime: float | None = 3600.0
    idle_timeout: float | None = 600.0
    max_waiting: int | None = None
    health_check_after: float | None = 10.0
    leak_threshold: float | None = None
    statement_cache_size: int = 100
    command_timeout: float | None = None
    connect_timeout: float = 10.0
    busy_timeout: float = 5.0
    # SQLite: how durable a COMMIT is, and per-connection pragmas (see rawdb.sqlite_pragmas).
    synchronous: str = "full"
    sqlite_pragmas: dict[str, PragmaValue] = msgspec.field(default_factory=dict)
    # Statements slower than this (seconds) are logged on ``rawdb.query``: name or SQL, never values.
    slow_query_threshold: float | None = None
    # OpenTelemetry spans and metrics: None means on when opentelemetry-api is installed.
    tracing: bool | None = None
    connect_options: dict[str, Any] = msgspec.field(default_factory=dict)
    # With replicas (``create_pool(url, replicas=[...])``, see `rawdb.replication`): a read-only
    # transaction sees every write this pool committed before it began; it waits up to
    # ``causal_wait`` seconds for a replica to replay that far, then reads on the primary.
    read_your_writes: bool = True
    causal_wait: float = 0.05
    # Replicas further behind than this (seconds) take no new reads; None: no limit.
    max_replica_lag: float | None = 10.0
    # How often each replica's health and lag are probed (seconds).
    replica_check_interval: float = 1.0


_OPTION_TYPES: dict[str, tuple[type, bool]] = {
    # name: (base type, may be None)
    "min_size": (int, False),
    "max_size": (int, False),
    "acquire_timeout": (float, False),
    "max_lifetime": (float, True),
    "idle_timeout": (float, True),
    "max_waiting": (int, True),
    "health_check_after": (float, True),
    "leak_threshold": (float, True),
    "statement_cache_size": (int, False),
    "command_timeout": (float, True),
    "connect_timeout": (float, False),
    "busy_timeout": (float, False),
    "slow_query_threshold": (float, True),
    "tracing": (bool, True),
    "read_your_writes": (bool, False),
    "causal_wait": (float, False),
    "max_replica_lag": (float, True),
    "replica_check_interval": (float, False),
}


# Options whose values need more than a type and a range: each has its own checker.
_CHECKED: dict[str, Callable[[Any], Any]] = {
    "synchronous": check_synchronous,
    "sqlite_pragmas": check_sqlite_pragmas,
}


def _coerce(name: str, value: Any) -> Any:
    checker = _CHECKED.get(name)
    if checker is not None:
        return checker(value)
    if name == "connect_options":
        if not isinstance(value, Mapping):
            raise ConfigError(f"option 'connect_options' must be a mapping, got {type(value).__name__}")
        return dict(value)
    kind, nullable = _OPTION_TYPES[name]
    if kind is bool:
        return _coerce_flag(name, value)
    if isinstance(value, str):
        text = value.strip().lower()
        if nullable and text in ("", "none", "null", "off"):
            return None
        try:
            value = kind(text) if kind is float else int(text)
        except ValueError:
            raise ConfigError(f"option {name!r} must be {kind.__name__}, got {value!r}") from None
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"option {name!r} cannot be None")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"option {name!r} must be {kind.__name__}, got {type(value).__name__}")
    if kind is int and not float(value).is_integer():
        raise ConfigError(f"option {name!r} must be a whole number, got {value!r}")
    value = kind(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"option {name!r} must be finite, got {value!r}")
    return value


def _coerce_flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    if text in ("", "none", "null", "auto"):
        return None
    raise ConfigError(f"option {name!r} must be true, false or auto, got {value!r}")


def build_options(query: Mapping[str, str], overrides: Mapping[str, Any]) -> PoolOptions:
    """Merge URL query options with keyword options (keywords win) and validate."""
    merged: dict[str, Any] = {}
    for source in (query, overrides):
        for name, value in source.items():
            if name != "connect_options" and name not in _OPTION_TYPES and name not in _CHECKED:
                known = ", ".join(sorted([*_OPTION_TYPES, *_CHECKED, "connect_options"]))
                raise ConfigError(f"unknown option {name!r} (known options: {known})")
            merged[name] = _coerce(name, value)
    options = PoolOptions(**merged)
    _check_ranges(options)
    return options


def _check_ranges(o: PoolOptions) -> None:
    if o.min_size < 0:
        raise ConfigError(f"option 'min_size' must be >= 0, got {o.min_size}")
    if o.max_size < 1:
        raise ConfigError(f"option 'max_size' must be >= 1, got {o.max_size}")
    if o.min_size > o.max_size:
        raise ConfigError(f"option 'min_size' ({o.min_size}) exceeds 'max_size' ({o.max_size})")
    positive = ("acquire_timeout", "max_lifetime", "idle_timeout", "leak_threshold",
                "command_timeout", "connect_timeout", "slow_query_threshold")
    for name in positive:
        value = getattr(o, name)
        if value is not None and value <= 0:
            raise ConfigError(f"option {name!r} must be > 0, got {value}")
    for name in ("health_check_after", "busy_timeout"):
        value = getattr(o, name)
        if value is not None and value < 0:
            raise ConfigError(f"option {name!r} must be >= 0, got {value}")
    if o.max_waiting is not None and o.max_waiting < 0:
        raise ConfigError(f"option 'max_waiting' must be >= 0, got {o.max_waiting}")
    if o.statement_cache_size < 0:
        raise ConfigError(f"option 'statement_cache_size' must be >= 0, got {o.statement_cache_size}")
    if not isinstance(o.read_your_writes, bool):
        raise ConfigError(f"option 'read_your_writes' must be true or false, got {o.read_your_writes!r}")
    if o.causal_wait < 0:
        raise ConfigError(f"option 'causal_wait' must be >= 0, got {o.causal_wait}")
    for name in ("max_replica_lag", "replica_check_interval"):
        value = getattr(o, name)
        if value is not None and value <= 0:
            raise ConfigError(f"option {name!r} must be > 0, got {value}")


def parse_url(url: str) -> tuple[DatabaseURL, dict[str, str]]:
    """Split a URL into its parts and its query-string options."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError("database URL must look like 'sqlite:///file.db' or 'postgresql://host/db'")
    scheme = url.split("://", 1)[0].lower()
    dialect = _SCHEMES.get(scheme)
    if dialect is None:
        raise ConfigError(f"unsupported URL scheme {scheme!r} (use sqlite, postgresql or mysql)")
    if dialect == "sqlite":
        rest = url.split("://", 1)[1]
        path_part, _, query_text = rest.partition("?")
        if not path_part.startswith("/"):
            raise ConfigError("SQLite URL must be sqlite:///relative.db, sqlite:////abs.db or sqlite:///:memory:")
        path = unquote(path_part[1:])
        if not path:
            raise ConfigError("SQLite URL names no file (use sqlite:///:memory: for memory)")
        return DatabaseURL(dialect="sqlite", path=path), dict(parse_qsl(query_text, keep_blank_values=True))
    parts = urlsplit(url)
    hosts = _hosts(dialect, parts.netloc.rpartition("@")[2])
    try:
        port = parts.port if not hosts else hosts[0][1]
    except ValueError:
        raise ConfigError("database URL has an invalid port") from None
    database = unquote(parts.path.lstrip("/")) or None
    parsed = DatabaseURL(
        dialect=dialect,
        host=(hosts[0][0] if hosts else unquote(parts.hostname) if parts.hostname else None),
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
        hosts=hosts,
    )
    return parsed, dict(parse_qsl(parts.query, keep_blank_values=True))


def _hosts(dialect: str, hostlist: str) -> tuple[tuple[str, int | None], ...]:
    """The hosts of ``h1:5432,h2:5433`` (PostgreSQL's multi-host form); () for one host."""
    if "," not in hostlist:
        return ()
    if dialect != "postgresql":
        raise ConfigError("several hosts in one URL are supported for PostgreSQL only")
    hosts = []
    for item in hostlist.split(","):
        one = urlsplit(f"//{item}")
        try:
            port = one.port
        except ValueError:
            raise ConfigError("database URL has an invalid port") from None
        if not one.hostname:
            raise ConfigError("database URL has an empty host in its host list")
        hosts.append((unquote(one.hostname), port))
    return tuple(hosts)


def default_url() -> str:
    """``$RAWDB_URL``, else a SQLite file in the working directory."""
    return os.environ.get("RAWDB_URL") or DEFAULT_URL
