"""``rawdb new NAME``: the next migration script, numbered for every dialect's folder at once.

Version N means the same schema on every dialect, so the new script gets one
number in every folder, and every folder must agree on what that number is.
The name has to make a file the migrator accepts (``vNNN_description.sql``);
a folder that already breaks the ordering rules is refused with the
migrator's own message rather than made worse.
"""

from __future__ import annotations

import os
from pathlib import Path

from rawdb.errors import ConfigError
from rawdb.migrations.discovery import SCRIPT_NAME, BundledSchema, MigrationSource, discover
from rawdb.queries import DIALECTS

__all__ = ["new_migration", "script_folders"]

_TRANSACTIONAL = """\
-- Runs in one transaction with its version bump and history row: all of it is applied,
-- or none of it. A statement that cannot run in a transaction (VACUUM, CREATE INDEX
-- CONCURRENTLY) needs a script of its own whose first line is: -- rawdb: no-transaction
"""
_MYSQL = """\
-- MySQL/MariaDB commit DDL implicitly, so this script is not one transaction: it runs
-- statement by statement, each recorded as it completes. A failing statement marks
-- the database dirty; after fixing the schema by hand, `rawdb repair` clears the mark
-- and `rawdb migrate` resumes at that statement. Keep one schema change per statement.
"""


def script_folders(source: MigrationSource) -> dict[str, Path]:
    """Dialect (or "" for a folder shared by every dialect) -> the folder its scripts live in."""
    if isinstance(source, BundledSchema):
        return {dialect: source.directory(dialect) for dialect in DIALECTS}
    root = Path(source)
    if not root.is_dir():
        raise ConfigError(f"migration folder {root} does not exist")
    per_dialect = {d: root / d for d in DIALECTS if (root / d).is_dir()}
    return per_dialect or {"": root}


def new_migration(name: str, source: MigrationSource | str | os.PathLike[str]) -> list[Path]:
    """Create ``vNNN_<name>.sql`` in each folder of ``source``; return the files made."""
    if not isinstance(name, str) or "." in name or SCRIPT_NAME.match(f"v001_{name}.sql") is None:
        raise ConfigError(
            f"{name!r} cannot name a migration: use letters, digits, '_' and '-', starting with a "
            "letter or digit (the number and .sql are added)"
        )
    if SCRIPT_NAME.match(f"{name}.sql"):
        raise ConfigError(f"{name!r} already carries a version number: give only the description")
    folders = script_folders(source)
    versions = {dialect: len(discover(folder)) + 1 for dialect, folder in folders.items()}
    if len(set(versions.values())) > 1:
        listing = ", ".join(f"{folders[d]} would get v{v:03d}" for d, v in versions.items())
        raise ConfigError(f"the dialects' folders disagree on the next version ({listing}); "
                          "version N must mean the same schema on every dialect")
    version = next(iter(versions.values()))
    made: list[Path] = []
    try:
        for dialect, folder in folders.items():
            path = folder / f"v{version:03d}_{name}.sql"
            title = f"-- v{version:03d}{f' ({dialect})' if dialect else ''}: {name.replace('_', ' ')}\n"
            body = _MYSQL if dialect == "mysql" else _TRANSACTIONAL
            if not dialect:
                body += "-- On MySQL/MariaDB it runs statement by statement instead (DDL commits implicitly).\n"
            with path.open("x", encoding="utf-8") as out:
                out.write(title + "--\n" + body + "\n")
            made.append(path)
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    return made
