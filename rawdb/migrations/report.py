"""What a migration run tells its caller: plain msgspec Structs.

Structs rather than log lines because deploy scripts and health checks want
to act on the result (``report.after``, ``status.drift``) and the CLI only
formats them. All durations are milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class PlannedScript(msgspec.Struct, frozen=True):
    """A script a run will apply (or, in a dry run, would apply)."""

    version: int
    name: str
    checksum: str
    statements: int
    transactional: bool
    resume_at: int = 1
    """MySQL after ``repair``: the first statement still to run (earlier ones were applied)."""


class AppliedScript(msgspec.Struct, frozen=True):
    """A script this run applied."""

    version: int
    name: str
    checksum: str
    statements: int
    duration_ms: float
    transactional: bool


class MigrationReport(msgspec.Struct, frozen=True):
    """Result of ``pool.migrate()`` / ``Migrator.apply()``."""

    dialect: str
    directory: str
    before: int
    """Schema version when the run took the lock."""
    after: int
    """Schema version at the end (equal to ``before`` in a dry run)."""
    target: int
    dry_run: bool
    planned: list[PlannedScript]
    """Scripts the run found pending up to ``target`` (a dry run stops here)."""
    applied: list[AppliedScript]
    warnings: list[str] = msgspec.field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """Nothing was pending."""
        return not self.planned


ScriptState = Literal["applied", "applied-untracked", "pending", "drifted", "missing", "partial"]


class ScriptStatus(msgspec.Struct, frozen=True):
    """One version as ``status()`` sees it.

    ``applied-untracked``: applied before rawdb kept a history (SQLite
    ``user_version`` from the old runner), so no checksum can be compared.
    ``missing``: recorded as applied but the file is gone. ``partial``: MySQL
    (or a no-transaction script) stopped inside it; see `DirtyState`.
    """

    version: int
    name: str
    state: ScriptState
    file_checksum: str | None = None
    recorded_checksum: str | None = None
    applied_at: datetime | None = None
    duration_ms: float | None = None


class DirtyState(msgspec.Struct, frozen=True):
    """A script that stopped part-way outside a transaction (MySQL, no-transaction scripts)."""

    version: int
    name: str
    statements_done: int
    """Statements of the script that completed."""
    failed_statement: int
    """The statement that failed or was interrupted (``statements_done + 1``)."""
    error: str | None
    """The database's message; ``None`` when the process died mid-statement."""
    cleared: bool
    """``repair`` was run: the next ``migrate`` resumes at ``failed_statement``."""

    def describe(self) -> str:
        if self.cleared:
            return (
                f"{self.name} was repaired after statement {self.failed_statement}; "
                f"migrate resumes it at statement {self.failed_statement}"
            )
        if self.error is None:
            return (
                f"{self.name} was interrupted in statement {self.failed_statement} "
                f"({self.statements_done} earlier statements completed); that statement "
                "may have completed"
            )
        return (
            f"{self.name} failed in statement {self.failed_statement} "
            f"({self.statements_done} earlier statements completed): {self.error}"
        )


class StatusReport(msgspec.Struct, frozen=True):
    """Result of ``Migrator.status()``: never raises for drift, dirt or legacy state."""

    dialect: str
    directory: str
    version: int
    latest: int
    """Newest script in the folder."""
    scripts: list[ScriptStatus]
    dirty: DirtyState | None = None
    problems: list[str] = msgspec.field(default_factory=list)
    """Everything that makes ``migrate`` refuse: drift, a newer database, legacy state."""

    @property
    def pending(self) -> list[ScriptStatus]:
        return [s for s in self.scripts if s.state == "pending"]

    @property
    def drift(self) -> list[ScriptStatus]:
        return [s for s in self.scripts if s.state in ("drifted", "missing")]


class RepairReport(msgspec.Struct, frozen=True):
    """Result of ``Migrator.repair()``."""

    dirty_cleared: DirtyState | None
    accepted: list[ScriptStatus]
    """Scripts whose recorded checksum was replaced by the file's (or dropped, if missing)."""


class BaselineReport(msgspec.Struct, frozen=True):
    """Result of ``Migrator.baseline(N)``: the version recorded, what was repaired, what differs."""

    before: int
    version: int
    differences: list[str]
    """Differences from the scripts' schema that remain: on SQLite what baseline keeps on
    purpose (tables, columns, indexes the scripts do not have); on the servers every
    difference (they are checked and recorded, never changed)."""
    repaired: list[str] = msgspec.field(default_factory=list)
    """SQLite: what baseline changed to reach the version it records (data fixes of the
    scripts it skipped, tables rebuilt with the scripts' definition, missing indexes and
    triggers), in the same transaction."""


class ProgressEvent(msgspec.Struct, frozen=True):
    """Sent to a ``progress`` callback before and after each script."""

    kind: Literal["start", "done"]
    version: int
    name: str
    statements: int
    duration_ms: float | None = None
