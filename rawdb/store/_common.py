"""What every store module shares: query lookup, input checks, paging and update SQL.

Each table module declares its queries once (``QuerySet``) and its writable
columns once (``Columns``). Everything that turns caller input into bound
parameters runs through here, so the nine modules apply the same rules: NUL
bytes and lone surrogates in text are a ``DataError``, over-long strings, bad
types, unknown update keys, naive datetimes and bad paging values a
``ValidationError`` naming the field — all before any SQL is sent.
"""

from __future__ import annotations

import enum
import functools
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from rawdb.errors import DataError, ValidationError
from rawdb.queries import DIALECTS, Queries, QueryGroup, load_queries
from rawdb.store.models import COLUMN_LIMITS

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "Columns",
    "QuerySet",
    "aware",
    "boolean",
    "check_unicode",
    "choice",
    "integer",
    "json_value",
    "load",
    "new_id",
    "one_of",
    "page",
    "resolve_now",
    "text",
    "unless_no_row",
]

S = TypeVar("S", bound=msgspec.Struct)
Converter = Callable[[str, Any], Any]
"""Turns one caller value into the value bound for column ``field``; raises on bad input.

Its return annotation names the Python type bound: ``rawdb check`` compares it with the
type of each column an UPDATE built by ``Columns.update_sql`` sets."""

_REQUIRED: dict[str, set[str]] = {}
"""Query names each store module declared, checked when a dialect's queries load."""


@functools.cache
def load(dialect_name: str) -> Queries:
    """The queries of one dialect, loaded and checked once per process.

    Every name a store module declared must exist, so a missing or misspelt
    query fails the first call on that dialect (or ``rawdb.store.check_queries()``
    at start-up), never a rarely used operation in production.
    """
    return load_queries(dialect_name, required=_REQUIRED)


def check_queries() -> None:
    """Load the queries of every dialect now; raise on the first inconsistency."""
    for dialect in DIALECTS:
        load(dialect)


class QuerySet:
    """The named queries one store module uses, and the calls that run them.

    Running statements through these methods (rather than ``tx`` directly) is
    what guarantees that no text parameter carrying a NUL byte or a lone surrogate
    reaches a driver: PostgreSQL cannot store a NUL and the others would store it
    silently; a lone surrogate is not Unicode text, and each driver refused it
    differently.
    """

    def __init__(self, file: str, names: Iterable[str]) -> None:
        self.file = file
        self.names = frozenset(names)
        _REQUIRED.setdefault(file, set()).update(self.names)

    def group(self, tx: Transaction) -> QueryGroup:
        return load(tx.dialect.name)[self.file]

    def sql(self, tx: Transaction, name: str) -> str:
        if name not in self.names:  # a programming error: declare every name used
            raise KeyError(f"query {self.file}.{name} is used but not declared")
        return self.group(tx)[name]

    async def execute(self, tx: Transaction, name: str, params: Mapping[str, Any]) -> int:
        return await execute_sql(tx, self.sql(tx, name), params)

    async def fetch_one(
        self, tx: Transaction, name: str, params: Mapping[str, Any], into: type[S]
    ) -> S | None:
        check_text_params(params)
        row: S | None = await tx.fetch_one(self.sql(tx, name), params, into=into)
        return row

    async def fetch_all(
        self,
        tx: Transaction,
        name: str,
        params: Mapping[str, Any],
        into: type[S],
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[S]:
        """Fetch a list; ``limit``/``offset`` (already checked by ``page``) add a paging clause.

        The paging fragments come from ``paging.sql`` and its dialect overrides,
        because OFFSET without LIMIT is spelt differently on each dialect.
        """
        check_text_params(params)
        sql = self.sql(tx, name)
        if limit is not None or offset:
            paging = load(tx.dialect.name)["paging"]
            if limit is None:
                sql = _join(sql, paging.offset_only)
                params = {**params, "offset": offset}
            else:
                sql = _join(sql, paging.limit_offset)
                params = {**params, "limit": limit, "offset": offset}
        rows: list[S] = await tx.fetch_all(sql, params, into=into)
        return rows

    async def fetch_val(self, tx: Transaction, name: str, params: Mapping[str, Any]) -> Any:
        check_text_params(params)
        return await tx.fetch_val(self.sql(tx, name), params)


@functools.lru_cache(maxsize=256)
def _join(sql: str, fragment: str) -> str:
    # Cached so that a paged query is always the very same string object,
    # which keeps whatever the core caches per SQL text warm.
    return f"{sql}\n{fragment}"


async def execute_sql(tx: Transaction, sql: str, params: Mapping[str, Any]) -> int:
    check_text_params(params)
    count: int = await tx.execute(sql, params)
    return count


def check_text_params(params: Mapping[str, Any]) -> None:
    for name, value in params.items():
        if isinstance(value, str):
            if "\x00" in value:
                raise DataError(f"{name}: text contains a NUL byte, which no dialect stores reliably")
            check_unicode(name, value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(field: str, value: str, what: str = "text") -> None:
    """Reject a lone surrogate (half of a UTF-16 pair, as a ``surrogateescape`` decode
    leaves behind): it is not Unicode text and no dialect can store it as UTF-8. The
    message names the field and the code point, never the text (it may be a secret)."""
    if not value.isascii():
        m = _SURROGATE.search(value)
        if m is not None:
            raise DataError(f"{field}: {what} contains a lone surrogate (U+{ord(m.group()):04X}), "
                            "which is not valid Unicode text")


# --- time, ids, enums, paging -------------------------------------------------------


def new_id() -> str:
    """A new uuid4 string: the application, not the database, makes every id."""
    return str(uuid.uuid4())


def aware(field: str, value: datetime) -> datetime:
    """Reject naive datetimes (their zone is a guess) and normalise to UTC."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{field}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field}: naive datetime {value!r}; pass an aware (UTC) one")
    return value.astimezone(UTC)


def resolve_now(now: datetime | None) -> datetime:
    """The single "now" of one operation: the injected clock value or the current UTC time."""
    return datetime.now(UTC) if now is None else aware("now", now)


def one_of(field: str, value: Any, allowed: type[enum.StrEnum]) -> str:
    """Validate an enum column value; lowercase only, no case folding."""
    if isinstance(value, str) and value in allowed._value2member_map_:
        return str(value)
    choices = ", ".join(member.value for member in allowed)
    raise ValidationError(f"{field}: {value!r} is not one of {choices}")


def choice(allowed: type[enum.StrEnum], *, nullable: bool = False) -> Converter:
    def convert(field: str, value: Any) -> str | None:
        if value is None and nullable:
            return None
        return one_of(field, value, allowed)

    return convert


class _NoRow(Exception):
    """Raised inside a savepoint to undo it when the statement's key matched nothing."""


async def unless_no_row(tx: Transaction, work: Callable[[Transaction], Awaitable[int]]) -> int:
    """Run ``work`` in a savepoint and undo it if it reports 0 rows.

    For multi-statement operations whose first statements must not stick when
    the last one finds no row (clearing other defaults before setting a
    profile that turns out not to exist). Exceptions roll back the savepoint
    too and propagate.
    """
    try:
        async with tx.transaction() as savepoint:
            count = await work(savepoint)
            if count == 0:
                raise _NoRow
            return count
    except _NoRow:
        return 0


def page(limit: int | None, offset: int = 0) -> tuple[int | None, int]:
    """Normalise paging: ``None`` and ``-1`` mean "all"; other negatives are errors."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise ValidationError(f"limit: expected an int or None, got {type(limit).__name__}")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ValidationError(f"offset: expected an int, got {type(offset).__name__}")
    if limit == -1:
        limit = None
    if limit is not None and limit < 0:
        raise ValidationError(f"limit: {limit} is negative (use None or -1 for all rows)")
    if offset < 0:
        raise ValidationError(f"offset: {offset} is negative")
    return limit, offset


# --- column converters --------------------------------------------------------------


def text(*, nullable: bool = False) -> Converter:
    def convert(field: str, value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValidationError(f"{field}: expected a string, got {type(value).__name__}")
        return value

    return convert


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field}: expected a bool, got {type(value).__name__}")
    return value


def integer(*, nullable: bool = False) -> Converter:
    def convert(field: str, value: Any) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{field}: expected an int, got {type(value).__name__}")
        return value

    return convert


def json_value(shape: Any, *, nullable: bool = True) -> Converter:
    """Validate a value against ``shape`` and encode it as JSON text; None stays SQL NULL.

    Encoding here (not in the driver) binds the same text on every dialect,
    scalars included: PostgreSQL ``jsonb`` parameters take text, and SQLite's
    JSON columns then hold the same document as the servers.
    """

    def convert(field: str, value: Any) -> str | None:
        if value is None:
            if nullable:
                return None
            raise ValidationError(f"{field}: required, got None")
        parsed = validate_json(field, value, shape)
        _reject_unstorable_in_json(field, parsed)
        return msgspec.json.encode(parsed).decode()

    return convert


def validate_json(field: str, value: Any, shape: Any) -> Any:
    """Convert ``value`` to ``shape`` strictly (no "5" -> 5); a failure names field and path."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"{field}: {exc}") from None


def _reject_unstorable_in_json(field: str, value: Any) -> None:
    """Text no dialect stores (see ``Columns.bind``), and NaN or infinities, which
    JSON cannot hold (the encoder would silently write null)."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise DataError(f"{field}: JSON text contains a NUL byte")
            check_unicode(field, item, "JSON text")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValidationError(f"{field}: {item} cannot be stored as JSON (it would become null)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


class Columns:
    """The writable columns of one table and how caller values become bound parameters."""

    def __init__(self, table: str, converters: Mapping[str, Converter]) -> None:
        self.table = table
        self.converters = dict(converters)
        self.limits = COLUMN_LIMITS.get(table, {})

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Convert and check every value; names without a converter pass through as given.

        Length limits are counted in characters, as VARCHAR(n) is on PostgreSQL
        and utf8mb4 MySQL; SQLite would accept anything, so the check is here.
        """
        params: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, str):
                check_unicode(name, value)  # before a converter parses it
            converter = self.converters.get(name)
            bound = converter(name, value) if converter is not None else value
            if isinstance(bound, str):
                if "\x00" in bound:
                    raise DataError(f"{name}: text contains a NUL byte")
                if bound is not value:
                    check_unicode(name, bound)
                limit = self.limits.get(name)
                if limit is not None and len(bound) > limit:
                    raise ValidationError(
                        f"{name}: {len(bound)} characters, longer than {self.table}.{name} "
                        f"allows ({limit})"
                    )
            params[name] = bound
        return params

    def pick(self, updates: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        """The allow-listed subset of ``updates`` keyed by *our* column-name constants.

        The caller's dict is only read. Its keys never reach SQL text: the
        result's keys are the strings of ``allowed``, in ``allowed``'s order, so
        each combination of columns yields one canonical SQL text.
        """
        if not isinstance(updates, Mapping):
            raise ValidationError(f"updates: expected a dict, got {type(updates).__name__}")
        unknown = [key for key in updates if key not in allowed]
        if unknown:
            raise ValidationError(
                f"updates: {', '.join(map(repr, unknown))} cannot be updated on {self.table} "
                f"(allowed: {', '.join(allowed)})"
            )
        return {name: updates[name] for name in allowed if name in updates}

    def update_sql(self, key: str, columns: Iterable[str]) -> str:
        return _update_sql(self.table, key, tuple(columns))


@functools.lru_cache(maxsize=512)
def _update_sql(table: str, key: str, columns: tuple[str, ...]) -> str:
    """``UPDATE <table> SET <columns> WHERE <key> = :<key>`` from trusted names only.

    ``updated_at`` is never set here: the database's triggers own it. With no
    column to change the statement assigns the key to itself, which still fires
    those triggers, so an empty update moves ``updated_at`` and reports whether
    the row exists, as the old code did.
    """
    assignments = ", ".join(f"{col} = :{col}" for col in columns) or f"{key} = {key}"
    return f"UPDATE {table} SET {assignments} WHERE {key} = :{key}"
