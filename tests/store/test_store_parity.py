"""Every operation, run on SQLite, PostgreSQL and MariaDB, gives identical results.

One scripted scenario calls each of the 74 operations and the
extras with a fixed clock, through a proxy that records which functions were
called. Results are normalised only where a difference is expected by design:
random uuid4 ids become ``<id n>`` in order of appearance, ciphertexts become
``<secret>``, and timestamps the database itself writes (``created_at``,
``updated_at``, ``upload_time``; their precision is the dialect's) become
``<db time>``. Everything else — values, orders, counts, booleans, JSON,
application timestamps — must be equal byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from store_helpers import T0, create_database, drop_database

from rawdb import store
from rawdb.store.crypto import FernetCipher

DB_TIMES = {"created_at", "updated_at", "upload_time"}
SECRETS = {"encrypted_api_key", "encrypted_value"}
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

EXPECTED = {
    "llm_profiles": {"create_profile", "get_profile", "get_profile_with_decrypted_key",
                     "list_profiles", "update_profile", "delete_profile", "get_default_profile",
                     "set_default_profile", "update_last_used", "count_profiles"},
    "mcp_profiles": {"create_profile", "get_profile", "get_profile_by_display_name",
                     "list_profiles", "get_active_profiles", "update_profile", "delete_profile",
                     "update_last_used"},
    "tasks": {"save_task", "get_task", "get_tasks_by_session", "get_recent_tasks",
              "get_all_sessions", "update_task_status", "delete_task", "get_running_tasks",
              "get_active_task", "get_tasks_by_llm_profile", "update_task_completion",
              "get_task_counts_by_status", "count_sessions"},
    "uploaded_files": {"create_file_record", "get_file", "list_files", "count_files",
                       "delete_file", "hard_delete_file", "get_files_by_session",
                       "cleanup_deleted_files"},
    "voice_profiles": {"create_profile", "get_profile", "get_profile_with_decrypted_key",
                       "list_profiles", "update_profile", "delete_profile", "update_last_used"},
    "composio_toolkits": {"create_toolkit", "get_toolkit", "get_toolkit_by_slug",
                          "list_toolkits", "get_enabled_toolkits", "update_toolkit",
                          "update_toolkit_by_slug", "delete_toolkit", "delete_toolkit_by_slug",
                          "toggle_toolkit_enabled", "update_toolkit_tools",
                          "upsert_toolkits_by_slug"},
    "credentials": {"get_credential", "store_credential", "delete_credential",
                    "list_credential_names"},
    "schedules": {"create_schedule", "get_schedule", "get_schedule_by_flow_id", "list_schedules",
                  "update_schedule", "update_schedule_by_flow_id", "delete_schedule",
                  "delete_schedule_by_flow_id", "get_enabled_schedules",
                  "increment_execution_count", "list_schedulable", "set_next_execution",
                  "record_execution"},
    "workflow_skills": {"create_or_update_skill", "get_skill", "list_skills", "delete_skill",
                        "update_expose_config"},
}
EXTRAS = {"count_profiles", "count_sessions", "upsert_toolkits_by_slug", "list_schedulable",
          "set_next_execution", "record_execution"}


def test_checklist_has_74_operations_and_modules_export_them() -> None:
    assert sum(len(ops) for ops in EXPECTED.values()) - len(EXTRAS) == 74
    for module, ops in EXPECTED.items():
        assert set(getattr(store, module).__all__) == ops, module


class Recorder:
    """Calls store functions by module and name, and records each normalised result."""

    def __init__(self) -> None:
        self.called: set[tuple[str, str]] = set()
        self.log: list[tuple[str, Any]] = []

    def __getattr__(self, module: str) -> Any:
        recorder = self

        class Module:
            def __getattr__(self, name: str) -> Callable[..., Any]:
                fn = getattr(getattr(store, module), name)

                async def call(*args: Any, **kwargs: Any) -> Any:
                    result = await fn(*args, **kwargs)
                    recorder.called.add((module, name))
                    recorder.log.append((f"{module}.{name}", msgspec.to_builtins(result)))
                    return result

                return call

        return Module()


def normalise(log: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    ids: dict[str, str] = {}

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key in DB_TIMES or (key in ("last_activity",) and value is not None):
            return "<db time>" if value is not None else None
        if key in SECRETS and value is not None:
            return "<secret>"
        if isinstance(value, str) and UUID4.match(value):
            return ids.setdefault(value, f"<id {len(ids)}>")
        return value

    return [(name, walk(value)) for name, value in log]


async def scenario(pool: Any, cipher: FernetCipher) -> Recorder:
    r = Recorder()
    later = [T0 + timedelta(minutes=m) for m in range(10)]
    async with pool.transaction() as tx:
        # llm_profiles
        await r.llm_profiles.create_profile(tx, "a", "openai", "gpt", api_key="k", temperature=0.5,
                                            provider_config={"x": [1, None]}, is_default=True,
                                            cipher=cipher)
        await r.llm_profiles.create_profile(tx, "b", "anthropic", "claude", seed=3)
        await r.llm_profiles.create_profile(tx, "c", "google", "gemini", is_default=True)
        await r.llm_profiles.get_profile(tx, "a")
        await r.llm_profiles.get_profile_with_decrypted_key(tx, "a", cipher=cipher)
        await r.llm_profiles.update_profile(tx, "b", {"description": "B", "is_active": False})
        await r.llm_profiles.update_last_used(tx, "a", now=later[1])
        await r.llm_profiles.update_last_used(tx, "c", now=later[2])
        await r.llm_profiles.list_profiles(tx)
        await r.llm_profiles.list_profiles(tx, active_only=False, limit=2, offset=0)
        await r.llm_profiles.count_profiles(tx)
        await r.llm_profiles.get_default_profile(tx)
        await r.llm_profiles.set_default_profile(tx, "nope")
        await r.llm_profiles.set_default_profile(tx, "a")
        await r.llm_profiles.get_default_profile(tx)
        await r.llm_profiles.delete_profile(tx, "b")
        # mcp_profiles
        m = await r.mcp_profiles.create_profile(tx, "FS", "fs", {"command": "npx", "args": ["a"]})
        w = await r.mcp_profiles.create_profile(tx, "Web", "web", {"command": "uvx", "args": [],
                                                                   "env": {"A": "1"}})
        await stamp(tx, "mcp_profiles", "mcp_id", [m.mcp_id, w.mcp_id])
        await r.mcp_profiles.get_profile(tx, m.mcp_id)
        await r.mcp_profiles.get_profile_by_display_name(tx, "Web")
        await r.mcp_profiles.update_profile(tx, m.mcp_id, {"description": "files"})
        await r.mcp_profiles.update_last_used(tx, m.mcp_id, now=later[3])
        await r.mcp_profiles.list_profiles(tx)
        await r.mcp_profiles.get_active_profiles(tx)
        await r.mcp_profiles.delete_profile(tx, m.mcp_id)
        # tasks
        for n, session, status in ((1, "s1", "completed"), (2, "s1", "running"),
                                   (3, "s2", None), (4, "s2", "failed")):
            await r.tasks.save_task(tx, f"01900000-0000-7000-8000-00000000000{n}", session,
                                    f"task {n}", "a", task_status=status,
                                    mcp_server_config={"mcpServers": {}}, now=later[n])
    await pool_set_created(pool)
    async with pool.transaction() as tx:
        t1 = "01900000-0000-7000-8000-000000000001"
        await r.tasks.get_task(tx, t1)
        await r.tasks.get_tasks_by_session(tx, "s1")
        await r.tasks.get_recent_tasks(tx, limit=3)
        await r.tasks.get_all_sessions(tx)
        await r.tasks.count_sessions(tx)
        await r.tasks.update_task_status(tx, "01900000-0000-7000-8000-000000000003", "running",
                                         now=later[5])
        await r.tasks.get_running_tasks(tx)
        await r.tasks.get_active_task(tx)
        await r.tasks.get_tasks_by_llm_profile(tx, "a", limit=2, offset=1)
        await r.tasks.update_task_completion(tx, "01900000-0000-7000-8000-000000000002", "done",
                                             now=later[6])
        await r.tasks.get_task_counts_by_status(tx)
        await r.tasks.delete_task(tx, t1)
        # uploaded_files
        for n in (1, 2, 3):
            await r.uploaded_files.create_file_record(
                tx, f"01900000-0000-7000-9000-00000000000{n}", f"f{n}.txt", f"s{n}", f"/p/{n}",
                "s1" if n < 3 else None, n * 10, "text/plain", f"r/{n}")
        await r.uploaded_files.get_file(tx, "01900000-0000-7000-9000-000000000001")
        await r.uploaded_files.delete_file(tx, "01900000-0000-7000-9000-000000000001",
                                           now=later[0])
        await r.uploaded_files.delete_file(tx, "01900000-0000-7000-9000-000000000001")
        await r.uploaded_files.list_files(tx, active_only=False)
        await r.uploaded_files.count_files(tx, "s1")
        await r.uploaded_files.get_files_by_session(tx, "s1")
        await r.uploaded_files.cleanup_deleted_files(tx, 30, now=later[0] + timedelta(days=31))
        await r.uploaded_files.hard_delete_file(tx, "01900000-0000-7000-9000-000000000002")
        # voice_profiles
        await r.voice_profiles.create_profile(tx, "w", "asr", "whisper", api_key="vk",
                                              cipher=cipher)
        await r.voice_profiles.create_profile(tx, "t", "tts", "tts-1", voice_meta_params={"v": 1})
        await r.voice_profiles.get_profile(tx, "t")
        await r.voice_profiles.get_profile_with_decrypted_key(tx, "w", cipher=cipher)
        await r.voice_profiles.update_profile(tx, "t", {"voice_model_name": "tts-2"})
        await r.voice_profiles.update_last_used(tx, "t", now=later[7])
        await r.voice_profiles.list_profiles(tx, "tts")
        await r.voice_profiles.delete_profile(tx, "w")
        # composio_toolkits
        k = await r.composio_toolkits.create_toolkit(tx, "Gmail", "gmail", tools='[{"name": "s"}]')
        await r.composio_toolkits.upsert_toolkits_by_slug(tx, [{"slug": "gmail", "name": "G"},
                                                               {"slug": "slack", "name": "Slack"}])
        await r.composio_toolkits.get_toolkit(tx, k.id)
        await r.composio_toolkits.get_toolkit_by_slug(tx, "slack")
        await r.composio_toolkits.update_toolkit(tx, k.id, {"logo": "L"})
        await r.composio_toolkits.update_toolkit_by_slug(tx, "slack", {"description": "chat"})
        await r.composio_toolkits.toggle_toolkit_enabled(tx, k.id, True)
        await r.composio_toolkits.update_toolkit_tools(tx, k.id, "[]")
        await r.composio_toolkits.list_toolkits(tx, limit=1, offset=1)
        await r.composio_toolkits.get_enabled_toolkits(tx)
        await r.composio_toolkits.delete_toolkit_by_slug(tx, "slack")
        await r.composio_toolkits.delete_toolkit(tx, k.id)
        # credentials
        await r.credentials.store_credential(tx, "api", "secret", "d", cipher=cipher)
        await r.credentials.store_credential(tx, "api", "secret2", cipher=cipher)
        await r.credentials.get_credential(tx, "api", cipher=cipher)
        await r.credentials.list_credential_names(tx)
        await r.credentials.delete_credential(tx, "api")
        await r.credentials.get_credential(tx, "api", cipher=cipher)
        # schedules
        s = await r.schedules.create_schedule(tx, "flow-1", "0 9 * * *", now=T0,
                                              tz=ZoneInfo("Europe/Berlin"))
        s2 = await r.schedules.create_schedule(tx, "flow-2", None, is_enabled=False)
        await stamp(tx, "schedules", "id", [s.id, s2.id])
        await r.schedules.get_schedule(tx, s.id)
        await r.schedules.get_schedule_by_flow_id(tx, "flow-2")
        await r.schedules.update_schedule(tx, s.id, {"cron_expression": "*/5 * * * *"}, now=T0)
        await r.schedules.update_schedule_by_flow_id(tx, "flow-2", {"is_enabled": True})
        await r.schedules.increment_execution_count(tx, s.id, now=later[8])
        await r.schedules.record_execution(tx, "flow-1", later[9], later[9] + timedelta(hours=1))
        await r.schedules.set_next_execution(tx, "flow-2", None)
        await r.schedules.get_enabled_schedules(tx)
        await r.schedules.list_schedulable(tx)
        await r.schedules.list_schedules(tx, enabled_only=True, limit=1)
        await r.schedules.delete_schedule_by_flow_id(tx, "flow-2")
        await r.schedules.delete_schedule(tx, s.id)
        # workflow_skills
        await r.workflow_skills.create_or_update_skill(tx, "flow-1", True, "n", "d", {"c": {}})
        await r.workflow_skills.create_or_update_skill(tx, "flow-1", False, "n2")
        await r.workflow_skills.update_expose_config(tx, "flow-1", {"c": {"inputs": {}}})
        await r.workflow_skills.get_skill(tx, "flow-1")
        await r.workflow_skills.list_skills(tx)
        await r.workflow_skills.delete_skill(tx, "flow-1")
    return r


async def stamp(tx: Any, table: str, key: str, ids: list[str]) -> None:
    """Distinct creation times in insertion order, so that no ordering falls to a random id.

    (A tie between two uuid4 keys orders the same way on every dialect, but the
    ids themselves differ between the runs being compared.)
    """
    for n, ident in enumerate(ids):
        await tx.execute(f"UPDATE {table} SET created_at = :t WHERE {key} = :id",
                         {"t": T0 + timedelta(seconds=n), "id": ident})


async def pool_set_created(pool: Any) -> None:
    """Give tasks distinct, known creation times (the database's own are dialect-precise)."""
    async with pool.transaction() as tx:
        for n in (1, 2, 3, 4):
            await tx.execute("UPDATE tasks SET created_at = :t WHERE task_id = :id",
                             {"t": T0 + timedelta(seconds=n),
                              "id": f"01900000-0000-7000-8000-00000000000{n}"})


async def test_identical_results_on_every_dialect(tmp_path: Path) -> None:
    cipher = FernetCipher([FernetCipher.generate_key()])
    results: dict[str, list[tuple[str, Any]]] = {}
    for dialect in ("sqlite", "postgresql", "mysql"):
        db = await create_database(dialect, tmp_path)
        try:
            pool = await db.pool(max_size=2)
            try:
                recorder = await scenario(pool, cipher)
            finally:
                await pool.close()
        finally:
            await drop_database(db)
        expected = {(module, op) for module, ops in EXPECTED.items() for op in ops}
        assert expected - recorder.called == set(), "operations the scenario did not call"
        results[dialect] = normalise(recorder.log)
    for dialect in ("postgresql", "mysql"):
        for i, (left, right) in enumerate(zip(results["sqlite"], results[dialect], strict=True)):
            assert left == right, f"step {i} differs between sqlite and {dialect}"
    assert len(results["sqlite"]) >= 98
