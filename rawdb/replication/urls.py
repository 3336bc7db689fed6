"""Replica URLs: from ``create_pool(replicas=[...])`` and from ``?replica=`` in the primary's URL.

A replica is a full URL of the primary's dialect, or just ``host`` / ``host:port``
(the primary's scheme, user, password and database). A full URL that leaves out
the user, password or database takes the primary's. A replica's text is never
echoed in an error: it may hold a password.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from rawdb.config import DatabaseURL, parse_url
from rawdb.errors import ConfigError


def split_replica_query(url: str) -> tuple[str, list[str]]:
    """The URL without its ``replica=`` parameters (which may repeat), and their values."""
    if not isinstance(url, str) or "?" not in url:
        return url, []
    base, _, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    replicas = [value for name, value in pairs if name == "replica"]
    if not replicas:
        return url, []
    rest = [(name, value) for name, value in pairs if name != "replica"]
    return (base + "?" + urlencode(rest) if rest else base), replicas


def replica_urls(primary: DatabaseURL, specs: Iterable[str]) -> list[DatabaseURL]:
    urls = [_replica_url(primary, spec, n) for n, spec in enumerate(specs, 1)]
    if urls and primary.dialect == "sqlite":
        raise ConfigError("SQLite has no replicas: replicas= needs a PostgreSQL or MySQL/MariaDB URL")
    seen: set[tuple[str | None, int | None, str | None]] = set()
    for url in urls:
        key = (url.host, url.port, url.database)
        if key in seen:
            raise ConfigError(f"replica {url.redacted()} is listed twice")
        seen.add(key)
    return urls


def _replica_url(primary: DatabaseURL, spec: str, n: int) -> DatabaseURL:
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"replica {n} must be a URL or host:port string")
    spec = spec.strip()
    if "://" not in spec:
        if primary.dialect == "sqlite":
            raise ConfigError("SQLite has no replicas: replicas= needs a PostgreSQL or MySQL/MariaDB URL")
        parts = urlsplit(f"//{spec}")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"replica {n} has an invalid port") from None
        if not parts.hostname or parts.path or parts.username:
            raise ConfigError(f"replica {n} must be host or host:port (or a full URL)")
        return DatabaseURL(primary.dialect, host=unquote(parts.hostname), port=port, user=primary.user,
                           password=primary.password, database=primary.database)
    try:
        url, query = parse_url(spec)
    except ConfigError as exc:
        raise ConfigError(f"replica {n}: {exc}") from None
    if url.dialect != primary.dialect:
        raise ConfigError(f"replica {url.redacted()} is {url.dialect}, but the primary "
                          f"{primary.redacted()} is {primary.dialect}: a replica has the primary's dialect")
    if url.hosts:
        raise ConfigError(f"replica {url.redacted()}: one host per replica (list each one)")
    if query:
        raise ConfigError(f"replica {url.redacted()}: options go to create_pool, not into a replica's URL "
                          f"({', '.join(sorted(query))})")
    user = url.user if url.user is not None else primary.user
    password = url.password if url.password is not None else (primary.password if url.user is None else None)
    return DatabaseURL(url.dialect, host=url.host, port=url.port, user=user, password=password,
                       database=url.database if url.database is not None else primary.database)
