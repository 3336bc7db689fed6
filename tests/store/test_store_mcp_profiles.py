"""mcp_profiles: its 8 operations, validated params and defensive reads."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.models import McpProfile, McpServerParams

mcp = store.mcp_profiles
PARAMS = {"command": "npx", "args": ["-y", "@mcp/fs", "/tmp"], "env": {"K": "v"}}


async def test_create_and_get(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        p = await mcp.create_profile(tx, "Files", "filesystem", PARAMS, "desc")
        assert isinstance(p, McpProfile) and len(p.mcp_id) == 36
        assert p.mcp_server_params == McpServerParams("npx", ["-y", "@mcp/fs", "/tmp"], {"K": "v"})
        assert (p.display_name, p.mcp_server_name, p.description, p.is_active) == (
            "Files", "filesystem", "desc", True)
        assert p.last_used_at is None
        assert await mcp.get_profile(tx, p.mcp_id) == p
        assert await mcp.get_profile_by_display_name(tx, "Files") == p
        assert await mcp.get_profile_by_display_name(tx, "files") is None
        assert await mcp.get_profile(tx, "missing") is None
        # stored canonically: no null keys
        text = await tx.fetch_val("SELECT mcp_server_params FROM mcp_profiles")
        decoded = msgspec.json.decode(text) if isinstance(text, str) else text
        assert decoded == PARAMS


async def test_struct_params_accepted(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        p = await mcp.create_profile(tx, "S", "s", McpServerParams("docker", ["run"], timeout=30))
        assert p.mcp_server_params.timeout == 30


@pytest.mark.parametrize("column", ["display_name", "mcp_server_name"])
async def test_both_names_unique(store_pool: rawdb.Pool, column: str) -> None:
    async with store_pool.transaction() as tx:
        await mcp.create_profile(tx, "A", "a", PARAMS)
    before = await table_rows(store_pool, "mcp_profiles")
    other = {"display_name": "B", "mcp_server_name": "b", column: "A" if column == "display_name" else "a"}
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await mcp.create_profile(tx, other["display_name"], other["mcp_server_name"], PARAMS)
    assert await table_rows(store_pool, "mcp_profiles") == before


@pytest.mark.parametrize("bad", [
    {"args": []},                                  # missing command (D23)
    {"command": "npx", "args": [1]},               # non-string arg
    {"command": "npx"},                            # missing args
    {"command": "npx", "args": [], "timeout": "5"},  # no lax coercion
    None,
])
async def test_invalid_params_rejected_before_sql_d23(store_pool: rawdb.Pool, bad: object) -> None:
    with pytest.raises(rawdb.ValidationError, match="mcp_server_params"):
        async with store_pool.transaction() as tx:
            await mcp.create_profile(tx, "X", "x", bad)  # type: ignore[arg-type]
    assert await table_rows(store_pool, "mcp_profiles") == []


async def test_list_and_active(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        ids = {}
        for name in ("a", "b", "c"):
            ids[name] = (await mcp.create_profile(tx, name, name, PARAMS)).mcp_id
        await mcp.update_profile(tx, ids["c"], {"is_active": False})
        await mcp.update_last_used(tx, ids["b"], now=T0)
    await set_column(store_pool, "mcp_profiles", "created_at", T0)
    async with store_pool.transaction() as tx:
        assert [p.display_name for p in await mcp.list_profiles(tx)] == ["b", "a"]
        listed = await mcp.list_profiles(tx, active_only=False, limit=None)
        assert listed[0].display_name == "b"
        assert [p.mcp_id for p in listed[1:]] == sorted([ids["a"], ids["c"]])
        assert len(await mcp.list_profiles(tx, limit=1, offset=1)) == 1
        assert len(await mcp.list_profiles(tx, limit=-1)) == 2
        with pytest.raises(rawdb.ValidationError):
            await mcp.list_profiles(tx, limit=-2)
        active = await mcp.get_active_profiles(tx)
        assert [p.mcp_id for p in active] == sorted([ids["a"], ids["b"]])


async def test_update_delete_last_used(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        p = await mcp.create_profile(tx, "A", "a", PARAMS)
    await asyncio.sleep(0.01)
    updates = {"description": "new", "mcp_server_params": {"command": "uvx", "args": []}}
    async with store_pool.transaction() as tx:
        assert await mcp.update_profile(tx, p.mcp_id, updates) is True
        assert updates == {"description": "new", "mcp_server_params": {"command": "uvx", "args": []}}
        q = await mcp.get_profile(tx, p.mcp_id)
        assert q is not None and q.description == "new" and q.mcp_server_params.command == "uvx"
        assert q.updated_at > p.updated_at
        with pytest.raises(rawdb.ValidationError):
            await mcp.update_profile(tx, p.mcp_id, {"mcp_server_params": {"args": []}})
        with pytest.raises(rawdb.ValidationError):
            await mcp.update_profile(tx, p.mcp_id, {"mcp_id": "x"})
        assert await mcp.update_profile(tx, "missing", {"description": "x"}) is False
        assert await mcp.update_last_used(tx, p.mcp_id, now=T0) is True
        assert (await mcp.get_profile(tx, p.mcp_id)).last_used_at == T0  # type: ignore[union-attr]
        assert await mcp.update_last_used(tx, "missing") is False
        assert await mcp.delete_profile(tx, p.mcp_id) is True
        assert await mcp.delete_profile(tx, p.mcp_id) is False


async def test_double_encoded_legacy_params_read_d23(store_pool: rawdb.Pool) -> None:
    """Rows where the JSON document was stored as a JSON string (old callers' double encoding)."""
    async with store_pool.transaction() as tx:
        p = await mcp.create_profile(tx, "A", "a", PARAMS)
        double = msgspec.json.encode(msgspec.json.encode(PARAMS).decode()).decode()
        await tx.execute("UPDATE mcp_profiles SET mcp_server_params = :v", {"v": double})
        q = await mcp.get_profile(tx, p.mcp_id)
    assert q is not None and q.mcp_server_params == p.mcp_server_params
