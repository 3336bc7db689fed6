"""Dialect selection: the URL's scheme picks the one module that imports a driver."""

from __future__ import annotations

from rawdb.config import DatabaseURL, PoolOptions
from rawdb.dialects.base import Dialect
from rawdb.errors import ConfigError


def dialect_for(url: DatabaseURL, options: PoolOptions) -> Dialect:
    if url.dialect != "sqlite":
        # Asked for and silently ignored would be worse than refused: the caller
        # believes the setting is in effect.
        for name, default in (("synchronous", "full"), ("sqlite_pragmas", {})):
            if getattr(options, name) != default:
                raise ConfigError(f"option {name!r} applies to SQLite only, not to {url.dialect}")
    if url.dialect == "sqlite":
        from rawdb.dialects.sqlite import SQLiteDialect

        return SQLiteDialect(url, options)
    if url.dialect == "postgresql":
        from rawdb.dialects.postgresql import PostgresDialect

        return PostgresDialect(url, options)
    from rawdb.dialects.mysql import MySQLDialect

    return MySQLDialect(url, options)
