"""Ordered, checksummed, locked SQL migrations per dialect (``sql/migrations/<dialect>``).

Public entry points: `Migrator` (status, plan, apply, repair, baseline), and the
two functions the pool delegates to: `migrate_pool` (``pool.migrate()``) and
`schema_version` (``pool.schema_version()``). Reports are msgspec Structs.
"""

from rawdb.migrations.discovery import Script, default_directory, discover
from rawdb.migrations.errors import MigrationScriptError, UnrecognisedState
from rawdb.migrations.migrator import Migrator, migrate_pool, schema_version
from rawdb.migrations.report import (
    AppliedScript,
    BaselineReport,
    DirtyState,
    MigrationReport,
    PlannedScript,
    ProgressEvent,
    RepairReport,
    ScriptStatus,
    StatusReport,
)
from rawdb.migrations.splitter import SplitError, Statement, split_statements

__all__ = [
    "AppliedScript",
    "BaselineReport",
    "DirtyState",
    "MigrationReport",
    "MigrationScriptError",
    "Migrator",
    "PlannedScript",
    "ProgressEvent",
    "RepairReport",
    "Script",
    "ScriptStatus",
    "SplitError",
    "Statement",
    "StatusReport",
    "UnrecognisedState",
    "default_directory",
    "discover",
    "migrate_pool",
    "schema_version",
    "split_statements",
]
