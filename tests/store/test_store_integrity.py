"""Across every table: updated_at, rejected input, exact round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from store_helpers import T0, table_rows

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher

FLOW = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
TID = "01900000-0000-7000-8000-000000000001"
FID = "01900000-0000-7000-9000-000000000001"
UNICODE = "emoji 🚀👩‍💻 CJK 漢字かな한글 RTL עברית العربية \u200f mixed ✓"
SQLISH = "x'); DROP TABLE tasks; -- \" ` \\ %s :name $1 ?"


async def _seed(tx: rawdb.Transaction, cipher: FernetCipher) -> dict[str, str]:
    """One row in every table that has updated_at; returns ids."""
    await store.llm_profiles.create_profile(tx, "llm", "openai", "m")
    mcp = await store.mcp_profiles.create_profile(tx, "mcp", "srv", {"command": "c", "args": []})
    await store.tasks.save_task(tx, TID, "s", "d", "llm")
    await store.voice_profiles.create_profile(tx, "voice", "asr", "m")
    kit = await store.composio_toolkits.create_toolkit(tx, "Kit", "kit")
    await store.credentials.store_credential(tx, "cred", "v", cipher=cipher)
    sch = await store.schedules.create_schedule(tx, FLOW, "0 9 * * *")
    await store.workflow_skills.create_or_update_skill(tx, FLOW, True)
    return {"mcp": mcp.mcp_id, "kit": kit.id, "schedule": sch.id}


# Every operation that updates a row of a table with updated_at, by the store.
UPDATES: list[tuple[str, str, Callable[..., Awaitable[Any]]]] = [
    ("llm update_profile", "llm_profiles",
     lambda tx, ids, c: store.llm_profiles.update_profile(tx, "llm", {"description": "x"})),
    ("llm update_profile {}", "llm_profiles",
     lambda tx, ids, c: store.llm_profiles.update_profile(tx, "llm", {})),
    ("llm set_default_profile", "llm_profiles",
     lambda tx, ids, c: store.llm_profiles.set_default_profile(tx, "llm")),
    ("llm update_last_used", "llm_profiles",
     lambda tx, ids, c: store.llm_profiles.update_last_used(tx, "llm")),
    ("mcp update_profile", "mcp_profiles",
     lambda tx, ids, c: store.mcp_profiles.update_profile(tx, ids["mcp"], {"is_active": True})),
    ("mcp update_last_used", "mcp_profiles",
     lambda tx, ids, c: store.mcp_profiles.update_last_used(tx, ids["mcp"])),
    ("tasks save_task (update)", "tasks",
     lambda tx, ids, c: store.tasks.save_task(tx, TID, "s", "d", "llm", task_result="r")),
    ("tasks update_task_status", "tasks",
     lambda tx, ids, c: store.tasks.update_task_status(tx, TID, "running")),
    ("tasks update_task_completion", "tasks",
     lambda tx, ids, c: store.tasks.update_task_completion(tx, TID, "r")),
    ("voice update_profile", "voice_profiles",
     lambda tx, ids, c: store.voice_profiles.update_profile(tx, "voice", {"description": "x"})),
    ("voice update_last_used", "voice_profiles",
     lambda tx, ids, c: store.voice_profiles.update_last_used(tx, "voice")),
    ("composio update_toolkit", "composio_toolkits",
     lambda tx, ids, c: store.composio_toolkits.update_toolkit(tx, ids["kit"], {"logo": "l"})),
    ("composio update_toolkit_by_slug", "composio_toolkits",
     lambda tx, ids, c: store.composio_toolkits.update_toolkit_by_slug(tx, "kit", {"name": "K"})),
    ("composio toggle_toolkit_enabled (no change)", "composio_toolkits",
     lambda tx, ids, c: store.composio_toolkits.toggle_toolkit_enabled(tx, ids["kit"], False)),
    ("composio update_toolkit_tools", "composio_toolkits",
     lambda tx, ids, c: store.composio_toolkits.update_toolkit_tools(tx, ids["kit"], "[]")),
    ("composio upsert_toolkits_by_slug", "composio_toolkits",
     lambda tx, ids, c: store.composio_toolkits.upsert_toolkits_by_slug(
         tx, [{"slug": "kit", "name": "Kit"}])),
    ("credentials store_credential (replace)", "credentials",
     lambda tx, ids, c: store.credentials.store_credential(tx, "cred", "v2", cipher=c)),
    ("schedules update_schedule", "schedules",
     lambda tx, ids, c: store.schedules.update_schedule(tx, ids["schedule"], {"is_enabled": True})),
    ("schedules update_schedule_by_flow_id", "schedules",
     lambda tx, ids, c: store.schedules.update_schedule_by_flow_id(tx, FLOW, {"description": "d"})),
    ("schedules increment_execution_count", "schedules",
     lambda tx, ids, c: store.schedules.increment_execution_count(tx, ids["schedule"])),
    ("schedules set_next_execution", "schedules",
     lambda tx, ids, c: store.schedules.set_next_execution(tx, FLOW, None)),
    ("schedules record_execution", "schedules",
     lambda tx, ids, c: store.schedules.record_execution(tx, FLOW, T0, None)),
    ("skills create_or_update_skill (update)", "workflow_skills",
     lambda tx, ids, c: store.workflow_skills.create_or_update_skill(tx, FLOW, True)),
    ("skills update_expose_config", "workflow_skills",
     lambda tx, ids, c: store.workflow_skills.update_expose_config(tx, FLOW, {})),
]


async def _updated_at(pool: rawdb.Pool, table: str) -> list[datetime]:
    async with pool.transaction() as tx:
        rows = await tx.fetch_all(f"SELECT updated_at FROM {table}")
    values = [row[0] for row in rows]
    assert len(values) == 1
    return values


@pytest.mark.parametrize(("name", "table", "op"), UPDATES, ids=[u[0] for u in UPDATES])
async def test_every_update_moves_updated_at(
    store_pool: rawdb.Pool, cipher: FernetCipher, name: str, table: str,
    op: Callable[..., Awaitable[Any]],
) -> None:
    """Point 3: the database moves updated_at; no store SQL mentions it."""
    async with store_pool.transaction() as tx:
        ids = await _seed(tx, cipher)
    before = await _updated_at(store_pool, table)
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        result = await op(tx, ids, cipher)
    assert result not in (False, None, 0)
    after = await _updated_at(store_pool, table)
    assert after[0] > before[0], name


async def test_store_sql_never_sets_updated_at() -> None:
    from rawdb.store._common import load

    for dialect in ("sqlite", "postgresql", "mysql"):
        for group in load(dialect).values():
            for sql in group.values():
                assert "updated_at =" not in sql and "updated_at=" not in sql


@pytest.mark.parametrize("table", ["llm_profiles", "tasks", "mcp_profiles", "voice_profiles",
                                   "composio_toolkits", "credentials", "schedules",
                                   "workflow_skills"])
async def test_raw_update_moves_updated_at_d15(
    store_pool: rawdb.Pool, cipher: FernetCipher, table: str
) -> None:
    """D15: an UPDATE issued by someone else (here: the test) moves updated_at too."""
    async with store_pool.transaction() as tx:
        await _seed(tx, cipher)
    before = await _updated_at(store_pool, table)
    await asyncio.sleep(0.01)
    column = {"llm_profiles": "description", "tasks": "error_message"}.get(table, "description")
    if table == "composio_toolkits":
        column = "logo"
    async with store_pool.transaction() as tx:
        await tx.execute(f"UPDATE {table} SET {column} = 'x'")
    assert (await _updated_at(store_pool, table))[0] > before[0]


# --------------------------------------------------------------------------- point 4


async def _all_rows(pool: rawdb.Pool) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("llm_profiles", "mcp_profiles", "tasks", "uploaded_files", "voice_profiles",
              "composio_toolkits", "credentials", "schedules", "workflow_skills")
    return {t: await table_rows(pool, t) for t in tables}


BAD_INPUT: list[tuple[str, type[Exception], Callable[..., Awaitable[Any]]]] = [
    ("status outside enum", rawdb.ValidationError,
     lambda tx, c: store.tasks.update_task_status(tx, TID, "finished")),
    ("status outside enum on insert", rawdb.ValidationError,
     lambda tx, c: store.tasks.save_task(tx, "t2", "s", "d", "llm", task_status="Done")),
    ("voice type outside enum", rawdb.ValidationError,
     lambda tx, c: store.voice_profiles.create_profile(tx, "v2", "ttsx", "m")),
    ("McpServerConfig with a non-string arg", rawdb.ValidationError,
     lambda tx, c: store.tasks.save_task(tx, "t2", "s", "d", "llm", mcp_server_config={
         "mcpServers": {"fs": {"command": "npx", "args": ["ok", 3]}}})),
    ("McpServerParams with a non-string arg", rawdb.ValidationError,
     lambda tx, c: store.mcp_profiles.update_profile(tx, "m", {"mcp_server_params": {
         "command": "npx", "args": [None]}})),
    ("duplicate profile_name", rawdb.UniqueViolation,
     lambda tx, c: store.llm_profiles.create_profile(tx, "llm", "openai", "m")),
    ("duplicate slug", rawdb.UniqueViolation,
     lambda tx, c: store.composio_toolkits.create_toolkit(tx, "Other", "kit")),
    ("duplicate flow_id", rawdb.UniqueViolation,
     lambda tx, c: store.schedules.create_schedule(tx, FLOW)),
    ("duplicate file_id", rawdb.UniqueViolation,
     lambda tx, c: store.uploaded_files.create_file_record(
         tx, FID, "a", "b", "c", None, 1, "m", "r")),
    ("profile_name longer than 100", rawdb.ValidationError,
     lambda tx, c: store.llm_profiles.create_profile(tx, "n" * 101, "openai", "m")),
    ("task_id longer than 36", rawdb.ValidationError,
     lambda tx, c: store.tasks.save_task(tx, "t" * 37, "s", "d", "llm")),
    ("original_filename longer than 255 (4-byte chars)", rawdb.ValidationError,
     lambda tx, c: store.uploaded_files.create_file_record(
         tx, "f2", "🚀" * 256, "b", "c", None, 1, "m", "r")),
    ("mime_type longer than 100 in an update path", rawdb.ValidationError,
     lambda tx, c: store.llm_profiles.update_profile(tx, "llm", {"model": "m" * 101})),
    ("NUL byte in text", rawdb.DataError,
     lambda tx, c: store.tasks.save_task(tx, TID, "s", "d", "llm", task_result="a\x00b")),
    ("NUL byte in a name", rawdb.DataError,
     lambda tx, c: store.llm_profiles.create_profile(tx, "a\x00", "openai", "m")),
    ("NUL byte inside JSON", rawdb.DataError,
     lambda tx, c: store.llm_profiles.update_profile(tx, "llm", {"provider_config": {
         "k": ["x\x00"]}})),
    ("NUL byte in a lookup key", rawdb.DataError,
     lambda tx, c: store.llm_profiles.get_profile(tx, "a\x00")),
    ("naive datetime", rawdb.ValidationError,
     lambda tx, c: store.schedules.record_execution(tx, FLOW, datetime(2024, 1, 1), None)),
    ("unknown update key", rawdb.ValidationError,
     lambda tx, c: store.composio_toolkits.update_toolkit_by_slug(tx, "kit", {"slug": "x"})),
    ("invalid cron", rawdb.ValidationError,
     lambda tx, c: store.schedules.update_schedule_by_flow_id(
         tx, FLOW, {"cron_expression": "99 * * * *"})),
    ("negative limit", rawdb.ValidationError,
     lambda tx, c: store.composio_toolkits.list_toolkits(tx, limit=-2)),
]


@pytest.mark.parametrize(("name", "error", "op"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
async def test_bad_input_typed_error_table_unchanged(
    store_pool: rawdb.Pool, cipher: FernetCipher, name: str, error: type[Exception],
    op: Callable[..., Awaitable[Any]],
) -> None:
    """Point 4: each bad input raises its typed error and leaves every table as it was."""
    async with store_pool.transaction() as tx:
        await _seed(tx, cipher)
        await store.mcp_profiles.create_profile(tx, "m", "m", {"command": "c", "args": []})
        await store.uploaded_files.create_file_record(tx, FID, "a", "b", "c", None, 1, "m", "r")
    before = await _all_rows(store_pool)
    with pytest.raises(error):
        async with store_pool.transaction() as tx:
            await op(tx, cipher)
    assert await _all_rows(store_pool) == before
    if issubclass(error, rawdb.ValidationError):
        assert issubclass(error, ValueError)


async def test_sql_looking_text_is_stored_verbatim(store_pool: rawdb.Pool) -> None:
    """Point 4: text that looks like SQL is data, everywhere a string goes."""
    async with store_pool.transaction() as tx:
        p = await store.llm_profiles.create_profile(tx, SQLISH[:100], "openai", SQLISH[:100],
                                                    description=SQLISH,
                                                    provider_config={SQLISH: SQLISH})
        t = await store.tasks.save_task(tx, TID, "s", SQLISH, "llm", task_result=SQLISH)
        await store.composio_toolkits.create_toolkit(tx, SQLISH[:100], "k", tools=SQLISH)
        assert await store.llm_profiles.update_profile(tx, SQLISH[:100], {"model": SQLISH[:50]})
    async with store_pool.transaction() as tx:
        got = await store.llm_profiles.get_profile(tx, SQLISH[:100])
        task = await store.tasks.get_task(tx, TID)
        kit = await store.composio_toolkits.get_toolkit_by_slug(tx, "k")
        assert await tx.fetch_val("SELECT COUNT(*) FROM tasks") == 1
    assert got is not None and got.description == SQLISH and got.model == SQLISH[:50]
    assert got.provider_config == {SQLISH: SQLISH} and p.profile_name == SQLISH[:100]
    assert task == t and task.task_description == SQLISH and task.task_result == SQLISH
    assert kit is not None and kit.name == SQLISH[:100] and kit.tools == SQLISH


# --------------------------------------------------------------------------- point 5


async def test_unicode_round_trip(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await store.llm_profiles.create_profile(
            tx, UNICODE[:100], "openai", "m", description=UNICODE,
            provider_config={UNICODE: [UNICODE, {"k": UNICODE}]})
        await store.tasks.save_task(tx, TID, "s", UNICODE, "llm", error_message=UNICODE,
                                    mcp_server_config={"mcpServers": {UNICODE: {
                                        "command": UNICODE, "args": [UNICODE]}}})
        await store.workflow_skills.create_or_update_skill(
            tx, FLOW, True, UNICODE, UNICODE, {UNICODE: {"inputs": {UNICODE: UNICODE}}})
    async with store_pool.transaction() as tx:
        p = await store.llm_profiles.get_profile(tx, UNICODE[:100])
        t = await store.tasks.get_task(tx, TID)
        s = await store.workflow_skills.get_skill(tx, FLOW)
    assert p is not None and p.description == UNICODE
    assert p.provider_config == {UNICODE: [UNICODE, {"k": UNICODE}]}
    assert t is not None and t.task_description == UNICODE and t.error_message == UNICODE
    import json
    assert json.loads(t.mcp_server_config or "")["mcpServers"][UNICODE]["args"] == [UNICODE]
    assert s is not None and (s.name, s.description) == (UNICODE, UNICODE)
    assert s.workflow_expose_config == {UNICODE: {"inputs": {UNICODE: UNICODE}}}


async def test_nested_json_round_trip(store_pool: rawdb.Pool) -> None:
    nested: dict[str, Any] = {"a": {"b": {"c": [1, 2.5, True, None, "x", {"d": []}]}},
                              "big": 2**53, "neg": -1.25e-7, "empty": {}, "list": [[[]]]}
    async with store_pool.transaction() as tx:
        await store.llm_profiles.create_profile(tx, "n", "openai", "m", provider_config=nested)
        await store.voice_profiles.create_profile(tx, "v", "tts", "m", voice_meta_params=nested)
    async with store_pool.transaction() as tx:
        p = await store.llm_profiles.get_profile(tx, "n")
        v = await store.voice_profiles.get_profile(tx, "v")
    assert p is not None and p.provider_config == nested
    assert v is not None and v.voice_meta_params == nested


@pytest.mark.parametrize("moment", [
    datetime(2024, 3, 10, 6, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 3, 10, 1, 30, 0, 1, tzinfo=ZoneInfo("America/New_York")),
    datetime(2024, 10, 27, 2, 30, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=timezone(timedelta(hours=13, minutes=45))),
])
async def test_timestamps_microseconds_and_zones(store_pool: rawdb.Pool, moment: datetime) -> None:
    """Point 5: stored as UTC, returned aware UTC with the microseconds, on every dialect."""
    async with store_pool.transaction() as tx:
        await store.tasks.save_task(tx, TID, "s", "d", "llm", task_status="running", now=moment)
        await store.llm_profiles.create_profile(tx, "p", "openai", "m")
        await store.llm_profiles.update_last_used(tx, "p", now=moment)
    async with store_pool.transaction() as tx:
        t = await store.tasks.get_task(tx, TID)
        p = await store.llm_profiles.get_profile(tx, "p")
        raw = await tx.fetch_val("SELECT started_at FROM tasks")
    assert t is not None and p is not None
    for value in (t.started_at, p.last_used_at):
        assert value == moment.astimezone(UTC) and value is not None and value.tzinfo is UTC
        assert value.microsecond == moment.astimezone(UTC).microsecond
    # stored as UTC: the raw value reads as the UTC wall clock
    wall = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
    assert wall.replace(tzinfo=None) == moment.astimezone(UTC).replace(tzinfo=None)
    for stamp in (t.created_at, t.updated_at):
        assert stamp.tzinfo is UTC
