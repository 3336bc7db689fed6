"""Checked SQL: every named query proved against the real schema and the Struct it fills.

``await rawdb.check(urls)`` (CLI: ``rawdb check --url …``) migrates a scratch
database of each dialect to the newest schema, prepares every named query on it
without running it, compares each query's result columns with the Structs its
rows fill and its ``:names`` with the parameters its callers pass; prepares each
UPDATE the code builds with ``Columns.update_sql`` and compares the columns it sets
with the types their converters bind; and returns a `CheckReport`.
``await assert_queries_ok(...)`` does the same in a test and fails it with the
findings. ``new_migration`` starts the next migration script.
"""

from __future__ import annotations

from typing import Any

from rawdb.checker.newscript import new_migration
from rawdb.checker.render import render_text
from rawdb.checker.report import CannotCheck, CheckReport, DialectResult, Finding
from rawdb.checker.runner import Progress, check

__all__ = [
    "CannotCheck",
    "CheckReport",
    "DialectResult",
    "Finding",
    "Progress",
    "assert_queries_ok",
    "check",
    "new_migration",
    "render_text",
]


async def assert_queries_ok(*urls: str, **options: Any) -> CheckReport:
    """`check` the queries and fail with every finding, as ``rawdb check`` prints them.

    ``options`` are `check`'s keywords. For a test::

        async def test_named_queries() -> None:
            await rawdb.checker.assert_queries_ok(os.environ["DATABASE_URL"],
                                                  queries=["app/sql"], migrations="app/migrations")
    """
    report = await check(urls, **options)
    if report.findings:
        raise AssertionError(render_text(report))
    return report
