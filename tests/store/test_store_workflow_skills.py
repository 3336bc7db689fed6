"""workflow_skills: its 5 operations, the native upsert, and None stored as SQL NULL (never the text null)."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import table_rows

import rawdb
from rawdb import store
from rawdb.store.models import WorkflowSkill

skills = store.workflow_skills
FLOW = "1b2c3d4e-5f6a-4b7c-9d8e-9f0a1b2c3d4e"
CONFIG = {"comp-1": {"component_id": "comp-1", "component_name": "Input",
                     "component_type": "ChatInput", "component_description": "d",
                     "inputs": {"text": {"display_name": "Text", "type": "str", "info": "",
                                         "required": True, "value": None, "is_expose": True}}}}


async def test_create_then_update(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        s = await skills.create_or_update_skill(tx, FLOW, True, "n", "d", CONFIG)
        assert isinstance(s, WorkflowSkill) and len(s.id) == 36
        assert (s.flow_id, s.name, s.description, s.add_to_skill, s.workflow_expose_config) == (
            FLOW, "n", "d", True, CONFIG)
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        u = await skills.create_or_update_skill(tx, FLOW, False)
        assert u.id == s.id and u.created_at == s.created_at and u.updated_at > s.updated_at
        assert (u.name, u.description, u.add_to_skill, u.workflow_expose_config) == (
            None, None, False, None)  # all four overwritten, None included
        assert await tx.fetch_val(
            "SELECT COUNT(*) FROM workflow_skills WHERE workflow_expose_config IS NULL") == 1  # D19
        assert await skills.get_skill(tx, FLOW) == u
        assert await skills.get_skill(tx, "missing") is None


async def test_legacy_null_text_reads_none_d19(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await skills.create_or_update_skill(tx, FLOW, True, workflow_expose_config=CONFIG)
        await tx.execute("UPDATE workflow_skills SET workflow_expose_config = 'null'")
        got = await skills.get_skill(tx, FLOW)
    assert got is not None and got.workflow_expose_config is None


async def test_concurrent_first_write_one_row_d18(store_pool: rawdb.Pool) -> None:
    async def one(i: int) -> WorkflowSkill:
        async with store_pool.transaction() as tx:
            return await skills.create_or_update_skill(tx, FLOW, i % 2 == 0, f"n{i}")

    results = await asyncio.gather(*(one(i) for i in range(16)))
    assert len({r.id for r in results}) == 1
    async with store_pool.transaction() as tx:
        assert await tx.fetch_val("SELECT COUNT(*) FROM workflow_skills") == 1


async def test_list_delete_and_expose_config(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        ids = [(await skills.create_or_update_skill(tx, f"flow-{n}", n != 2)).id for n in range(4)]
    for n in (3, 1, 0, 2):  # updated_at belongs to the database: touch them one after another
        await asyncio.sleep(0.005)
        async with store_pool.transaction() as tx:
            await skills.update_expose_config(tx, f"flow-{n}", {})
    newest = [ids[2], ids[0], ids[1], ids[3]]
    async with store_pool.transaction() as tx:
        assert [s.id for s in await skills.list_skills(tx)] == newest
        assert [s.id for s in await skills.list_skills(tx, add_to_skill_only=True)] == [
            i for i in newest if i != ids[2]]
        assert [s.id for s in await skills.list_skills(tx, limit=2, offset=1)] == newest[1:3]
        assert [s.id for s in await skills.list_skills(tx, offset=3)] == newest[3:]
        with pytest.raises(rawdb.ValidationError):
            await skills.list_skills(tx, limit=-9)
        await asyncio.sleep(0.005)
        assert await skills.update_expose_config(tx, "flow-3", CONFIG) is True
        got = await skills.get_skill(tx, "flow-3")
        assert got is not None and got.workflow_expose_config == CONFIG
        assert (await skills.list_skills(tx))[0].flow_id == "flow-3"  # most recently updated
        assert await skills.update_expose_config(tx, "missing", CONFIG) is False
        with pytest.raises(rawdb.ValidationError, match="workflow_expose_config"):
            await skills.update_expose_config(tx, "flow-0", ["not", "a", "dict"])  # type: ignore[arg-type]
        assert await skills.delete_skill(tx, "flow-0") is True
        assert await skills.delete_skill(tx, "flow-0") is False
    assert len(await table_rows(store_pool, "workflow_skills")) == 3
