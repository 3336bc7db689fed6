"""SQLite baseline: make an adopted file's schema what the scripts build, keeping every row.

The files this exists for were made by the old system's fallback: after a
script failed, its ORM created the tables directly, with no column defaults
(the ORM filled them in Python), no CHECKs and no triggers, and the data fixes
of the scripts it skipped (upper-case task statuses) never ran. Recording a
version over such a file is not enough: every INSERT that leaves a default to
the database fails with ``NOT NULL constraint failed``, ``updated_at`` never
moves, and upper-case statuses are invisible to queries that ask for
``'running'``. So baseline brings the file to the version it records, in the
same transaction that records it:

1. **Data fixes.** The ``UPDATE`` and ``DELETE`` statements of the scripts the
   baseline records without running are run, in order, before anything else
   (so rows satisfy the CHECKs the rebuilt tables add). They are the scripts'
   own fix-ups and must be safe to run on data that may already be fixed; an
   ``INSERT`` is never re-run (it would duplicate seed rows) and is reported.
2. **Table rebuilds.** A table whose columns (order, type, NOT NULL, default)
   or CHECK constraints differ from what the scripts build is rebuilt the way
   SQLite documents for schema changes ALTER TABLE cannot make: create the
   scripts' definition under a temporary name, copy every row by column name,
   drop the old table, rename the new one, re-create its indexes and triggers.
   Columns the scripts do not have are kept (added to the new table with
   their declared type) and reported; a row the new definition rejects stops
   the whole baseline with the database's message. Foreign keys are off while
   tables are swapped (dropping a parent must not cascade into its children)
   and checked with ``PRAGMA foreign_key_check`` before the commit.
3. **Missing objects.** Indexes and triggers the scripts define are created
   where missing; an index of the same name on other columns is replaced (an
   index holds no data). Indexes, triggers, tables and views the scripts do not
   define are left in place and reported.

Everything runs inside the baseline's ``BEGIN IMMEDIATE`` transaction: it
commits with the recorded version or not at all.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from rawdb.errors import MigrationError, RawDBError
from rawdb.migrations.discovery import Script
from rawdb.migrations.shape import Shape, Table, norm, own_table
from rawdb.migrations.splitter import Statement
from rawdb.session import Connection

_DATA_FIX = re.compile(r"^(UPDATE|DELETE)\b", re.IGNORECASE)
_SEED = re.compile(r"^(INSERT|REPLACE)\b", re.IGNORECASE)
_CREATE_TABLE_NAME = re.compile(r'^(CREATE\s+TABLE\s+)("(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\s(]+)', re.IGNORECASE)
REBUILD_PREFIX = "rawdb_rebuild_"
"""Temporary name of a table being rebuilt (``rawdb_*``: never part of an application schema)."""


class SchemaObject(msgspec.Struct, frozen=True):
    """One row of ``sqlite_master`` that has SQL (not an automatic index)."""

    type: str
    name: str
    table: str
    sql: str

    @property
    def key(self) -> str:
        return f"{self.type}:{self.name.lower()}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_objects(rows: Sequence[Sequence[Any]]) -> dict[str, SchemaObject]:
    """``SELECT type, name, tbl_name, sql FROM sqlite_master`` rows, keyed by `key`."""
    objects: dict[str, SchemaObject] = {}
    for kind, name, table, sql in rows:
        if sql is None or str(name).startswith("sqlite_") or own_table(str(table)):
            continue
        obj = SchemaObject(str(kind), str(name), str(table).lower(), str(sql))
        objects[obj.key] = obj
    return objects


OBJECTS_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"


def scratch_objects(scripts: Sequence[tuple[Script, Sequence[Statement]]]) -> dict[str, SchemaObject]:
    """The objects the scripts create, with their SQL, from an in-memory database."""
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for _script, statements in scripts:
            for statement in statements:
                scratch.execute(statement.text)
        return read_objects(scratch.execute(OBJECTS_SQL).fetchall())
    except sqlite3.Error as exc:
        raise RawDBError(f"the scripts failed on a scratch database: {exc}") from exc
    finally:
        scratch.close()


def _column_signature(table: Table, names: Sequence[str]) -> list[tuple[str, str | None, bool, str | None]]:
    return [(n, norm(table.columns[n].type), table.columns[n].notnull, norm(table.columns[n].default)) for n in names]


def needs_rebuild(expected: Table, actual: Table) -> bool:
    """Do the table's own columns or CHECKs differ from the scripts' definition?

    Columns only the database has do not count (they are kept either way).
    """
    wanted = list(expected.columns)
    present = [c for c in actual.columns if c in expected.columns]
    if present != wanted:
        return True
    if _column_signature(expected, wanted) != _column_signature(actual, wanted):
        return True
    return expected.checks != actual.checks


def renamed_create(sql: str, name: str) -> str:
    """The scripts' ``CREATE TABLE`` text, creating ``name`` instead."""
    new, count = _CREATE_TABLE_NAME.subn(lambda m: m.group(1) + quote(name), sql, count=1)
    if count != 1:  # pragma: no cover - sqlite_master always starts with CREATE TABLE
        raise MigrationError(f"cannot read the table definition to rebuild from: {sql[:80]!r}")
    return new


class Conformer:
    """One baseline's repair, on the migration connection, inside its transaction."""

    def __init__(self, conn: Connection, *, version: int) -> None:
        self.conn = conn
        self.version = version
        self.done: list[str] = []

    async def _objects(self) -> dict[str, SchemaObject]:
        rows: list[Any] = await self.conn.fetch_all(OBJECTS_SQL)
        return read_objects(rows)

    async def _run(self, sql: str, what: str) -> int:
        try:
            return await self.conn.execute_verbatim(sql)
        except RawDBError as exc:
            raise MigrationError(
                f"cannot baseline to v{self.version:03d}: {what} failed: {exc}. Nothing was changed "
                "or recorded; fix the data (or the schema) and run baseline again."
            ) from exc

    async def data_fixes(self, skipped: Sequence[tuple[Script, Sequence[Statement]]]) -> None:
        for script, statements in skipped:
            fixes = [s for s in statements if _DATA_FIX.match(s.text)]
            seeds = [s for s in statements if _SEED.match(s.text)]
            changed = 0
            for statement in fixes:
                changed += max(
                    0,
                    await self._run(
                        statement.text,
                        f"{script.name} statement {statement.index} (line {statement.line}, a data fix)",
                    ),
                )
            if fixes:
                self.done.append(
                    f"{script.name}: ran its {len(fixes)} data statement(s) (UPDATE/DELETE), "
                    f"{changed} row(s) changed"
                )
            if seeds:
                lines = ", ".join(str(s.line) for s in seeds)
                self.done.append(
                    f"{script.name}: its INSERT statement(s) (line {lines}) were not run: check "
                    "whether their rows exist"
                )

    async def rebuild(
        self, table: str, expected: Shape, actual: Shape, wanted: Mapping[str, SchemaObject]
    ) -> None:
        """Swap ``table`` for the scripts' definition, rows and extra columns kept."""
        have = actual.tables[table]
        objects = await self._objects()
        name = objects[f"table:{table}"].name if f"table:{table}" in objects else table
        own = [o for o in objects.values() if o.table == table and o.type in ("index", "trigger")]
        temp = REBUILD_PREFIX + table
        await self._run(f"DROP TABLE IF EXISTS {quote(temp)}", f"clearing {temp}")
        await self._run(renamed_create(wanted[f"table:{table}"].sql, temp), f"creating the new {table}")
        extra = [c for c in have.columns if c not in expected.tables[table].columns]
        for column in extra:
            ctype = have.columns[column].type
            await self._run(
                f"ALTER TABLE {quote(temp)} ADD COLUMN {quote(column)} {ctype}".rstrip(),
                f"keeping column {table}.{column}",
            )
        columns = ", ".join(quote(c) for c in [*expected.tables[table].columns, *extra])
        before = int(await self.conn.fetch_val(f"SELECT COUNT(*) FROM {quote(name)}"))
        await self._run(
            f"INSERT INTO {quote(temp)} ({columns}) SELECT {columns} FROM {quote(name)}",
            f"copying the rows of {table} into the scripts' definition (a row breaks one of its "
            "constraints)",
        )
        copied = int(await self.conn.fetch_val(f"SELECT COUNT(*) FROM {quote(temp)}"))
        if copied != before:  # pragma: no cover - INSERT ... SELECT copies all or fails
            raise MigrationError(f"rebuilding {table}: {before} rows before, {copied} copied; nothing was changed")
        await self._run(f"DROP TABLE {quote(name)}", f"dropping the old {table}")
        await self._run(f"ALTER TABLE {quote(temp)} RENAME TO {quote(name)}", f"renaming the new {table}")
        for obj in wanted.values():
            if obj.table == table and obj.type in ("index", "trigger"):
                await self._run(obj.sql, f"creating {obj.type} {obj.name}")
        made = [o for o in wanted.values() if o.table == table and o.type in ("index", "trigger")]
        kept = [o for o in own if o.key not in wanted]
        for obj in kept:
            await self._run(obj.sql, f"re-creating {obj.type} {obj.name}")
        triggers = sum(1 for o in made if o.type == "trigger")
        note = f"; kept its column(s) {', '.join(extra)}" if extra else ""
        if kept:
            note += f"; kept its own {', '.join(o.name for o in kept)}"
        self.done.append(
            f"rebuilt table {table} with the definition of v{self.version:03d} ({copied} row(s) "
            f"copied, {len(made) - triggers} index(es) and {triggers} trigger(s) of the scripts){note}"
        )

    async def missing_objects(
        self, rebuilt: set[str], wanted: Mapping[str, SchemaObject], expected: Shape, actual: Shape
    ) -> None:
        """Indexes, triggers and views of the scripts that tables not rebuilt lack."""
        objects = await self._objects()
        for key, obj in wanted.items():
            if obj.type not in ("index", "trigger", "view") or obj.table in rebuilt:
                continue
            have = objects.get(key)
            if have is not None:
                want_index = expected.indexes.get(obj.name.lower())
                have_index = actual.indexes.get(obj.name.lower())
                if obj.type != "index" or want_index is None or have_index is None:
                    continue
                if norm(want_index.definition) == norm(have_index.definition) and want_index.table == have_index.table:
                    continue
                await self._run(f"DROP INDEX {quote(have.name)}", f"dropping index {have.name}")
                await self._run(obj.sql, f"creating index {obj.name}")
                self.done.append(f"replaced index {obj.name} ({have_index.definition}) with the scripts' definition")
                continue
            await self._run(obj.sql, f"creating {obj.type} {obj.name}")
            self.done.append(f"created {obj.type} {obj.name}")

    async def foreign_keys(self, rebuilt: set[str]) -> None:
        rows: list[Any] = await self.conn.fetch_all("SELECT * FROM pragma_foreign_key_check")
        broken = [r for r in rows if str(r[0]).lower() in rebuilt or str(r[2]).lower() in rebuilt]
        if broken:
            listing = ", ".join(f"{r[0]} row {r[1]} -> {r[2]}" for r in broken[:5])
            raise MigrationError(
                f"cannot baseline to v{self.version:03d}: after rebuilding {', '.join(sorted(rebuilt))} "
                f"{len(broken)} row(s) break a foreign key ({listing}). Nothing was changed or "
                "recorded; fix those rows and run baseline again."
            )



async def conform(
    conn: Connection,
    scripts: Sequence[tuple[Script, Sequence[Statement]]],
    skipped: Sequence[tuple[Script, Sequence[Statement]]],
    *,
    version: int,
    expected: Shape,
    actual: Shape,
) -> list[str]:
    """Bring the database to what ``scripts`` build (see the module); returns what was done.

    ``skipped`` are the scripts baseline records without having run them (their
    data fixes run); ``expected``/``actual`` the shapes already compared, with no
    table or column missing.
    """
    wanted = scratch_objects(scripts)
    conformer = Conformer(conn, version=version)
    await conformer.data_fixes(skipped)
    rebuilt = {
        table
        for table, want in expected.tables.items()
        if table in actual.tables and needs_rebuild(want, actual.tables[table])
    }
    for table in sorted(rebuilt):
        await conformer.rebuild(table, expected, actual, wanted)
    await conformer.missing_objects(rebuilt, wanted, expected, actual)
    if rebuilt:
        await conformer.foreign_keys(rebuilt)
    return conformer.done
