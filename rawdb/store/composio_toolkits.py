"""Composio toolkits: 11 operations plus ``upsert_toolkits_by_slug``.

``tools`` is a JSON document the callers keep as text; the store passes it
through verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rawdb.errors import ValidationError
from rawdb.store._common import Columns, QuerySet, boolean, execute_sql, new_id, page, text
from rawdb.store.models import ComposioToolkit

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "create_toolkit",
    "delete_toolkit",
    "delete_toolkit_by_slug",
    "get_enabled_toolkits",
    "get_toolkit",
    "get_toolkit_by_slug",
    "list_toolkits",
    "toggle_toolkit_enabled",
    "update_toolkit",
    "update_toolkit_by_slug",
    "update_toolkit_tools",
    "upsert_toolkits_by_slug",
]

_Q = QuerySet(
    "composio_toolkits",
    (
        "insert_toolkit", "get_toolkit", "get_toolkit_by_slug", "list_toolkits",
        "delete_toolkit", "delete_toolkit_by_slug", "upsert_by_slug",
    ),
)

_COLUMNS = Columns(
    "composio_toolkits",
    {
        "id": text(),
        "name": text(),
        "slug": text(),
        "description": text(nullable=True),
        "logo": text(nullable=True),
        "app_url": text(nullable=True),
        "enabled": boolean,
        "tools": text(nullable=True),
    },
)

UPDATABLE: tuple[str, ...] = ("name", "description", "logo", "app_url", "enabled", "tools")
"""What the old sync path (name/description/logo/app_url) and enable path (enabled/tools) sent."""

SYNCED: tuple[str, ...] = ("slug", "name", "description", "logo", "app_url")
"""Fields of one ``upsert_toolkits_by_slug`` item."""


async def create_toolkit(
    tx: Transaction,
    name: str,
    slug: str,
    description: str | None = None,
    logo: str | None = None,
    app_url: str | None = None,
    enabled: bool = False,
    tools: str | None = None,
) -> ComposioToolkit:
    """Insert a toolkit; a duplicate ``slug`` raises ``UniqueViolation``."""
    params = _COLUMNS.bind(
        {
            "id": new_id(),
            "name": name,
            "slug": slug,
            "description": description,
            "logo": logo,
            "app_url": app_url,
            "enabled": enabled,
            "tools": tools,
        }
    )
    await _Q.execute(tx, "insert_toolkit", params)
    row = await get_toolkit(tx, params["id"])
    assert row is not None, "a toolkit inserted in this transaction must be readable"
    return row


async def get_toolkit(tx: Transaction, toolkit_id: str) -> ComposioToolkit | None:
    return await _Q.fetch_one(tx, "get_toolkit", {"id": toolkit_id}, ComposioToolkit)


async def get_toolkit_by_slug(tx: Transaction, slug: str) -> ComposioToolkit | None:
    return await _Q.fetch_one(tx, "get_toolkit_by_slug", {"slug": slug}, ComposioToolkit)


async def list_toolkits(
    tx: Transaction, enabled_only: bool = False, limit: int | None = -1, offset: int = 0
) -> list[ComposioToolkit]:
    """Ordered by ``name, slug`` so that pages never repeat or skip a toolkit."""
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "list_toolkits", {"include_disabled": not enabled_only}, ComposioToolkit,
        limit=limit, offset=offset,
    )


async def get_enabled_toolkits(tx: Transaction) -> list[ComposioToolkit]:
    return await list_toolkits(tx, enabled_only=True)


async def _update(tx: Transaction, key: str, value: str, updates: Mapping[str, Any]) -> bool:
    params = _COLUMNS.bind(_COLUMNS.pick(updates, UPDATABLE))
    sql = _COLUMNS.update_sql(key, params)
    return await execute_sql(tx, sql, {**params, key: value}) > 0


async def update_toolkit(tx: Transaction, toolkit_id: str, updates: dict[str, Any]) -> bool:
    """Apply allow-listed ``updates`` (never modified); False when the id does not exist."""
    return await _update(tx, "id", toolkit_id, updates)


async def update_toolkit_by_slug(tx: Transaction, slug: str, updates: dict[str, Any]) -> bool:
    return await _update(tx, "slug", slug, updates)


async def delete_toolkit(tx: Transaction, toolkit_id: str) -> bool:
    return await _Q.execute(tx, "delete_toolkit", {"id": toolkit_id}) > 0


async def delete_toolkit_by_slug(tx: Transaction, slug: str) -> bool:
    return await _Q.execute(tx, "delete_toolkit_by_slug", {"slug": slug}) > 0


async def toggle_toolkit_enabled(tx: Transaction, toolkit_id: str, enabled: bool) -> bool:
    """Set ``enabled`` to the given value (despite the name, nothing is negated)."""
    return await _update(tx, "id", toolkit_id, {"enabled": enabled})


async def update_toolkit_tools(tx: Transaction, toolkit_id: str, tools: str) -> bool:
    """Replace the ``tools`` text verbatim."""
    return await _update(tx, "id", toolkit_id, {"tools": tools})


async def upsert_toolkits_by_slug(
    tx: Transaction, items: Iterable[Mapping[str, Any]]
) -> int:
    """Sync the remote catalogue in one batch; returns the number of items written.

    New slugs are inserted disabled with no tools; existing ones get ``name``,
    ``description``, ``logo`` and ``app_url`` and keep ``enabled``/``tools``.
    Each item needs ``slug`` and ``name``; other keys are rejected. Every item
    is checked before anything is written.
    """
    batch: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValidationError(f"items[{index}]: expected a dict, got {type(item).__name__}")
        unknown = sorted(set(item) - set(SYNCED))
        if unknown:
            raise ValidationError(f"items[{index}]: unknown keys {unknown} (allowed: {SYNCED})")
        values = {name: item.get(name) for name in SYNCED}
        batch.append(_COLUMNS.bind({"id": new_id(), **values}))
    if not batch:
        return 0
    sql = _Q.sql(tx, "upsert_by_slug")
    await tx.executemany(sql, batch)
    return len(batch)
