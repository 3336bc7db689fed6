"""Ordered, checksummed, locked SQL migrations from a folder of ``vNNN_*.sql`` scripts.

The folder is always named: the application's own, or `STORE_MIGRATIONS`
(``rawdb.store.MIGRATIONS``) for rawdb's bundled application schema. Public
entry points: `Migrator` (status, plan, apply, repair, baseline), and the two
functions the pool delegates to: `migrate_pool` (``pool.migrate(directory)``)
and `schema_version` (``pool.schema_version()``). Reports are msgspec Structs.
"""

from rawdb.migrations.discovery import (
    STORE_MIGRATIONS,
    BundledSchema,
    MigrationSource,
    Script,
    bundled_directory,
    discover,
)
from rawdb.migrations.errors import ForeignHistory, MigrationScriptError, UnrecognisedState
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
    "STORE_MIGRATIONS",
    "AppliedScript",
    "BaselineReport",
    "BundledSchema",
    "DirtyState",
    "ForeignHistory",
    "MigrationReport",
    "MigrationScriptError",
    "MigrationSource",
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
    "bundled_directory",
    "discover",
    "migrate_pool",
    "schema_version",
    "split_statements",
]
