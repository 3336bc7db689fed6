"""MCP server profiles: 8 operations.

``mcp_server_params`` is validated against ``McpServerParams`` before it is
written and stored canonically (no ``null`` keys). Reads decode
defensively: legacy rows may hold the document double-encoded (a JSON string
containing JSON), which the old callers unwrapped by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from rawdb.errors import MappingError
from rawdb.store._common import (
    Columns,
    QuerySet,
    boolean,
    execute_sql,
    json_value,
    new_id,
    page,
    resolve_now,
    text,
)
from rawdb.store.models import McpProfile, McpServerParams

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "create_profile",
    "delete_profile",
    "get_active_profiles",
    "get_profile",
    "get_profile_by_display_name",
    "list_profiles",
    "update_last_used",
    "update_profile",
]

_Q = QuerySet(
    "mcp_profiles",
    (
        "insert_profile", "get_profile", "get_profile_by_display_name", "list_profiles",
        "get_active_profiles", "delete_profile", "update_last_used",
    ),
)

_COLUMNS = Columns(
    "mcp_profiles",
    {
        "mcp_id": text(),
        "display_name": text(),
        "mcp_server_name": text(),
        "mcp_server_params": json_value(McpServerParams, nullable=False),
        "description": text(nullable=True),
        "is_active": boolean,
    },
)

UPDATABLE: tuple[str, ...] = (
    "display_name", "mcp_server_name", "mcp_server_params", "description", "is_active",
)


class _Row(msgspec.Struct):
    """A row as read, before ``mcp_server_params`` is unwrapped and validated."""

    mcp_id: str
    display_name: str
    mcp_server_name: str
    mcp_server_params: Any
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


def _params(mcp_id: str, value: Any) -> McpServerParams:
    # JSON text (a driver without a JSON codec) or a JSON string holding JSON
    # (legacy double encoding): decode until it is no longer a string.
    for _ in range(3):
        if not isinstance(value, str):
            break
        value = msgspec.json.decode(value)
    try:
        return msgspec.convert(value, McpServerParams)
    except msgspec.ValidationError as exc:
        raise MappingError(
            f"mcp_profiles.mcp_server_params of {mcp_id}: not McpServerParams ({exc})"
        ) from None


def _profile(row: _Row) -> McpProfile:
    return McpProfile(
        row.mcp_id, row.display_name, row.mcp_server_name,
        _params(row.mcp_id, row.mcp_server_params), row.description, row.is_active,
        row.created_at, row.updated_at, row.last_used_at,
    )


async def create_profile(
    tx: Transaction,
    display_name: str,
    mcp_server_name: str,
    mcp_server_params: McpServerParams | dict[str, Any],
    description: str | None = None,
) -> McpProfile:
    """Insert a profile; ``display_name`` and ``mcp_server_name`` are each unique."""
    params = _COLUMNS.bind(
        {
            "mcp_id": new_id(),
            "display_name": display_name,
            "mcp_server_name": mcp_server_name,
            "mcp_server_params": mcp_server_params,
            "description": description,
        }
    )
    await _Q.execute(tx, "insert_profile", params)
    profile = await get_profile(tx, params["mcp_id"])
    assert profile is not None, "a profile inserted in this transaction must be readable"
    return profile


async def get_profile(tx: Transaction, mcp_id: str) -> McpProfile | None:
    row = await _Q.fetch_one(tx, "get_profile", {"mcp_id": mcp_id}, _Row)
    return None if row is None else _profile(row)


async def get_profile_by_display_name(tx: Transaction, display_name: str) -> McpProfile | None:
    row = await _Q.fetch_one(
        tx, "get_profile_by_display_name", {"display_name": display_name}, _Row
    )
    return None if row is None else _profile(row)


async def list_profiles(
    tx: Transaction, active_only: bool = True, limit: int | None = 50, offset: int = 0
) -> list[McpProfile]:
    """Most recently used first, never-used last; ``limit`` None or -1 = all."""
    limit, offset = page(limit, offset)
    rows = await _Q.fetch_all(
        tx, "list_profiles", {"include_inactive": not active_only}, _Row,
        limit=limit, offset=offset,
    )
    return [_profile(row) for row in rows]


async def get_active_profiles(tx: Transaction) -> list[McpProfile]:
    """Every active profile, oldest first (callers build ``{server name: params}``)."""
    rows = await _Q.fetch_all(tx, "get_active_profiles", {}, _Row)
    return [_profile(row) for row in rows]


async def update_profile(tx: Transaction, mcp_id: str, updates: dict[str, Any]) -> bool:
    """Apply allow-listed ``updates`` (never modified); False when the id does not exist."""
    params = _COLUMNS.bind(_COLUMNS.pick(updates, UPDATABLE))
    sql = _COLUMNS.update_sql("mcp_id", params)
    return await execute_sql(tx, sql, {**params, "mcp_id": mcp_id}) > 0


async def delete_profile(tx: Transaction, mcp_id: str) -> bool:
    return await _Q.execute(tx, "delete_profile", {"mcp_id": mcp_id}) > 0


async def update_last_used(tx: Transaction, mcp_id: str, *, now: datetime | None = None) -> bool:
    """Stamp ``last_used_at`` with ``now`` (application clock)."""
    return await _Q.execute(tx, "update_last_used", {"mcp_id": mcp_id, "now": resolve_now(now)}) > 0
