"""rawdb: hand-written SQL over one async pool for SQLite, PostgreSQL and MySQL/MariaDB.

    async with await rawdb.create_pool("sqlite:///app.db") as pool:
        await pool.migrate(rawdb.store.MIGRATIONS)  # or your own folder of vNNN_*.sql scripts
        async with pool.transaction() as tx:
            task = await tx.fetch_one("SELECT * FROM tasks WHERE task_id = :id", {"id": tid}, into=Task)

The public API is this module's ``__all__``; everything else is internal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rawdb.config import build_options, parse_url
from rawdb.errors import (
    CheckViolation,
    ConfigError,
    ConnectionLost,
    DataError,
    DeadlockError,
    DecryptionError,
    DirtyDatabase,
    ForeignKeyViolation,
    IntegrityError,
    InterfaceError,
    LockTimeout,
    MappingError,
    MigrationDrift,
    MigrationError,
    MigrationLocked,
    NotNullViolation,
    PoolClosed,
    PoolError,
    PoolTimeout,
    QueryError,
    QueryTimeout,
    RawDBError,
    ReadOnlyViolation,
    SerializationError,
    TransactionAborted,
    UniqueViolation,
    ValidationError,
)
from rawdb.mapping import Row
from rawdb.pool import Pool, PoolStats
from rawdb.retry import Attempt, RetryEvent, Retrying, retry
from rawdb.session import Connection, Session, Transaction

__version__ = "0.1.0"


async def create_pool(url: str, *, replicas: Sequence[str] = (), **options: Any) -> Pool:
    """Open a pool for ``url`` (``sqlite:///file.db``, ``postgresql://…``, ``mysql://…``).

    Options may be keyword arguments or URL query parameters (keywords win):
    ``min_size``, ``max_size``, ``acquire_timeout``, ``max_lifetime``, ``idle_timeout``,
    ``max_waiting``, ``health_check_after``, ``leak_threshold``, ``statement_cache_size``,
    ``command_timeout``, ``connect_timeout``, ``busy_timeout``, ``synchronous`` and
    ``sqlite_pragmas`` (SQLite), and ``connect_options`` (passed to the driver).
    Unknown or invalid ones raise `ConfigError` naming the option. ``min_size``
    connections are opened before this returns, so a wrong URL or password fails
    here rather than on first use.

    ``replicas`` (or ``?replica=host:port``, repeated, in the URL): read replicas of a
    PostgreSQL or MariaDB primary; read-only transactions run there (see the README's
    "Scaling out" and the options ``read_your_writes``, ``causal_wait``,
    ``max_replica_lag``, ``replica_check_interval``).
    """
    from rawdb.dialects import dialect_for
    from rawdb.replication.urls import split_replica_query

    if isinstance(replicas, str):
        raise ConfigError("replicas= takes a list of URLs, not one string")
    url, in_url = split_replica_query(url)
    parsed, query = parse_url(url)
    pool_options = build_options(query, options)
    if in_url or replicas:
        from rawdb.replication.startup import open_replicated

        return await open_replicated(parsed, pool_options, [*in_url, *replicas])
    pool = Pool(dialect_for(parsed, pool_options), pool_options)
    await pool._start()
    return pool


def __getattr__(name: str) -> Any:
    # The migrator, the named-query loader and the checker import lazily: most processes that
    # import rawdb only run queries.
    if name == "Migrator":
        from rawdb.migrations import Migrator

        return Migrator
    if name in ("Queries", "load_queries"):
        from rawdb import queries

        return getattr(queries, name)
    if name == "check":  # rawdb.check(): the named-query checker (rawdb.checker)
        from rawdb.checker import check

        return check
    raise AttributeError(f"module 'rawdb' has no attribute {name!r}")


__all__ = [
    "Attempt",
    "CheckViolation",
    "ConfigError",
    "Connection",
    "ConnectionLost",
    "DataError",
    "DeadlockError",
    "DecryptionError",
    "DirtyDatabase",
    "ForeignKeyViolation",
    "IntegrityError",
    "InterfaceError",
    "LockTimeout",
    "MappingError",
    "MigrationDrift",
    "MigrationError",
    "MigrationLocked",
    "Migrator",
    "NotNullViolation",
    "Pool",
    "PoolClosed",
    "PoolError",
    "PoolStats",
    "PoolTimeout",
    "Queries",
    "QueryError",
    "QueryTimeout",
    "RawDBError",
    "ReadOnlyViolation",
    "RetryEvent",
    "Retrying",
    "Row",
    "SerializationError",
    "Session",
    "Transaction",
    "TransactionAborted",
    "UniqueViolation",
    "ValidationError",
    "check",
    "create_pool",
    "load_queries",
    "retry",
]
