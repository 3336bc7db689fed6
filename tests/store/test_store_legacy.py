"""Files the old system left behind.

The whole store suite also runs on the ``sqlite-legacy`` backend (a v001-v008
file made by the old runner, upgraded by ``pool.migrate()``). This module adds
what only such a file has: the old system's own rows, read back through the
store with their quirks (``'null'`` JSON text, whole-second and ``.ffffff``
timestamps, a double-encoded ``mcp_server_params``, NULL ``agent_mode``, a
``''`` credential, two defaults before v009).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import legacy_db
import pytest

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher


@pytest.fixture
async def legacy_pool(tmp_path: Path) -> AsyncIterator[rawdb.Pool]:
    legacy_db.make_old_runner_db(tmp_path / "old.db", legacy_db.LEGACY_MAX_VERSION,
                                 two_defaults=True)
    pool = await rawdb.create_pool(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        yield pool
    finally:
        await pool.close()


async def test_two_legacy_defaults_before_upgrade_d2(legacy_pool: rawdb.Pool) -> None:
    """At v008 nothing prevents two defaults: the lookup returns the newest, never raises."""
    async with legacy_pool.transaction() as tx:
        default = await store.llm_profiles.get_default_profile(tx)
        flags = await tx.fetch_all("SELECT profile_id FROM llm_profiles WHERE is_default = 1")
    assert len(flags) == 2
    assert default is not None and default.profile_id == legacy_db.LLM_2


async def test_old_rows_read_through_the_store_after_upgrade(legacy_pool: rawdb.Pool) -> None:
    await legacy_pool.migrate(store.MIGRATIONS)
    cipher = FernetCipher([FernetCipher.generate_key()])
    async with legacy_pool.transaction(readonly=True) as tx:
        default = await store.llm_profiles.get_default_profile(tx)
        assert default is not None and default.profile_id == legacy_db.LLM_2
        one = await store.llm_profiles.get_profile(tx, "default-gpt")
        assert one is not None and not one.is_default  # demoted by v009
        assert (one.temperature, one.max_tokens, one.top_p) == (0.7, None, None)  # 'null' text
        assert one.created_at == datetime(2025, 1, 1, 9, tzinfo=UTC)
        assert one.last_used_at == datetime(2025, 1, 2, 10, 11, 12, 123456, tzinfo=UTC)
        two = await store.llm_profiles.get_profile(tx, "claude")
        assert two is not None and (two.max_tokens, two.seed) == (4096, 42)
        assert two.provider_config == {"region": "us-east-1"}
        assert len(await store.llm_profiles.list_profiles(tx, active_only=False)) == 2

        mcp = await store.mcp_profiles.list_profiles(tx, active_only=False)
        params = {p.mcp_server_name: p.mcp_server_params for p in mcp}
        assert params["markitdown"].command == "uvx"  # double-encoded on disk
        assert params["filesystem"].args[-1] == "/tmp"

        recent = await store.tasks.get_recent_tasks(tx)
        assert {t.task_id for t in recent} == set(legacy_db_ids("tasks"))
        by_id = {t.task_id: t for t in recent}
        assert by_id[legacy_db.TASK_1].started_at == datetime(
            2025, 1, 4, 10, 0, 1, 123, tzinfo=UTC)
        assert by_id[legacy_db.TASK_2].task_metadata is None  # 'null' text
        assert by_id[legacy_db.TASK_3].agent_mode is None
        sessions = await store.tasks.get_all_sessions(tx)
        assert [s.session_id for s in sessions] == [legacy_db.SESSION_1]
        assert sessions[0].status == "running"  # TASK_4 is the latest task
        assert await store.tasks.get_task_counts_by_status(tx)

        assert [f.file_id for f in await store.uploaded_files.list_files(tx)] == [
            legacy_db.FILE_1]
        assert await store.voice_profiles.list_profiles(tx, active_only=False)
        assert await store.composio_toolkits.list_toolkits(tx)
        assert await store.schedules.list_schedules(tx)
        assert await store.workflow_skills.list_skills(tx)
        names = await store.credentials.list_credential_names(tx)
        assert names
        blanks = [n for n in names
                  if not await tx.fetch_val(
                      "SELECT encrypted_value FROM credentials WHERE key_name = :k", {"k": n})]
        for name in blanks:  # the old '' credential means "not configured"
            assert await store.credentials.get_credential(tx, name, cipher=cipher) is None


def legacy_db_ids(table: str) -> tuple[str, ...]:
    return {"tasks": (legacy_db.TASK_1, legacy_db.TASK_2, legacy_db.TASK_3,
                      legacy_db.TASK_4)}[table]


async def test_store_writes_work_on_the_upgraded_file(legacy_pool: rawdb.Pool) -> None:
    await legacy_pool.migrate(store.MIGRATIONS)
    async with legacy_pool.transaction() as tx:
        assert await store.llm_profiles.set_default_profile(tx, "default-gpt")
        assert (await store.llm_profiles.get_default_profile(tx)).profile_name == "default-gpt"  # type: ignore[union-attr]
        t = await store.tasks.save_task(tx, legacy_db.TASK_4, "x", "x", "x",
                                        task_status="completed")
        assert t.status == "completed" and t.started_at is None and t.completed_at is not None
        assert t.updated_at > datetime(2025, 1, 6, 9, tzinfo=UTC)
