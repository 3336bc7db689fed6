"""The schema under test: rawdb's bundled migration scripts, applied to the bench database.

When `Pool.migrate` is available (the migration runner) it applies them, named
explicitly as ``rawdb.store.MIGRATIONS`` (the bundled application schema); until then the
scripts in ``sql/migrations/<dialect>/`` run in version order through a bare
connection: SQLite with ``executescript``, PostgreSQL as one simple-query message
per file, MySQL statement by statement.
"""

from __future__ import annotations

from pathlib import Path

import rawdb
from benchmarks.databases import Admin, Target

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql" / "migrations"


def migration_scripts(dialect: str) -> list[Path]:
    return sorted((SQL_ROOT / dialect).glob("v[0-9][0-9][0-9]_*.sql"))


def migrator_available() -> bool:
    try:
        from rawdb.migrations import STORE_MIGRATIONS, migrate_pool  # noqa: F401
    except ImportError:
        return False
    return True


async def create_schema(target: Target, admin: Admin) -> str:
    """Bring the bench database to the latest version; returns how it was done."""
    if migrator_available():
        from rawdb.migrations import STORE_MIGRATIONS

        async with await rawdb.create_pool(target.url()) as pool:
            await pool.migrate(STORE_MIGRATIONS)
        return "pool.migrate(rawdb.store.MIGRATIONS)"
    scripts = migration_scripts(target.dialect)
    if not scripts:
        raise SystemExit(f"no migration scripts under {SQL_ROOT / target.dialect}")
    for script in scripts:
        await admin.execute(script.read_text())
    return f"scripts {scripts[0].stem[:4]}..{scripts[-1].stem[:4]} via the bare driver"
