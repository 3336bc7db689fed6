"""Migration errors that carry structured details next to their message.

They subclass the public classes in `rawdb.errors`, so ``except
rawdb.MigrationError`` catches them all; the attributes let tools (and tests)
act on the failing file and statement without parsing text.
"""

from __future__ import annotations

from rawdb.errors import MigrationDrift, MigrationError


class MigrationScriptError(MigrationError):
    """A statement of a script failed; the database stays at ``version``."""

    def __init__(
        self,
        message: str,
        *,
        script: str,
        path: str,
        statement: int,
        line: int,
        first_line: str,
        database_message: str,
        version: int,
    ) -> None:
        super().__init__(message)
        self.script = script
        self.path = path
        self.statement = statement
        self.line = line
        self.first_line = first_line
        self.database_message = database_message
        self.version = version


class UnrecognisedState(MigrationError):
    """Objects the pending scripts would create already exist (old runner or fallback).

    ``state`` is ``"half-applied"``, ``"fallback"`` or ``"unmanaged"``;
    ``suggested_baseline`` is the highest version whose tables and columns are
    all present (``None`` when no version fits).
    """

    def __init__(self, message: str, *, state: str, suggested_baseline: int | None) -> None:
        super().__init__(message)
        self.state = state
        self.suggested_baseline = suggested_baseline


class ForeignHistory(MigrationDrift):
    """The database's migration history belongs to another scripts folder.

    A `MigrationDrift`: none of the scripts the history records as applied is in
    the folder as it was applied, which is also what editing every one of them
    would look like; the message names both readings. ``recorded`` and
    ``given`` are the checksums of the two folders' first scripts, which
    identify them (``None``: not known / no scripts).
    """

    def __init__(self, message: str, *, recorded: str | None, given: str | None) -> None:
        super().__init__(message)
        self.recorded = recorded
        self.given = given
