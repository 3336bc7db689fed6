"""composio_toolkits: its 11 operations, upsert_toolkits_by_slug, and paging that never repeats or skips."""

from __future__ import annotations

import asyncio
import json

import pytest
from store_helpers import table_rows

import rawdb
from rawdb import store
from rawdb.store.models import ComposioToolkit

kits = store.composio_toolkits
TOOLS = json.dumps([{"name": "send", "description": "d", "parameters": {"type": "object"},
                     "enabled": True}])


async def test_create_and_get(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        k = await kits.create_toolkit(tx, "Gmail", "gmail", "mail", "https://l", "https://a",
                                      True, TOOLS)
        assert isinstance(k, ComposioToolkit) and len(k.id) == 36
        assert (k.name, k.slug, k.description, k.logo, k.app_url, k.enabled, k.tools) == (
            "Gmail", "gmail", "mail", "https://l", "https://a", True, TOOLS)
        assert await kits.get_toolkit(tx, k.id) == k
        assert await kits.get_toolkit_by_slug(tx, "gmail") == k
        assert await kits.get_toolkit_by_slug(tx, "GMAIL") is None
        assert await kits.get_toolkit(tx, "missing") is None
        d = await kits.create_toolkit(tx, "Slack", "slack")
        assert (d.enabled, d.tools, d.description) == (False, None, None)
    before = await table_rows(store_pool, "composio_toolkits")
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await kits.create_toolkit(tx, "Other", "gmail")
    assert await table_rows(store_pool, "composio_toolkits") == before


async def test_pages_are_disjoint_and_cover_all_d20(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for i in range(30):
            await kits.create_toolkit(tx, f"kit{i % 7}", f"slug{i:02d}", enabled=i % 2 == 0)
        pages = [await kits.list_toolkits(tx, limit=10, offset=o) for o in (0, 10, 20)]
        slugs = [k.slug for page in pages for k in page]
        assert len(slugs) == 30 and len(set(slugs)) == 30
        everything = await kits.list_toolkits(tx)
        assert [k.slug for k in everything] == slugs
        assert slugs == [k.slug for k in sorted(everything, key=lambda k: (k.name, k.slug))]
        enabled = await kits.list_toolkits(tx, enabled_only=True)
        assert len(enabled) == 15 and all(k.enabled for k in enabled)
        assert await kits.get_enabled_toolkits(tx) == enabled
        assert [k.slug for k in await kits.list_toolkits(tx, offset=28)] == slugs[28:]
        with pytest.raises(rawdb.ValidationError):
            await kits.list_toolkits(tx, offset=-1)


async def test_updates(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        k = await kits.create_toolkit(tx, "A", "a")
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        updates = {"name": "A2", "logo": "l", "enabled": True}
        assert await kits.update_toolkit(tx, k.id, updates) is True
        assert updates == {"name": "A2", "logo": "l", "enabled": True}
        assert await kits.update_toolkit_by_slug(tx, "a", {"description": "d", "tools": "[]"})
        got = await kits.get_toolkit(tx, k.id)
        assert got is not None and (got.name, got.logo, got.enabled, got.description, got.tools) == (
            "A2", "l", True, "d", "[]")
        assert got.updated_at > k.updated_at
        assert await kits.update_toolkit(tx, "missing", {"name": "x"}) is False
        assert await kits.update_toolkit_by_slug(tx, "missing", {"name": "x"}) is False
        for bad in ({"slug": "b"}, {"id": "x"}, {"created_at": "x"}, {"enabled": 1}):
            with pytest.raises(rawdb.ValidationError):
                await kits.update_toolkit(tx, k.id, bad)
        assert await kits.toggle_toolkit_enabled(tx, k.id, False) is True
        assert await kits.toggle_toolkit_enabled(tx, k.id, False) is True  # sets, never negates
        assert (await kits.get_toolkit(tx, k.id)).enabled is False  # type: ignore[union-attr]
        assert await kits.toggle_toolkit_enabled(tx, "missing", True) is False
        assert await kits.update_toolkit_tools(tx, k.id, TOOLS) is True
        assert (await kits.get_toolkit(tx, k.id)).tools == TOOLS  # type: ignore[union-attr]
        assert await kits.update_toolkit_tools(tx, "missing", TOOLS) is False


async def test_deletes(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        a = await kits.create_toolkit(tx, "A", "a")
        await kits.create_toolkit(tx, "B", "b")
        assert await kits.delete_toolkit(tx, a.id) is True
        assert await kits.delete_toolkit(tx, a.id) is False
        assert await kits.delete_toolkit_by_slug(tx, "b") is True
        assert await kits.delete_toolkit_by_slug(tx, "b") is False
        assert await kits.list_toolkits(tx) == []


async def test_upsert_toolkits_by_slug_c3(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        old = await kits.create_toolkit(tx, "Old", "gmail", "old", enabled=True, tools=TOOLS)
        n = await kits.upsert_toolkits_by_slug(tx, [
            {"slug": "gmail", "name": "Gmail", "description": "new", "logo": "L", "app_url": "U"},
            {"slug": "slack", "name": "Slack"},
        ])
        assert n == 2
        gmail = await kits.get_toolkit_by_slug(tx, "gmail")
        slack = await kits.get_toolkit_by_slug(tx, "slack")
        assert gmail is not None and slack is not None
        assert (gmail.id, gmail.name, gmail.description, gmail.logo, gmail.app_url) == (
            old.id, "Gmail", "new", "L", "U")
        assert (gmail.enabled, gmail.tools) == (True, TOOLS)  # never touched by the sync
        assert (slack.enabled, slack.tools, slack.description) == (False, None, None)
        assert await kits.upsert_toolkits_by_slug(tx, []) == 0
    before = await table_rows(store_pool, "composio_toolkits")
    for bad in ([{"slug": "x"}], [{"slug": "x", "name": "X", "enabled": True}], ["x"],
                [{"slug": "ok", "name": "ok"}, {"slug": "y" * 101, "name": "Y"}]):
        with pytest.raises(rawdb.ValidationError):
            async with store_pool.transaction() as tx:
                await kits.upsert_toolkits_by_slug(tx, bad)  # type: ignore[arg-type]
    assert await table_rows(store_pool, "composio_toolkits") == before
