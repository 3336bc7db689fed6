"""The application data layer: nine tables as typed functions over named SQL queries.

``from rawdb import store`` then ``await store.tasks.save_task(tx, ...)``.
The tables come from rawdb's bundled migration scripts, applied by naming them:
``await pool.migrate(store.MIGRATIONS)`` (CLI: ``rawdb migrate --store``).
Every operation takes a transaction first and never commits; input is checked
before any SQL runs (``rawdb.ValidationError`` / ``rawdb.DataError``); rows come
back as the Structs of ``rawdb.store.models``.
"""

from __future__ import annotations

from rawdb.migrations.discovery import STORE_MIGRATIONS as MIGRATIONS
from rawdb.store import (
    composio_toolkits,
    credentials,
    crypto,
    llm_profiles,
    mcp_profiles,
    models,
    schedules,
    tasks,
    uploaded_files,
    voice_profiles,
    workflow_skills,
)
from rawdb.store._common import check_queries

__all__ = [
    "MIGRATIONS",
    "check_queries",
    "composio_toolkits",
    "credentials",
    "crypto",
    "llm_profiles",
    "mcp_profiles",
    "models",
    "schedules",
    "tasks",
    "uploaded_files",
    "voice_profiles",
    "workflow_skills",
]
