"""Recognise databases whose schema is ahead of their recorded version.

The old runner could leave two such states behind:
a *half-applied* script (its statements committed one by one, the version bump
never happened) and a *fallback-made* database (a script failed and the ORM
created every table directly, leaving the version at 0 or 1). Running the
pending scripts there either fails half-way (``duplicate column name:
agent_mode``) or, worse, succeeds on ``IF NOT EXISTS`` and records a version
whose triggers and CHECKs were never made. So before applying anything rawdb
reads which tables and columns the pending scripts create, looks them up in
the database, and stops with a message naming the state if any already exist.

The statement parsing is deliberately shallow (``CREATE TABLE``, ``ALTER TABLE
... ADD [COLUMN]``, ``RENAME TO``, ``DROP TABLE``): it only has to find the
objects, not understand them, and a table a pending script drops first and
re-creates is not a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import msgspec

from rawdb.migrations.discovery import Script
from rawdb.migrations.errors import UnrecognisedState
from rawdb.migrations.splitter import Statement

_IDENT = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"(?:{_IDENT}\s*\.\s*)?({_IDENT})"
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}",
    re.IGNORECASE,
)
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?{_QUALIFIED}\s+(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ADD_COLUMN = re.compile(rf"(?:^|,)\s*ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})", re.IGNORECASE)
_NOT_COLUMNS = frozenset(
    {
        "constraint",
        "index",
        "key",
        "primary",
        "unique",
        "foreign",
        "check",
        "fulltext",
        "spatial",
        "partition",
        "period",
        "system",
    }
)
_RENAME_TO = re.compile(rf"^RENAME\s+(?:TO|AS)\s+{_QUALIFIED}", re.IGNORECASE)
_DROP_TABLE = re.compile(r"^DROP\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(.+)$", re.IGNORECASE | re.DOTALL)


def _name(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] in ('"', "`", "[") and len(raw) >= 2:
        raw = raw[1:-1]
    return raw.lower()


class Created(msgspec.Struct, frozen=True):
    """A table or column a script creates."""

    version: int
    script: str
    table: str
    column: str | None = None

    def describe(self) -> str:
        return f"table {self.table}" if self.column is None else f"column {self.table}.{self.column}"


def created_objects(
    pending: Sequence[tuple[Script, Sequence[Statement]]],
) -> tuple[list[Created], set[str]]:
    """Tables/columns the pending scripts create that must not exist yet.

    Also returns every table name the scripts touch, so the caller can read
    their columns in one go. Objects a script creates after an earlier pending
    statement dropped or renamed them away are left out (table rebuilds).
    """
    created: list[Created] = []
    fresh: set[str] = set()  # created or emptied by an earlier pending statement
    touched: set[str] = set()
    for script, statements in pending:
        for statement in statements:
            text = statement.text
            if m := _CREATE_TABLE.match(text):
                table = _name(m.group(2))
                if m.group(1) is None:
                    touched.add(table)
                    if table not in fresh:
                        created.append(Created(script.version, script.name, table))
                    fresh.add(table)
            elif m := _ALTER_TABLE.match(text):
                table = _name(m.group(1))
                rest = m.group(2)
                if r := _RENAME_TO.match(rest.strip()):
                    fresh.add(table)
                    fresh.add(_name(r.group(1)))
                    continue
                for col in _ADD_COLUMN.findall(rest):
                    column = _name(col)
                    if column in _NOT_COLUMNS:
                        continue
                    touched.add(table)
                    if table not in fresh:
                        created.append(Created(script.version, script.name, table, column))
            elif m := _DROP_TABLE.match(text):
                for part in m.group(1).split(","):
                    part = part.strip().split()[0] if part.strip() else ""
                    if part:
                        fresh.add(_name(part.split(".")[-1]))
    return created, touched


def conflicts(created: Iterable[Created], tables: set[str], columns: dict[str, set[str]]) -> list[Created]:
    """The created objects that already exist in the database."""
    found: list[Created] = []
    for obj in created:
        if obj.column is None:
            if obj.table in tables:
                found.append(obj)
        elif obj.column in columns.get(obj.table, set()):
            found.append(obj)
    return found


def suggest_baseline(created: Sequence[Created], present: Sequence[Created], version: int) -> int | None:
    """Highest version whose created objects (and all earlier pending ones) all exist."""
    present_set = set(present)
    by_version: dict[int, list[Created]] = {}
    for obj in created:
        by_version.setdefault(obj.version, []).append(obj)
    best: int | None = None
    for v in sorted(by_version):
        objs = by_version[v]
        if all(o in present_set for o in objs):
            best = v
        else:
            break
    return best if best is not None and best > version else None


def unrecognised_state(
    *,
    dialect: str,
    version: int,
    has_history: bool,
    created: Sequence[Created],
    present: Sequence[Created],
    folder_flag: str = "--dir DIR",
) -> UnrecognisedState:
    """Build the error that names the state, the objects and the way out.

    ``folder_flag`` is how the CLI names the scripts in use (``--store`` or ``--dir DIR``).
    """
    versions = sorted({o.version for o in present})
    if dialect == "sqlite" and versions == [version + 1]:
        state = "half-applied"
        looks = (
            f"{present[0].script} half-applied: the old runner committed part of it and "
            f"crashed before setting user_version to {version + 1}"
        )
    elif dialect == "sqlite" and not has_history:
        state = "fallback"
        looks = (
            "a database built by the old runner's fallback (after a failed script it created "
            "the tables directly, without triggers or CHECKs, and left user_version behind)"
        )
    else:
        state = "unmanaged"
        looks = "a database created or changed outside rawdb's migrations"
    objects = ", ".join(o.describe() for o in present[:8])
    if len(present) > 8:
        objects += f" and {len(present) - 8} more"
    scripts = ", ".join(sorted({o.script for o in present}))
    label = "user_version" if dialect == "sqlite" else "recorded version"
    suggestion = suggest_baseline(created, present, version)
    if suggestion is not None:
        repair = (
            " On SQLite it first brings the schema to that version in the same transaction "
            "(the data fixes of the scripts it skips, tables rebuilt with the scripts' "
            "definition, missing indexes and triggers), keeping every row."
            if dialect == "sqlite"
            else ""
        )
        way_out = (
            f"If the schema matches v{suggestion:03d}, adopt it explicitly with "
            f"`rawdb baseline --to {suggestion} {folder_flag}` (Migrator.baseline({suggestion})): it "
            "checks that every table and column of that version exists, records it, and reports "
            f"the remaining differences; it never drops data.{repair}"
        )
    else:
        way_out = (
            "No script version matches the tables present; repair the schema by hand, then "
            f"use `rawdb baseline --to N {folder_flag}` (Migrator.baseline(N))."
        )
    message = (
        f"database state not recognised ({state}): its {label} is {version}, but {objects} "
        f"already {'exists' if len(present) == 1 else 'exist'}, which {scripts} would create. "
        f"This looks like {looks}. rawdb does not guess and has changed nothing. {way_out}"
    )
    return UnrecognisedState(message, state=state, suggested_baseline=suggestion)
