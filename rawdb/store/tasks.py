"""Agent tasks: 12 operations plus ``count_sessions``.

Lifecycle stamps follow one rule everywhere: entering ``running`` sets
``started_at`` if it is NULL, entering a terminal status sets ``completed_at``
if it is NULL; both come from the application clock (``now=``). The SQL does
``COALESCE(existing, :stamp)`` and this module binds ``:stamp`` only when the
new status calls for it, so the rule lives in one place (``_stamps``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from rawdb.errors import ValidationError
from rawdb.store._common import (
    Columns,
    QuerySet,
    choice,
    json_value,
    page,
    resolve_now,
    text,
    validate_json,
)
from rawdb.store.models import (
    TERMINAL_STATUSES,
    McpServerConfig,
    SessionSummary,
    Task,
    TaskMetadata,
    TaskStatus,
)

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "count_sessions",
    "delete_task",
    "get_active_task",
    "get_all_sessions",
    "get_recent_tasks",
    "get_running_tasks",
    "get_task",
    "get_task_counts_by_status",
    "get_tasks_by_llm_profile",
    "get_tasks_by_session",
    "save_task",
    "update_task_completion",
    "update_task_status",
]

_Q = QuerySet(
    "tasks",
    (
        "upsert_task", "get_task", "get_tasks_by_session", "get_recent_tasks",
        "get_tasks_by_llm_profile", "get_running_tasks", "get_active_task", "get_all_sessions",
        "count_sessions", "update_task_status", "delete_task", "get_task_counts_by_status",
    ),
)


def _mcp_server_config(field: str, value: Any) -> str | None:
    """Text for ``tasks.mcp_server_config``, validated as ``McpServerConfig``.

    A string is stored verbatim once it parses as JSON of the right shape; a
    dict is serialised the way the old code did (``json.dumps``, default
    separators) so existing readers see the same text.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            decoded = msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise ValidationError(f"{field}: not valid JSON text") from None
        validate_json(field, decoded, McpServerConfig)
        return value
    if isinstance(value, McpServerConfig):
        value = msgspec.to_builtins(value)
    if isinstance(value, Mapping):
        validate_json(field, value, McpServerConfig)
        return json.dumps(value)
    raise ValidationError(f"{field}: expected JSON text or a dict, got {type(value).__name__}")


_COLUMNS = Columns(
    "tasks",
    {
        "task_id": text(),
        "session_id": text(),
        "task_description": text(),
        "status": choice(TaskStatus),
        "new_status": choice(TaskStatus, nullable=True),
        "llm_profile_name": text(),
        "upload_files_path": text(nullable=True),
        "workspace_dir": text(nullable=True),
        "mcp_server_config": _mcp_server_config,
        "task_result": text(nullable=True),
        "error_message": text(nullable=True),
        "report_path": text(nullable=True),
        "task_metadata": json_value(TaskMetadata),
        "agent_mode": text(nullable=True),
    },
)


def _stamps(status: str | None, now: datetime) -> dict[str, datetime | None]:
    return {
        "started_at": now if status == TaskStatus.RUNNING else None,
        "completed_at": now if status in TERMINAL_STATUSES else None,
    }


async def save_task(
    tx: Transaction,
    task_id: str,
    session_id: str,
    task_description: str,
    llm_profile_name: str,
    upload_files_path: str | None = None,
    workspace_dir: str | None = None,
    mcp_server_config: str | dict[str, Any] | None = None,
    task_result: str | None = None,
    task_status: str | None = None,
    error_message: str | None = None,
    report_path: str | None = None,
    agent_mode: str | None = "thinking",
    task_metadata: TaskMetadata | None = None,
    *,
    now: datetime | None = None,
) -> Task:
    """Insert or update a task in one atomic statement and return it as stored.

    New task: every field is written; ``task_status`` None means ``pending``.
    Existing task: only ``task_result``, ``error_message``, ``report_path`` and
    ``task_metadata`` (when not None) and the status (when given) change;
    the identity fields are ignored. Timestamps follow the module rule.
    Concurrent calls for one new id make one row; on MariaDB an InnoDB deadlock
    between them is possible in principle and surfaces as ``DeadlockError``.
    """
    moment = resolve_now(now)
    params = _COLUMNS.bind(
        {
            "task_id": task_id,
            "session_id": session_id,
            "task_description": task_description,
            "status": TaskStatus.PENDING if task_status is None else task_status,
            "new_status": task_status,
            "llm_profile_name": llm_profile_name,
            "upload_files_path": upload_files_path,
            "workspace_dir": workspace_dir,
            "mcp_server_config": mcp_server_config,
            "task_result": task_result,
            "error_message": error_message,
            "report_path": report_path,
            "task_metadata": task_metadata,
            "agent_mode": agent_mode,
        }
    )
    params.update(_stamps(task_status, moment))
    await _Q.execute(tx, "upsert_task", params)
    task = await get_task(tx, task_id)
    assert task is not None, "a task upserted in this transaction must be readable"
    return task


async def get_task(tx: Transaction, task_id: str) -> Task | None:
    return await _Q.fetch_one(tx, "get_task", {"task_id": task_id}, Task)


async def get_tasks_by_session(
    tx: Transaction, session_id: str, limit: int | None = 50, offset: int = 0
) -> list[Task]:
    """Newest first. The default limit of 50 is kept for parity; pass None for all."""
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "get_tasks_by_session", {"session_id": session_id}, Task, limit=limit, offset=offset
    )


async def get_recent_tasks(tx: Transaction, limit: int | None = -1) -> list[Task]:
    """All tasks newest first; ``limit`` None or -1 = all."""
    limit, _ = page(limit)
    return await _Q.fetch_all(tx, "get_recent_tasks", {}, Task, limit=limit)


async def get_tasks_by_llm_profile(
    tx: Transaction, llm_profile_name: str, limit: int | None = 50, offset: int = 0
) -> list[Task]:
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "get_tasks_by_llm_profile", {"llm_profile_name": llm_profile_name}, Task,
        limit=limit, offset=offset,
    )


class _SessionRow(msgspec.Struct):
    session_id: str
    task_count: int
    created_at: datetime | None
    last_activity: datetime | None
    status: str


async def get_all_sessions(
    tx: Transaction, limit: int | None = -1, offset: int = 0
) -> list[SessionSummary]:
    """One summary per session, most recently created task first.

    ``status`` is the status of the session's latest task; the
    timestamps are ISO-8601 with ``+00:00`` so no client reads them as local time.
    """
    limit, offset = page(limit, offset)
    rows = await _Q.fetch_all(
        tx, "get_all_sessions", {}, _SessionRow, limit=limit, offset=offset
    )
    return [
        SessionSummary(
            row.session_id,
            row.task_count,
            None if row.created_at is None else row.created_at.isoformat(),
            None if row.last_activity is None else row.last_activity.isoformat(),
            row.status,
        )
        for row in rows
    ]


async def count_sessions(tx: Transaction) -> int:
    """Number of distinct sessions, the total for paging ``get_all_sessions``."""
    return int(await _Q.fetch_val(tx, "count_sessions", {}) or 0)


async def _set_status(
    tx: Transaction,
    task_id: str,
    status: str,
    error_message: str | None,
    task_result: str | None,
    report_path: str | None,
    now: datetime | None,
) -> bool:
    params = _COLUMNS.bind(
        {
            "status": status,
            "error_message": error_message,
            "task_result": task_result,
            "report_path": report_path,
        }
    )
    params.update(_stamps(status, resolve_now(now)), task_id=task_id)
    return await _Q.execute(tx, "update_task_status", params) > 0


async def update_task_status(
    tx: Transaction,
    task_id: str,
    status: str,
    error_message: str | None = None,
    task_result: str | None = None,
    report_path: str | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Set the status; optional fields are written when not None (``""`` included).

    A resume (``paused`` -> ``running``) keeps the first ``started_at``.
    """
    return await _set_status(tx, task_id, status, error_message, task_result, report_path, now)


async def update_task_completion(
    tx: Transaction,
    task_id: str,
    task_result: str | None = None,
    task_status: str = TaskStatus.COMPLETED,
    error_message: str | None = None,
    report_path: str | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Finish a task: ``task_status`` must be terminal; ``completed_at`` is set once."""
    if task_status not in TERMINAL_STATUSES:
        raise ValidationError(
            f"task_status: {task_status!r} is not terminal "
            f"(expected one of {', '.join(sorted(TERMINAL_STATUSES))})"
        )
    return await _set_status(
        tx, task_id, task_status, error_message, task_result, report_path, now
    )


async def delete_task(tx: Transaction, task_id: str) -> bool:
    return await _Q.execute(tx, "delete_task", {"task_id": task_id}) > 0


async def get_running_tasks(tx: Transaction) -> list[Task]:
    """Running and paused tasks, oldest first."""
    return await _Q.fetch_all(tx, "get_running_tasks", {}, Task)


async def get_active_task(tx: Transaction) -> Task | None:
    """The most recently started running task, or None; several running tasks are fine."""
    return await _Q.fetch_one(tx, "get_active_task", {}, Task)


class _StatusCount(msgspec.Struct):
    status: str
    task_count: int


async def get_task_counts_by_status(tx: Transaction) -> dict[str, int]:
    """``{status: count}`` for the statuses present (absent statuses are not 0-filled)."""
    rows = await _Q.fetch_all(tx, "get_task_counts_by_status", {}, _StatusCount)
    return {row.status: row.task_count for row in rows}
