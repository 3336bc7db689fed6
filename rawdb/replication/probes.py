"""The questions replication asks a server, one implementation per dialect.

Probes run on connections the pool already holds, outside any transaction, and
never through the session objects: they are rawdb's own bookkeeping, not the
user's statements (no spans, no stateful-statement marks). Each counts its round
trips, which is what read-your-writes costs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, NamedTuple

from rawdb.errors import ConfigError

if TYPE_CHECKING:
    from rawdb.config import DatabaseURL, PoolOptions
    from rawdb.dialects.base import Dialect, DriverConnection
    from rawdb.replication.positions import Position


class ReplicaStatus(NamedTuple):
    is_replica: bool  # False: the server is a primary (or was promoted)
    lag: float | None  # seconds behind the primary; None when the server cannot tell
    replayed: Position | None


class Probe(ABC):
    """How one dialect learns and compares replication positions."""

    def __init__(self) -> None:
        self.round_trips = 0

    def primary_dialect(self, url: DatabaseURL, options: PoolOptions) -> Dialect:
        """The primary's dialect (a dialect may need its sessions set up to report positions)."""
        from rawdb.dialects import dialect_for

        return dialect_for(url, options)

    @abstractmethod
    async def commit_position(self, conn: DriverConnection) -> Position | None:
        """On the primary, right after COMMIT on ``conn``: a position that covers that
        commit, or None when the transaction wrote nothing to replicate."""

    @abstractmethod
    async def current_position(self, conn: DriverConnection) -> Position | None:
        """On the primary: a position covering everything committed so far."""

    @abstractmethod
    async def replayed(self, conn: DriverConnection) -> Position | None:
        """On a replica: how far it has replayed (None when the server is no replica)."""

    @abstractmethod
    async def wait(self, conn: DriverConnection, position: Position, timeout: float) -> bool:
        """On a replica: wait up to ``timeout`` seconds until it has replayed ``position``."""

    @abstractmethod
    async def status(self, conn: DriverConnection) -> ReplicaStatus:
        """On a replica: is it one, how far behind, how far replayed (one round trip or two)."""


def raw(conn: DriverConnection) -> Any:
    """The driver's own connection under a rawdb one (both server dialects keep it in ``_conn``)."""
    return conn._conn  # type: ignore[attr-defined]


def probe_for(dialect: str) -> Probe:
    if dialect == "postgresql":
        from rawdb.replication.postgresql import PostgresProbe

        return PostgresProbe()
    if dialect == "mysql":
        from rawdb.replication.mariadb import MariaDBProbe

        return MariaDBProbe()
    raise ConfigError(f"replicas are not supported on {dialect} (PostgreSQL and MariaDB only)")
