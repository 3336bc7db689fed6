"""The application data layer: nine tables as typed functions over named SQL queries.

``from rawdb import store`` then ``await store.tasks.save_task(tx, ...)``.
Every operation takes a transaction first and never commits; input is checked
before any SQL runs (``rawdb.ValidationError`` / ``rawdb.DataError``); rows come
back as the Structs of ``rawdb.store.models``. QUERIES.md is the specification.
"""

from __future__ import annotations

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
