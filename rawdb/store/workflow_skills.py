"""Workflows exposed as agent skills: 5 operations.

``workflow_expose_config`` is an opaque JSON object kept in a text column; it
is written as JSON text (None as SQL NULL, never the text ``null``) and
read back decoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rawdb.store._common import Columns, QuerySet, boolean, json_value, new_id, page, text
from rawdb.store.models import WorkflowSkill

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "create_or_update_skill",
    "delete_skill",
    "get_skill",
    "list_skills",
    "update_expose_config",
]

_Q = QuerySet(
    "workflow_skills",
    ("upsert_skill", "get_skill", "list_skills", "delete_skill", "update_expose_config"),
)

_COLUMNS = Columns(
    "workflow_skills",
    {
        "id": text(),
        "flow_id": text(),
        "name": text(nullable=True),
        "description": text(nullable=True),
        "add_to_skill": boolean,
        "workflow_expose_config": json_value(dict[str, Any]),
    },
)


async def create_or_update_skill(
    tx: Transaction,
    flow_id: str,
    add_to_skill: bool,
    name: str | None = None,
    description: str | None = None,
    workflow_expose_config: dict[str, Any] | None = None,
) -> WorkflowSkill:
    """Insert or overwrite the skill of ``flow_id`` in one atomic statement.

    On an existing skill all four fields are replaced, None included. On
    MariaDB, concurrent first writes can in principle meet an InnoDB deadlock
    (two unique indexes); it surfaces as ``DeadlockError``.
    """
    params = _COLUMNS.bind(
        {
            "id": new_id(),
            "flow_id": flow_id,
            "name": name,
            "description": description,
            "add_to_skill": add_to_skill,
            "workflow_expose_config": workflow_expose_config,
        }
    )
    await _Q.execute(tx, "upsert_skill", params)
    row = await get_skill(tx, flow_id)
    assert row is not None, "a skill upserted in this transaction must be readable"
    return row


async def get_skill(tx: Transaction, flow_id: str) -> WorkflowSkill | None:
    return await _Q.fetch_one(tx, "get_skill", {"flow_id": flow_id}, WorkflowSkill)


async def list_skills(
    tx: Transaction, add_to_skill_only: bool = False, limit: int | None = -1, offset: int = 0
) -> list[WorkflowSkill]:
    """Most recently updated first."""
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "list_skills", {"include_all": not add_to_skill_only}, WorkflowSkill,
        limit=limit, offset=offset,
    )


async def delete_skill(tx: Transaction, flow_id: str) -> bool:
    return await _Q.execute(tx, "delete_skill", {"flow_id": flow_id}) > 0


async def update_expose_config(
    tx: Transaction, flow_id: str, workflow_expose_config: dict[str, Any] | None
) -> bool:
    params = _COLUMNS.bind({"workflow_expose_config": workflow_expose_config})
    return await _Q.execute(tx, "update_expose_config", {**params, "flow_id": flow_id}) > 0
