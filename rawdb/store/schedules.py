"""Workflow schedules: 10 operations plus the scheduler's three.

Next fire times are computed in Python from the cron expression on the wall
clock of ``tz=`` (default UTC; pass the zone the scheduler runs in) and stored
in UTC. ``""`` as a cron expression means "no cron", exactly like
None.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from rawdb.store._common import (
    Columns,
    QuerySet,
    aware,
    boolean,
    execute_sql,
    new_id,
    page,
    resolve_now,
    text,
)
from rawdb.store._cron import next_fire_time
from rawdb.store.models import Schedule

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "create_schedule",
    "delete_schedule",
    "delete_schedule_by_flow_id",
    "get_enabled_schedules",
    "get_schedule",
    "get_schedule_by_flow_id",
    "increment_execution_count",
    "list_schedulable",
    "list_schedules",
    "record_execution",
    "set_next_execution",
    "update_schedule",
    "update_schedule_by_flow_id",
]

_Q = QuerySet(
    "schedules",
    (
        "insert_schedule", "get_schedule", "get_schedule_by_flow_id", "list_schedules",
        "list_schedulable", "delete_schedule", "delete_schedule_by_flow_id",
        "increment_execution_count", "set_next_execution", "record_execution",
    ),
)


def _optional_aware(field: str, value: datetime | None) -> datetime | None:
    return None if value is None else aware(field, value)


_COLUMNS = Columns(
    "schedules",
    {
        "id": text(),
        "flow_id": text(),
        "cron_expression": text(nullable=True),
        "next_execution_at": _optional_aware,
        "is_enabled": boolean,
        "description": text(nullable=True),
    },
)

UPDATABLE: tuple[str, ...] = ("cron_expression", "is_enabled", "description")


def _cron_columns(expression: Any, now: datetime | None, tz: tzinfo) -> dict[str, Any]:
    """``cron_expression`` and the ``next_execution_at`` it implies."""
    bound = _COLUMNS.bind({"cron_expression": expression or None})
    cron = bound["cron_expression"]
    fire = None if cron is None else next_fire_time(cron, resolve_now(now), tz)
    return {"cron_expression": cron, **_COLUMNS.bind({"next_execution_at": fire})}


async def create_schedule(
    tx: Transaction,
    flow_id: str,
    cron_expression: str | None = None,
    is_enabled: bool = True,
    description: str | None = None,
    *,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> Schedule:
    """Insert a schedule (one per ``flow_id``); the next run is computed even when disabled."""
    params = _COLUMNS.bind(
        {"id": new_id(), "flow_id": flow_id, "is_enabled": is_enabled, "description": description}
    )
    params.update(_cron_columns(cron_expression, now, tz))
    await _Q.execute(tx, "insert_schedule", params)
    row = await get_schedule(tx, params["id"])
    assert row is not None, "a schedule inserted in this transaction must be readable"
    return row


async def get_schedule(tx: Transaction, schedule_id: str) -> Schedule | None:
    return await _Q.fetch_one(tx, "get_schedule", {"id": schedule_id}, Schedule)


async def get_schedule_by_flow_id(tx: Transaction, flow_id: str) -> Schedule | None:
    return await _Q.fetch_one(tx, "get_schedule_by_flow_id", {"flow_id": flow_id}, Schedule)


async def list_schedules(
    tx: Transaction, enabled_only: bool = False, limit: int | None = -1, offset: int = 0
) -> list[Schedule]:
    """Newest first."""
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "list_schedules", {"include_disabled": not enabled_only}, Schedule,
        limit=limit, offset=offset,
    )


async def get_enabled_schedules(tx: Transaction) -> list[Schedule]:
    """Enabled schedules newest first, those without a cron included (see ``list_schedulable``)."""
    return await list_schedules(tx, enabled_only=True)


async def list_schedulable(tx: Transaction) -> list[Schedule]:
    """Enabled schedules that have a cron, by ``flow_id``: what the scheduler loads."""
    return await _Q.fetch_all(tx, "list_schedulable", {}, Schedule)


async def _update(
    tx: Transaction,
    key: str,
    value: str,
    updates: Mapping[str, Any],
    now: datetime | None,
    tz: tzinfo,
) -> bool:
    params = _COLUMNS.bind(_COLUMNS.pick(updates, UPDATABLE))
    if "cron_expression" in params:
        params.update(_cron_columns(params["cron_expression"], now, tz))
    sql = _COLUMNS.update_sql(key, params)
    return await execute_sql(tx, sql, {**params, key: value}) > 0


async def update_schedule(
    tx: Transaction,
    schedule_id: str,
    updates: dict[str, Any],
    *,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> bool:
    """Apply allow-listed ``updates`` (never modified).

    A new non-blank ``cron_expression`` re-arms ``next_execution_at`` from
    ``now``; None or ``""`` clears both. Changing ``is_enabled`` re-arms nothing.
    """
    return await _update(tx, "id", schedule_id, updates, now, tz)


async def update_schedule_by_flow_id(
    tx: Transaction,
    flow_id: str,
    updates: dict[str, Any],
    *,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> bool:
    return await _update(tx, "flow_id", flow_id, updates, now, tz)


async def delete_schedule(tx: Transaction, schedule_id: str) -> bool:
    return await _Q.execute(tx, "delete_schedule", {"id": schedule_id}) > 0


async def delete_schedule_by_flow_id(tx: Transaction, flow_id: str) -> bool:
    return await _Q.execute(tx, "delete_schedule_by_flow_id", {"flow_id": flow_id}) > 0


async def increment_execution_count(
    tx: Transaction, schedule_id: str, *, now: datetime | None = None
) -> bool:
    """Count one run (in SQL, safe under concurrency) and stamp ``last_execution_at``."""
    params = {"id": schedule_id, "now": resolve_now(now)}
    return await _Q.execute(tx, "increment_execution_count", params) > 0


async def set_next_execution(
    tx: Transaction, flow_id: str, next_execution_at: datetime | None
) -> bool:
    """Re-arm (or disarm, with None) a schedule; the datetime must be aware."""
    params = {
        "flow_id": flow_id,
        "next_execution_at": _optional_aware("next_execution_at", next_execution_at),
    }
    return await _Q.execute(tx, "set_next_execution", params) > 0


async def record_execution(
    tx: Transaction, flow_id: str, executed_at: datetime, next_execution_at: datetime | None
) -> bool:
    """The scheduler's per-run update in one statement: stamp, re-arm, count."""
    params = {
        "flow_id": flow_id,
        "executed_at": aware("executed_at", executed_at),
        "next_execution_at": _optional_aware("next_execution_at", next_execution_at),
    }
    return await _Q.execute(tx, "record_execution", params) > 0
