"""Which scripts folder a database's migration history belongs to.

A history (``rawdb_schema_history``) only means something next to the scripts
that wrote it: its checksums, its dirty mark and its resume point all refer to
those files. Run against another folder, every row looks "drifted", and a
``repair --accept`` would overwrite the record with the other folder's
checksums, after which ``migrate`` applies that folder's later scripts to a
schema they were never written for. So every run first checks that the folder
it was given is the one that wrote the history, and refuses otherwise.

A folder is identified by its first script (``v001``): that checksum does not
change when the folder moves, is renamed or gains scripts, and it is the same
for every copy of rawdb's bundled schema. It is recorded in the history itself,
as the row with version 0 (``method = 'owner'``), written in the same
transaction as the first script's row. A folder also owns a history when its
scripts match what the history records as applied (a successful row's
checksum, or the statements a partly applied script already ran): that keeps
the legitimate edits of an owner's own first script working (fixing the failed
statement of a partly applied v001 before resuming it, or accepting an edit
with ``repair --accept v001`` while later scripts still match), and attributes
histories written before the owner row existed. A history that records nothing
applied yet belongs to nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from rawdb.migrations.discovery import Script, bundled_checksums
from rawdb.migrations.errors import ForeignHistory

OWNER_VERSION = 0
"""The history row that names the owning folder; scripts start at version 1."""
OWNER_METHOD = "owner"


class Owner(msgspec.Struct, frozen=True):
    """A scripts set, as its first script identifies it."""

    name: str
    """The first script's file name (for messages only; renaming it changes nothing)."""
    checksum: str
    """The first script's checksum: the identity."""


def folder_owner(scripts: Sequence[Script]) -> Owner | None:
    """The identity of a folder's scripts (None for a folder without scripts)."""
    if not scripts:
        return None
    return Owner(name=scripts[0].name, checksum=scripts[0].checksum)


def is_bundled(owner: Owner | None, dialect: str) -> bool:
    return owner is not None and bundled_checksums(dialect).get(1) == owner.checksum


def _label(owner: Owner, dialect: str) -> str:
    if is_bundled(owner, dialect):
        return "rawdb's bundled application schema (rawdb.store.MIGRATIONS)"
    return f"the scripts folder whose first script is {owner.name} (checksum {owner.checksum[:12]}...)"


def ownership_error(
    *,
    recorded: Owner | None,
    applied: Sequence[tuple[int, str, str]],
    matched: bool,
    user_version_only: int,
    scripts: Sequence[Script],
    directory: Path,
    dialect: str,
    adopting: bool = False,
) -> ForeignHistory | None:
    """Why ``scripts`` may not act on this history, or None if they own it.

    ``recorded`` is the owner row, if the history has one. ``applied`` are the
    (version, name, checksum) of the rows that record something applied, and
    ``matched`` says whether the folder's scripts match at least one of them.
    ``user_version_only`` is the SQLite ``user_version`` of a file without any
    history (0 otherwise): the old runner of the bundled schema set it, so only
    that schema continues from it, unless ``adopting`` (baseline, which checks
    the tables itself before recording anything).
    """
    mine = folder_owner(scripts)
    if recorded is not None and mine is not None and recorded.checksum == mine.checksum:
        return None
    if applied and matched:
        return None
    given = "rawdb's bundled application schema" if is_bundled(mine, dialect) else f"the scripts in {directory}"
    if mine is not None:
        given += f" (first script {mine.name}, checksum {mine.checksum[:12]}...)"
    else:
        given += " (the folder holds no scripts)"
    if not applied:
        if user_version_only > 0 and not adopting and not is_bundled(mine, dialect):
            return ForeignHistory(
                f"this SQLite file is at user_version {user_version_only} but has no rawdb migration "
                "history: the old runner of rawdb's bundled application schema (or another tool) "
                f"set that number, so versions 1..{user_version_only} of {given} cannot be "
                "assumed to be applied. If it is one of the old system's files, migrate it with "
                "rawdb's bundled schema (directory=rawdb.store.MIGRATIONS, CLI --store); to adopt "
                "it for this folder, check and record it explicitly with "
                f"`rawdb baseline --to {user_version_only} --dir DIR` "
                f"(Migrator.baseline({user_version_only})). Nothing was changed.",
                recorded=None,
                given=mine.checksum if mine is not None else None,
            )
        return None
    owner = recorded
    if owner is None:
        bundled = bundled_checksums(dialect)
        if any(bundled.get(version) == checksum for version, _name, checksum in applied):
            owner = Owner(name="v001", checksum=bundled[1])
    if owner is not None:
        label = _label(owner, dialect)
    else:
        names = ", ".join(name for _version, name, _checksum in applied[:3])
        label = f"another scripts folder (it recorded {names}, none of which matches this folder)"
    how = (
        "directory=rawdb.store.MIGRATIONS, CLI --store"
        if is_bundled(owner, dialect)
        else "directory='path/to/migrations', CLI --dir DIR"
    )
    message = (
        f"this database's migration history was written by {label}, not by {given}. rawdb "
        "never migrates, repairs or baselines one folder's history with another folder's "
        "scripts; nothing was changed. Run it with the folder that wrote the history "
        f"({how})."
    )
    if not is_bundled(owner, dialect) and not is_bundled(mine, dialect):
        message += (
            " If this is that folder and the scripts it applied were edited since (its first "
            "script included), restore them: a folder is recognised by the scripts it applied."
        )
    return ForeignHistory(
        message,
        recorded=owner.checksum if owner is not None else None,
        given=mine.checksum if mine is not None else None,
    )
