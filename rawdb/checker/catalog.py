"""The named queries of one or more directories, per dialect, with the file and line of each.

The same override rules as `rawdb.load_queries` apply (``<group>.<dialect>.sql``
replaces a block of ``<group>.sql`` for that dialect only), and the loader runs
first, so a file it would refuse is refused here with its own message. What this
adds is where each dialect's text of a query comes from, so a finding can point
at the line a reader has to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rawdb.queries import DIALECTS, QueryBlock, load_queries, parse_query_blocks

__all__ = ["Catalog", "QuerySource", "load_catalog"]


class QuerySource(NamedTuple):
    """One dialect's text of one named query, and where it is written."""

    group: str
    name: str
    path: Path
    line: int
    body_line: int
    sql: str
    into: str | None
    """The Struct the ``-- name:`` line declares (``-> Task``), if any."""

    @property
    def key(self) -> tuple[str, str]:
        return self.group, self.name

    def file_line(self, statement_line: int | None) -> int:
        """The file line of a 1-based line of the statement (the ``-- name:`` line if unknown)."""
        if statement_line is None:
            return self.line
        return self.body_line + max(statement_line, 1) - 1


class Catalog(NamedTuple):
    directory: Path
    by_dialect: dict[str, dict[tuple[str, str], QuerySource]]

    def queries(self, dialect: str) -> dict[tuple[str, str], QuerySource]:
        return self.by_dialect[dialect]


def load_catalog(directory: Path) -> Catalog:
    """Every query of ``directory`` for every dialect; `QueryFileError` as the loader raises it."""
    for dialect in DIALECTS:
        load_queries(dialect, directory)  # the loader's own consistency checks
    bases: dict[str, list[tuple[Path, QueryBlock]]] = {}
    overrides: dict[tuple[str, str], dict[str, tuple[Path, QueryBlock]]] = {}
    for path in sorted(directory.glob("*.sql")):
        stem, dot, dialect = path.name[: -len(".sql")].partition(".")
        parsed = parse_query_blocks(path.read_text(encoding="utf-8"), str(path))
        if dot:
            overrides[(stem, dialect)] = {block.name: (path, block) for block in parsed}
        else:
            bases[stem] = [(path, block) for block in parsed]
    by_dialect: dict[str, dict[tuple[str, str], QuerySource]] = {}
    for dialect in DIALECTS:
        found: dict[tuple[str, str], QuerySource] = {}
        for stem, blocks in bases.items():
            replaced = overrides.get((stem, dialect), {})
            for base_path, base in blocks:
                path, block = replaced.get(base.name, (base_path, base))
                # An override restates the SQL; the Struct it fills is the base file's unless it says.
                found[(stem, block.name)] = QuerySource(
                    stem, block.name, path, block.line, block.body_line, block.sql, block.into or base.into
                )
        by_dialect[dialect] = found
    return Catalog(directory, by_dialect)
