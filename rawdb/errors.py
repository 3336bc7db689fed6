"""One exception hierarchy for every dialect.

Callers catch rawdb classes, never driver classes: the same bad statement raises
the same rawdb error on SQLite, PostgreSQL and MySQL/MariaDB. The driver's own
exception is kept on ``__cause__`` for debugging.
"""

from __future__ import annotations


class RawDBError(Exception):
    """Base class of every error rawdb raises on purpose."""


class ConfigError(RawDBError, ValueError):
    """A URL or option is unknown or invalid; the message names it."""


class InterfaceError(RawDBError):
    """The API was misused: a finished transaction, or one used by two tasks at once."""


class PoolError(RawDBError):
    """The pool could not hand out a connection."""


class PoolTimeout(PoolError):
    """No connection became free within ``acquire_timeout`` (or too many waiters)."""


class PoolClosed(PoolError):
    """The pool is closed (or closing) and hands out nothing more."""


class ConnectionLost(RawDBError):
    """The connection broke. If it broke during COMMIT, the outcome is unknown.

    ``outcome_unknown`` tells the two apart for a transaction block: True when the
    connection broke (or timed out) after COMMIT was sent, so the server may have
    committed; False when it broke before, so nothing of the block was kept. (A
    statement run in autocommit mode commits on its own: when its connection breaks
    mid-statement, its outcome is unknown whatever this says.)"""

    outcome_unknown: bool = False


class QueryError(RawDBError):
    """The database (or rawdb, before sending) rejected a statement."""


class IntegrityError(QueryError):
    """A constraint was violated. ``table``/``column``/``constraint`` are set when known."""

    table: str | None = None
    column: str | None = None
    constraint: str | None = None


class UniqueViolation(IntegrityError):
    pass


class ForeignKeyViolation(IntegrityError):
    pass


class NotNullViolation(IntegrityError):
    pass


class CheckViolation(IntegrityError):
    pass


class SerializationError(QueryError):
    """A serializable transaction could not be ordered; retrying it may succeed."""


class DeadlockError(QueryError):
    """The database broke a deadlock by aborting this transaction; retrying may succeed."""


class DataError(QueryError):
    """A value the column cannot hold: too long, a NUL byte, out of range."""


class ReadOnlyViolation(QueryError):
    """A write was attempted in a ``readonly=True`` transaction."""


class QueryTimeout(QueryError):
    """A statement ran longer than ``command_timeout``; it was interrupted and the
    transaction it ran in cannot continue."""


class TransactionAborted(QueryError):
    """The transaction cannot commit: a statement in it failed (or it ended behind
    rawdb's back), so its work was rolled back. ``__cause__`` is the first failure.

    Raised by every statement after the failure and by the block's exit when the
    error was caught inside it. To carry on after an expected error, run the risky
    statement in a nested ``tx.transaction()`` (a savepoint)."""


class LockTimeout(QueryError):
    """A lock could not be had in time (SQLite busy, MySQL lock wait timeout)."""


class MappingError(RawDBError, TypeError):
    """A row does not fit the Struct it was asked to become; names column and type."""


class ValidationError(RawDBError, ValueError):
    """Input rejected by the store before any SQL ran."""


class DecryptionError(RawDBError):
    """A stored secret could not be decrypted with the configured keys."""


class MigrationError(RawDBError):
    """A migration could not be discovered, planned or applied."""


class MigrationDrift(MigrationError):
    """An applied script changed or disappeared since it was applied."""


class MigrationLocked(MigrationError):
    """Another migrator held the migration lock longer than the wait allowed."""


class DirtyDatabase(MigrationError):
    """A MySQL/MariaDB migration failed part-way; ``repair`` must clear it first."""
