"""Named SQL queries, loaded once per dialect from ``sql/queries/``.

SQL lives in ``.sql`` files rather than Python strings so that it can be read,
reviewed and run by hand. Each file holds the queries of one table (or one
shared fragment such as ``paging``) as blocks introduced by ``-- name: <op>``::

    -- name: get_task
    SELECT task_id, ... FROM tasks WHERE task_id = :task_id

A dialect whose syntax really differs gets an override file
``<table>.<dialect>.sql`` holding only the blocks that differ (upserts,
OFFSET without LIMIT). The override wins for that dialect; everything else
comes from the base file. Every inconsistency is an error at load time, not at
the first call: a name defined twice in one file, an override whose name the
base file lacks, a file named for an unknown dialect, and a query that a caller
declared it needs (``required=``) but no file defines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from rawdb.errors import ConfigError

__all__ = [
    "DIALECTS",
    "Queries",
    "QueryBlock",
    "QueryFileError",
    "QueryGroup",
    "load_queries",
    "parse_query_blocks",
    "parse_query_file",
    "sql_root",
]

DIALECTS: tuple[str, ...] = ("sqlite", "postgresql", "mysql")

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>\S+?)(?:\s*->\s*(?P<into>\S*))?\s*$")
_STRUCT_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryFileError(ConfigError):
    """A named-query file is malformed or inconsistent; the message names file and query."""


def sql_root() -> Path:
    """Return the directory holding ``migrations/`` and ``queries/``.

    An installed wheel carries the SQL inside the package (``rawdb/sql``, see the
    ``force-include`` in pyproject); a checkout or an editable install keeps it at
    the repository root. The packaged copy is preferred so that an installed
    rawdb never reads SQL from whatever directory happens to sit beside it.
    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "sql", package_dir.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        f"rawdb's SQL directory was not found (looked in {package_dir / 'sql'} "
        f"and {package_dir.parent / 'sql'}); the installation is incomplete"
    )


class QueryBlock(NamedTuple):
    """One ``-- name:`` block of a file, with where it sits (for error messages)."""

    name: str
    sql: str
    line: int
    """Line of the ``-- name:`` line (1-based)."""
    body_line: int
    """Line where the SQL starts: line ``n`` of the statement is ``body_line + n - 1``."""
    into: str | None
    """The Struct the block declares it fills (``-- name: get_task -> Task``), if any."""


def parse_query_file(text: str, source: str = "<string>") -> dict[str, str]:
    """Split one file's text into ``{name: sql}`` (see `parse_query_blocks`)."""
    return {block.name: block.sql for block in parse_query_blocks(text, source)}


def parse_query_blocks(text: str, source: str = "<string>") -> list[QueryBlock]:
    """Split one file's text into its named blocks, in file order.

    Comment lines directly after a ``-- name:`` line document the query and are
    dropped; the body is stripped of surrounding blank space and of one trailing
    semicolon (drivers reject a trailing ``;`` in some modes). Text before the
    first ``-- name:`` may only be comments or blank lines, so a stray statement
    cannot silently vanish. ``-- name: get_task -> Task`` also names the Struct
    the query's rows fill, for ``rawdb check``; the loader itself ignores it.
    """
    blocks: list[QueryBlock] = []
    seen: set[str] = set()
    current: str | None = None
    into: str | None = None
    name_line = body_line = 0
    body: list[str] = []

    def finish() -> None:
        if current is None:
            return
        sql = "\n".join(body).strip()
        if sql.endswith(";"):
            sql = sql[:-1].rstrip()
        if not sql:
            raise QueryFileError(f"{source}: query {current!r} has no SQL")
        blocks.append(QueryBlock(current, sql, name_line, body_line, into))

    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _NAME_LINE.match(line.strip())
        if match:
            finish()
            name = match.group("name")
            if not _IDENTIFIER.match(name):
                raise QueryFileError(f"{source}:{lineno}: {name!r} is not a valid query name")
            if name in seen:
                raise QueryFileError(f"{source}:{lineno}: query {name!r} is defined twice")
            into = match.group("into")
            if into is not None and not _STRUCT_REF.match(into):
                raise QueryFileError(
                    f"{source}:{lineno}: {into!r} after '->' is not a Struct name "
                    "(Name, or module.path.Name)"
                )
            seen.add(name)
            current, body, name_line = name, [], lineno
            continue
        stripped = line.strip()
        if current is None:
            if stripped and not stripped.startswith("--"):
                raise QueryFileError(
                    f"{source}:{lineno}: SQL before the first '-- name:' line"
                )
            continue
        if not body and (not stripped or stripped.startswith("--")):
            continue  # the query's doc comment
        if not body:
            body_line = lineno
        body.append(line.rstrip())
    finish()
    return blocks


# SQL text -> "group.query" for every named query loaded: traces and the slow-query
# log name a statement by its query rather than by its text, at one dict lookup.
QUERY_NAMES: dict[str, str] = {}


class QueryGroup(Mapping[str, str]):
    """The queries of one file for one dialect: ``group.get_task`` or ``group["get_task"]``."""

    __slots__ = ("_queries", "name")

    def __init__(self, name: str, queries: Mapping[str, str]) -> None:
        self.name = name
        self._queries = dict(queries)
        for key, text in self._queries.items():
            QUERY_NAMES[text] = f"{name}.{key}"

    def __getitem__(self, key: str) -> str:
        try:
            return self._queries[key]
        except KeyError:
            raise KeyError(f"no query {key!r} in {self.name}") from None

    def __getattr__(self, key: str) -> str:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._queries[key]
        except KeyError:
            raise AttributeError(f"no query {key!r} in {self.name}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def __repr__(self) -> str:
        return f"<QueryGroup {self.name}: {len(self)} queries>"


class Queries(Mapping[str, QueryGroup]):
    """Every query file of one dialect.

    ``queries.tasks.get_task``, ``queries["tasks"]["get_task"]`` and
    ``queries.sql("tasks.get_task")`` all give the SQL text.
    """

    __slots__ = ("_groups", "dialect")

    def __init__(self, dialect: str, groups: Mapping[str, QueryGroup]) -> None:
        self.dialect = dialect
        self._groups = dict(groups)

    def __getitem__(self, key: str) -> QueryGroup:
        try:
            return self._groups[key]
        except KeyError:
            raise KeyError(f"no query file {key!r} for {self.dialect}") from None

    def sql(self, dotted: str) -> str:
        """Return the text of ``"<file>.<query>"``."""
        group, _, name = dotted.partition(".")
        return self[group][name]

    def __getattr__(self, key: str) -> QueryGroup:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._groups[key]
        except KeyError:
            raise AttributeError(f"no query file {key!r} for {self.dialect}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __repr__(self) -> str:
        return f"<Queries {self.dialect}: {', '.join(sorted(self._groups))}>"


def load_queries(
    dialect_name: str,
    directory: str | Path | None = None,
    *,
    required: Mapping[str, Iterable[str]] | None = None,
) -> Queries:
    """Load every query file of ``directory`` (default ``sql_root()/"queries"``) for a dialect.

    Overrides for *all* dialects are checked, not just the requested one, so a
    broken MySQL override fails a SQLite start-up too instead of waiting for the
    first MySQL deployment. ``required`` maps a file name to the query names a
    caller will use; a missing one is an error here rather than at call time.
    """
    if dialect_name not in DIALECTS:
        raise ConfigError(f"unknown dialect {dialect_name!r}; expected one of {DIALECTS}")
    root = Path(directory) if directory is not None else sql_root() / "queries"
    if not root.is_dir():
        raise QueryFileError(f"query directory {root} does not exist")

    bases: dict[str, dict[str, str]] = {}
    overrides: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted(root.glob("*.sql")):
        stem, dot, dialect = path.name[: -len(".sql")].partition(".")
        parsed = parse_query_file(path.read_text(encoding="utf-8"), str(path))
        if not dot:
            bases[stem] = parsed
        elif dialect in DIALECTS:
            overrides[(stem, dialect)] = parsed
        else:
            raise QueryFileError(
                f"{path}: {dialect!r} is not a dialect; override files are "
                f"<name>.<dialect>.sql with dialect in {DIALECTS}"
            )

    for (stem, dialect), parsed in overrides.items():
        base = bases.get(stem)
        if base is None:
            raise QueryFileError(f"{root / f'{stem}.{dialect}.sql'}: there is no {stem}.sql")
        extra = sorted(set(parsed) - set(base))
        if extra:
            raise QueryFileError(
                f"{root / f'{stem}.{dialect}.sql'} overrides {extra}, "
                f"which {stem}.sql does not define"
            )

    groups = {
        stem: QueryGroup(stem, {**base, **overrides.get((stem, dialect_name), {})})
        for stem, base in bases.items()
    }
    for stem, names in (required or {}).items():
        group = groups.get(stem)
        missing = sorted(set(names) - set(group or ()))
        if missing:
            raise QueryFileError(f"{root / f'{stem}.sql'} lacks required queries {missing}")
    return Queries(dialect_name, groups)
