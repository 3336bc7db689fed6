"""Build SQLite files in the states the old system left behind.

A plain helper for the migration tests; it holds no tests and does not import rawdb,
only :mod:`sqlite3`. Every builder writes a new file and returns a :class:`LegacyDb`
naming the sample rows it inserted, so a test can check that they survive.

* :func:`make_old_runner_db` -- state 1: what the old runner left at ``user_version`` N
  (scripts run with ``executescript``, then ``PRAGMA user_version = N`` set on a second
  connection).
* :func:`make_fallback_db` -- state 2: tables made by the old ORM's ``create_all`` after a
  failed script: no triggers, no CHECKs, no database defaults, ``agent_mode NOT NULL``,
  the ORM's extra ``ix_uploaded_files_*`` indexes, ``user_version`` stuck.
* :func:`make_half_applied_db` -- state 3: a script's effects (all or some statements)
  without its version bump.

The SQLite scripts are read from this repository's ``sql/migrations/sqlite``; v001-v008
are the legacy scripts, so the files built here are what old installations hold.

Sample data imitates what the old code wrote: booleans ``0``/``1``; timestamps as UTC text,
``YYYY-MM-DD HH:MM:SS`` from ``CURRENT_TIMESTAMP`` defaults and ``YYYY-MM-DD HH:MM:SS.ffffff``
from application-set values; ``None`` in an ORM JSON column as the JSON text ``null``;
a double-encoded ``mcp_server_params``; a blank credential stored as ``''``; in the
fallback file an upper-case task status (the early build's enum names).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SQLITE_MIGRATIONS = Path(__file__).resolve().parents[1] / "sql" / "migrations" / "sqlite"
"""Directory of the SQLite scripts (``vNNN_description.sql``)."""

LEGACY_MAX_VERSION = 8
"""The newest version the old system knew; rawdb's own scripts start at v009."""

# Inventory of a file the scripts brought to version 8.
V8_TABLES = frozenset(
    {
        "llm_profiles",
        "tasks",
        "uploaded_files",
        "mcp_profiles",
        "voice_profiles",
        "composio_toolkits",
        "credentials",
        "schedules",
        "workflow_skills",
    }
)
V8_TRIGGERS = frozenset(f"update_{t}_updated_at" for t in V8_TABLES - {"uploaded_files"})
V8_INDEXES = frozenset(
    {
        "idx_llm_profiles_name",
        "idx_llm_profiles_active",
        "idx_llm_profiles_default",
        "idx_llm_profiles_provider",
        "idx_tasks_status",
        "idx_tasks_session",
        "idx_tasks_llm_profile",
        "idx_tasks_created",
        "idx_uploaded_files_session_time",
        "idx_uploaded_files_active",
        "idx_uploaded_files_filename",
        "idx_mcp_profiles_display_name",
        "idx_mcp_profiles_server_name",
        "idx_mcp_profiles_active",
        "idx_voice_profiles_name",
        "idx_voice_profiles_type",
        "idx_voice_profiles_active",
        "idx_composio_toolkits_name",
        "idx_composio_toolkits_slug",
        "idx_composio_toolkits_enabled",
        "idx_credentials_key_name",
        "idx_schedules_flow_id",
        "idx_schedules_enabled",
        "idx_schedules_next_execution",
        "idx_schedules_cron",
        "idx_workflow_skills_flow_id",
        "idx_workflow_skills_enabled",
    }
)
# The ORM's own indexes on uploaded_files (Column(..., index=True)), only in fallback files.
ORM_EXTRA_INDEXES = frozenset(
    {
        "ix_uploaded_files_original_filename",
        "ix_uploaded_files_session_id",
        "ix_uploaded_files_upload_time",
        "ix_uploaded_files_is_deleted",
    }
)


@dataclass(frozen=True)
class LegacyDb:
    """A built file and what was put into it."""

    path: Path
    user_version: int
    ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Primary keys of the sample rows, per table (tables absent at that version: none)."""
    default_profile_id: str | None = None
    """The default LLM profile that should remain after v009 (the most recently
    updated default; with ``two_defaults`` the other one is demoted)."""


# --------------------------------------------------------------------------- scripts


def script_paths(upto: int, start: int = 1) -> list[Path]:
    """The SQLite scripts ``v{start}`` … ``v{upto}`` in order (exactly one file per version)."""
    paths = []
    for n in range(start, upto + 1):
        found = sorted(SQLITE_MIGRATIONS.glob(f"v{n:03d}_*.sql"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"expected one v{n:03d}_*.sql in {SQLITE_MIGRATIONS}, got {found}"
            )
        paths.append(found[0])
    return paths


def split_sqlite_script(text: str) -> list[str]:
    """Cut a script into statements with SQLite's own tokenizer (trigger bodies stay whole).

    Statement text is kept as written (leading comments included); comment-only
    remainders are dropped.
    """
    statements: list[str] = []
    buf = ""
    for piece in text.split(";"):
        candidate = buf + piece + ";"
        if sqlite3.complete_statement(candidate):
            if _strip_comments(candidate) != ";":
                statements.append(candidate.strip())
            buf = ""
        else:  # the ';' was inside a string, a comment or a trigger body
            buf = candidate
    if _strip_comments(buf):
        raise ValueError(f"incomplete statement at the end of the script: {buf.strip()[:80]!r}")
    return statements


def _strip_comments(sql: str) -> str:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return "\n".join(lines).strip()


def inventory(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Names in a file: ``tables``, ``indexes`` (named ones, not ``sqlite_autoindex_*``),
    ``triggers`` (frozensets) and ``user_version``."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    by_type: dict[str, set[str]] = {"table": set(), "index": set(), "trigger": set()}
    for kind, name in rows:
        by_type.setdefault(kind, set()).add(name)
    return {
        "tables": frozenset(by_type["table"]),
        "indexes": frozenset(by_type["index"]),
        "triggers": frozenset(by_type["trigger"]),
        "user_version": version,
    }


# --------------------------------------------------------------------------- builders


def make_old_runner_db(
    path: str | os.PathLike[str], version: int, *, two_defaults: bool = False
) -> LegacyDb:
    """A file as the old runner left it at ``user_version = version`` (0 … 8).

    Each script v001 … v{version} runs through ``executescript`` (every statement
    committed on its own), then ``PRAGMA user_version = n`` is set on a second connection,
    as the old manager did. Sample rows go in right after the script that made their
    table, so later scripts act on them (rows made at v001 get ``agent_mode`` from v002's
    default). ``two_defaults=True`` marks two LLM profiles as default (the old schema did
    not prevent it); v009 must keep the more recently updated one.
    """
    if not 0 <= version <= LEGACY_MAX_VERSION:
        raise ValueError(f"the old runner knew versions 0..{LEGACY_MAX_VERSION}, not {version}")
    target = _new_file(path)
    ids: dict[str, list[str]] = {}
    for n, script in enumerate(script_paths(version), start=1):
        conn = sqlite3.connect(target)
        try:
            conn.executescript(script.read_text(encoding="utf-8"))
            _insert_script_samples(conn, n, ids, two_defaults=two_defaults)
        finally:
            conn.close()
        _set_user_version(target, n)
    return _result(target, version, ids, two_defaults=two_defaults)


def make_half_applied_db(
    path: str | os.PathLike[str], version: int = 1, statements: int | None = None
) -> LegacyDb:
    """``user_version = version`` but script ``version + 1`` already (partly) applied.

    The default is the common case: user_version 1 with v002's
    ``ALTER TABLE tasks ADD COLUMN agent_mode`` done, so re-running v002 fails with
    "duplicate column name: agent_mode". ``statements`` applies only the first N
    statements of the next script (comments aside; ``PRAGMA`` lines count), as a crash
    in the middle of ``executescript`` would leave it; ``None`` applies all of them.
    """
    if not 0 <= version < LEGACY_MAX_VERSION:
        raise ValueError(f"version must be 0..{LEGACY_MAX_VERSION - 1}, not {version}")
    built = make_old_runner_db(path, version)
    (script,) = script_paths(version + 1, start=version + 1)
    todo = split_sqlite_script(script.read_text(encoding="utf-8"))
    if statements is not None:
        if not 0 < statements <= len(todo):
            raise ValueError(f"{script.name} has {len(todo)} statements, not {statements}")
        todo = todo[:statements]
    conn = sqlite3.connect(built.path, isolation_level=None)
    try:
        for statement in todo:
            conn.execute(statement)
    finally:
        conn.close()
    return built


def make_fallback_db(
    path: str | os.PathLike[str], user_version: int = 0, *, two_defaults: bool = False
) -> LegacyDb:
    """A file whose tables the old ORM's ``create_all`` made (the silent fallback).

    All nine tables in the ORM's shape: ``PRIMARY KEY``/``UNIQUE`` as table constraints,
    no CHECKs, no database defaults, no triggers, ``tasks.agent_mode VARCHAR(50) NOT NULL``
    in the ORM's column position (after ``mcp_server_config``), the ORM's ``idx_*`` indexes
    (its model names the add_to_skill index ``idx_workflow_skills_add_to_skill``, where
    v008 says ``idx_workflow_skills_enabled``) plus ``ix_uploaded_files_*``.
    ``user_version`` is whatever the caller says (the old runner's count before the failure).
    Sample rows are what the ORM wrote, including an upper-case task status.
    """
    if not 0 <= user_version <= LEGACY_MAX_VERSION:
        raise ValueError(f"user_version must be 0..{LEGACY_MAX_VERSION}, not {user_version}")
    target = _new_file(path)
    ids: dict[str, list[str]] = {}
    conn = sqlite3.connect(target)
    try:
        conn.executescript(_ORM_CREATE_ALL)
        for n in range(1, LEGACY_MAX_VERSION + 1):
            _insert_script_samples(conn, n, ids, two_defaults=two_defaults, orm=True)
    finally:
        conn.close()
    _set_user_version(target, user_version)
    return _result(target, user_version, ids, two_defaults=two_defaults)


# --------------------------------------------------------------------------- internals


def _new_file(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.exists() and target.stat().st_size > 0:
        raise FileExistsError(f"{target} exists; the legacy builders only write new files")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        conn.close()


def _result(path: Path, version: int, ids: dict[str, list[str]], *, two_defaults: bool) -> LegacyDb:
    default = None
    if "llm_profiles" in ids:
        default = LLM_2 if two_defaults else LLM_1
    return LegacyDb(
        path=path,
        user_version=version,
        ids={table: tuple(keys) for table, keys in ids.items()},
        default_profile_id=default,
    )


# Sample primary keys (uuid4 / uuid7 strings, as the old code generated them).
LLM_1 = "5b0f7f5e-2d5c-4a44-9b1e-0f2a6d7c8e91"
LLM_2 = "a3c1e2d4-7b6f-4e58-8a9d-1c2b3e4f5a60"
SESSION_1 = "01942d5e-8a00-7c3b-9f21-3a4b5c6d7e8f"
TASK_1 = "01942d5e-8b10-7d4c-8e32-4b5c6d7e8f90"
TASK_2 = "01942d5e-8c20-7e5d-9f43-5c6d7e8f9a01"
TASK_3 = "01942d5f-1000-7a6e-8a54-6d7e8f9a0b12"
TASK_4 = "01942d5f-2000-7b7f-9b65-7e8f9a0b1c23"
FILE_1 = "01942d5e-9000-7f6e-8c76-8f9a0b1c2d34"
FILE_2 = "01942d5e-9100-7a7f-9d87-9a0b1c2d3e45"
MCP_1 = "c0ffee00-1111-4222-8333-444455556666"
MCP_2 = "c0ffee00-7777-4888-9999-aaaabbbbcccc"
VOICE_1 = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
VOICE_2 = "e2f3a4b5-c6d7-4e8f-9a01-b2c3d4e5f6a7"
TOOLKIT_1 = "f3a4b5c6-d7e8-4f9a-8b12-c3d4e5f6a7b8"
TOOLKIT_2 = "a4b5c6d7-e8f9-4a0b-9c23-d4e5f6a7b8c9"
CREDENTIAL_1 = "b5c6d7e8-f9a0-4b1c-8d34-e5f6a7b8c9d0"
CREDENTIAL_2 = "c6d7e8f9-a0b1-4c2d-9e45-f6a7b8c9d0e1"
SCHEDULE_1 = "d7e8f9a0-b1c2-4d3e-8f56-a7b8c9d0e1f2"
SCHEDULE_2 = "e8f9a0b1-c2d3-4e4f-9a67-b8c9d0e1f2a3"
FLOW_1 = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
FLOW_2 = "1b2c3d4e-5f6a-4b7c-9d8e-9f0a1b2c3d4e"
SKILL_1 = "f9a0b1c2-d3e4-4f5a-8b78-c9d0e1f2a3b4"
SKILL_2 = "0b1c2d3e-4f5a-4b6c-9d89-d0e1f2a3b4c5"


def _insert(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    placeholders = ", ".join("?" for _ in columns)
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", list(rows)
    )


def _insert_script_samples(
    conn: sqlite3.Connection,
    version: int,
    ids: dict[str, list[str]],
    *,
    two_defaults: bool,
    orm: bool = False,
) -> None:
    """Rows for the tables script ``version`` creates (v002: rows using agent_mode).

    ``orm=True``: the fallback's tables have no defaults, so every NOT NULL column is
    given, and ``agent_mode`` exists (NOT NULL) from the start.
    """
    # fmt: off
    with conn:
        if version == 1:
            _insert(
                conn,
                "llm_profiles",
                (
                    "profile_id", "profile_name", "provider", "model", "base_url",
                    "encrypted_api_key", "temperature", "max_tokens", "top_p",
                    "frequency_penalty", "seed", "provider_config", "description",
                    "is_active", "is_default", "created_at", "updated_at", "last_used_at",
                ),
                [
                    (
                        LLM_1, "default-gpt", "openai", "gpt-4o", None,
                        "gAAAAABlegacy-ciphertext-1", "0.7", "null", "null",
                        "null", "null", "{}", "the default profile",
                        1, 1, "2025-01-01 09:00:00", "2025-01-01 09:00:00",
                        "2025-01-02 10:11:12.123456",
                    ),
                    (
                        LLM_2, "claude", "anthropic", "claude-sonnet-4", "https://api.example.com",
                        None, "null", "4096", "0.9",
                        "null", "42", '{"region": "us-east-1"}', None,
                        1, 1 if two_defaults else 0, "2025-01-03 08:00:00", "2025-01-03 08:30:00",
                        None,
                    ),
                ],
            )
            task_columns = [
                "task_id", "session_id", "task_description", "status", "llm_profile_name",
                "upload_files_path", "workspace_dir", "mcp_server_config", "task_result",
                "error_message", "report_path", "created_at", "updated_at", "started_at",
                "completed_at", "task_metadata",
            ]
            task_rows: list[list[Any]] = [
                [
                    TASK_1, SESSION_1, "Find the weather in Paris",
                    "COMPLETED" if orm else "completed", "default-gpt",
                    None, "/tmp/ws/" + SESSION_1, '{"mcpServers": {}}',
                    "# Weather\n\nSunny, 21 °C.", None, "/tmp/ws/report.html",
                    "2025-01-04 10:00:00", "2025-01-04 10:05:00",
                    "2025-01-04 10:00:01.000123", "2025-01-04 10:05:00.654321", None,
                ],
                [
                    TASK_2, SESSION_1, "Summarise the page", "pending", "claude",
                    None, None, None, None, None, None,
                    "2025-01-04 11:00:00", "2025-01-04 11:00:00", None, None, "null",
                ],
            ]
            if orm:
                task_columns.append("agent_mode")
                for row in task_rows:
                    row.append("thinking")
            _insert(conn, "tasks", task_columns, task_rows)
            _insert(
                conn,
                "uploaded_files",
                (
                    "file_id", "original_filename", "stored_filename", "file_path", "session_id",
                    "file_size", "mime_type", "upload_time", "relative_path", "is_deleted",
                    "deleted_at",
                ),
                [
                    (
                        FILE_1, "notes.txt", FILE_1 + "_notes.txt", "/tmp/ws/uploads/notes.txt",
                        SESSION_1, 1234, "text/plain", "2025-01-04 09:59:00", "uploads/notes.txt",
                        0, None,
                    ),
                    (
                        FILE_2, "old.pdf", FILE_2 + "_old.pdf", "/tmp/ws/uploads/old.pdf",
                        SESSION_1, 99999, "application/pdf", "2025-01-04 09:58:00",
                        "uploads/old.pdf", 1, "2025-01-05 12:00:00",
                    ),
                ],
            )
            _insert(
                conn,
                "mcp_profiles",
                (
                    "mcp_id", "display_name", "mcp_server_name", "mcp_server_params",
                    "description", "is_active", "created_at", "updated_at", "last_used_at",
                ),
                [
                    (
                        MCP_1, "Filesystem", "filesystem",
                        '{"command": "npx", "args": ["-y",'
                        ' "@modelcontextprotocol/server-filesystem", "/tmp"]}',
                        None, 1, "2025-01-01 09:00:00", "2025-01-01 09:00:00", None,
                    ),
                    (
                        # double-encoded: a JSON string holding the JSON object
                        MCP_2, "Markitdown", "markitdown",
                        '"{\\"command\\": \\"uvx\\", \\"args\\": [\\"markitdown-mcp\\"]}"',
                        "double-encoded params", 0, "2025-01-01 09:00:00",
                        "2025-01-01 09:00:00", None,
                    ),
                ],
            )
            ids["llm_profiles"] = [LLM_1, LLM_2]
            ids["tasks"] = [TASK_1, TASK_2]
            ids["uploaded_files"] = [FILE_1, FILE_2]
            ids["mcp_profiles"] = [MCP_1, MCP_2]
        elif version == 2:
            # agent_mode NULL (written outside the ORM) and a non-default mode.
            _insert(
                conn,
                "tasks",
                (
                    "task_id", "session_id", "task_description", "status", "llm_profile_name",
                    "created_at", "updated_at", "agent_mode",
                ),
                [
                    (
                        TASK_3, SESSION_1, "Run outside the ORM", "failed", "default-gpt",
                        "2025-01-06 08:00:00", "2025-01-06 08:00:00",
                        "thinking" if orm else None,
                    ),
                    (
                        TASK_4, SESSION_1, "Quick answer", "running", "default-gpt",
                        "2025-01-06 09:00:00", "2025-01-06 09:00:00", "flash",
                    ),
                ],
            )
            ids["tasks"] = [*ids.get("tasks", []), TASK_3, TASK_4]
        elif version == 4:
            _insert(
                conn,
                "voice_profiles",
                (
                    "profile_id", "voice_profile_name", "voice_model_type", "voice_model_name",
                    "encrypted_api_key", "voice_meta_params", "description", "is_active",
                    "created_at", "updated_at", "last_used_at",
                ),
                [
                    (
                        VOICE_1, "whisper", "asr", "whisper-1", "gAAAAABlegacy-ciphertext-2",
                        "{}", None, 1, "2025-01-07 10:00:00", "2025-01-07 10:00:00", None,
                    ),
                    (
                        VOICE_2, "speaker", "tts", "tts-1", None, '{"voice": "alloy"}',
                        "tts profile", 1, "2025-01-07 10:00:00", "2025-01-07 10:00:00",
                        "2025-01-08 07:00:00.500000",
                    ),
                ],
            )
            ids["voice_profiles"] = [VOICE_1, VOICE_2]
        elif version == 5:
            _insert(
                conn,
                "composio_toolkits",
                (
                    "id", "name", "slug", "description", "logo", "app_url", "enabled", "tools",
                    "created_at", "updated_at",
                ),
                [
                    (
                        TOOLKIT_1, "GitHub", "github", "Code hosting",
                        "https://logos.example.com/github.png", "https://github.com", 1,
                        '[{"name": "GITHUB_CREATE_ISSUE", "enabled": true}]',
                        "2025-01-09 10:00:00", "2025-01-09 10:00:00",
                    ),
                    (
                        TOOLKIT_2, "Slack", "slack", None, None, None, 0, None,
                        "2025-01-09 10:00:00", "2025-01-09 10:00:00",
                    ),
                ],
            )
            ids["composio_toolkits"] = [TOOLKIT_1, TOOLKIT_2]
        elif version == 6:
            _insert(
                conn,
                "credentials",
                ("id", "key_name", "encrypted_value", "description", "created_at", "updated_at"),
                [
                    (
                        CREDENTIAL_1, "COMPOSIO_API_KEY", "gAAAAABlegacy-ciphertext-3", None,
                        "2025-01-10 10:00:00", "2025-01-10 10:00:00",
                    ),
                    # the old encrypt hook returned '' for a blank value
                    (
                        CREDENTIAL_2, "EMPTY_SECRET", "", "blank value",
                        "2025-01-10 10:00:00", "2025-01-10 10:00:00",
                    ),
                ],
            )
            ids["credentials"] = [CREDENTIAL_1, CREDENTIAL_2]
        elif version == 7:
            _insert(
                conn,
                "schedules",
                (
                    "id", "flow_id", "cron_expression", "is_enabled", "description",
                    "last_execution_at", "next_execution_at", "execution_count", "created_at",
                    "updated_at",
                ),
                [
                    (
                        SCHEDULE_1, FLOW_1, "0 9 * * *", 1, "daily",
                        "2025-01-11 09:00:00.012345", "2025-01-12 09:00:00.000000", 3,
                        "2025-01-08 10:00:00", "2025-01-11 09:00:00.012345",
                    ),
                    (
                        SCHEDULE_2, FLOW_2, None, 0, None, None, None, 0,
                        "2025-01-08 10:00:00", "2025-01-08 10:00:00",
                    ),
                ],
            )
            ids["schedules"] = [SCHEDULE_1, SCHEDULE_2]
        elif version == 8:
            _insert(
                conn,
                "workflow_skills",
                (
                    "id", "flow_id", "name", "description", "add_to_skill",
                    "workflow_expose_config", "created_at", "updated_at",
                ),
                [
                    (
                        SKILL_1, FLOW_1, "Daily digest", "Sends the digest", 1,
                        '{"ChatInput-abc": {"input_value": true}}',
                        "2025-01-12 10:00:00", "2025-01-12 10:00:00",
                    ),
                    # the ORM's JSON type wrote None as the text 'null'
                    (
                        SKILL_2, FLOW_2, None, None, 0, "null",
                        "2025-01-12 10:00:00", "2025-01-12 10:00:00",
                    ),
                ],
            )
            ids["workflow_skills"] = [SKILL_1, SKILL_2]
    # fmt: on


# What SQLAlchemy's create_all emitted for the old ORM models on SQLite: Enum -> VARCHAR(n)
# without CHECK, Boolean without CHECK, JSON -> JSON, Python-side defaults only.
_ORM_CREATE_ALL = """
CREATE TABLE composio_toolkits (
	id VARCHAR(36) NOT NULL,
	name VARCHAR(100) NOT NULL,
	slug VARCHAR(100) NOT NULL,
	description TEXT,
	logo TEXT,
	app_url TEXT,
	enabled BOOLEAN NOT NULL,
	tools TEXT,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (slug)
);
CREATE TABLE credentials (
	id VARCHAR(36) NOT NULL,
	key_name VARCHAR(100) NOT NULL,
	encrypted_value TEXT,
	description TEXT,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (key_name)
);
CREATE TABLE llm_profiles (
	profile_id VARCHAR(36) NOT NULL,
	profile_name VARCHAR(100) NOT NULL,
	provider VARCHAR(50) NOT NULL,
	model VARCHAR(100) NOT NULL,
	base_url VARCHAR(500),
	encrypted_api_key TEXT,
	temperature JSON,
	max_tokens JSON,
	top_p JSON,
	frequency_penalty JSON,
	seed JSON,
	provider_config JSON,
	description TEXT,
	is_active BOOLEAN NOT NULL,
	is_default BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	last_used_at DATETIME,
	PRIMARY KEY (profile_id),
	UNIQUE (profile_name)
);
CREATE TABLE mcp_profiles (
	mcp_id VARCHAR(36) NOT NULL,
	display_name VARCHAR(100) NOT NULL,
	mcp_server_name VARCHAR(100) NOT NULL,
	mcp_server_params JSON NOT NULL,
	description TEXT,
	is_active BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	last_used_at DATETIME,
	PRIMARY KEY (mcp_id),
	UNIQUE (display_name),
	UNIQUE (mcp_server_name)
);
CREATE TABLE schedules (
	id VARCHAR(36) NOT NULL,
	flow_id VARCHAR(36) NOT NULL,
	cron_expression VARCHAR(100),
	is_enabled BOOLEAN NOT NULL,
	description TEXT,
	last_execution_at DATETIME,
	next_execution_at DATETIME,
	execution_count BIGINT NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (flow_id)
);
CREATE TABLE tasks (
	task_id VARCHAR(36) NOT NULL,
	session_id VARCHAR(36) NOT NULL,
	task_description TEXT NOT NULL,
	status VARCHAR(9) NOT NULL,
	llm_profile_name VARCHAR(100) NOT NULL,
	upload_files_path VARCHAR(500),
	workspace_dir VARCHAR(500),
	mcp_server_config TEXT,
	agent_mode VARCHAR(50) NOT NULL,
	task_result TEXT,
	error_message TEXT,
	report_path VARCHAR(500),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	started_at DATETIME,
	completed_at DATETIME,
	task_metadata JSON,
	PRIMARY KEY (task_id)
);
CREATE TABLE uploaded_files (
	file_id VARCHAR(36) NOT NULL,
	original_filename VARCHAR(255) NOT NULL,
	stored_filename VARCHAR(255) NOT NULL,
	file_path TEXT NOT NULL,
	session_id VARCHAR(255),
	file_size BIGINT NOT NULL,
	mime_type VARCHAR(100) NOT NULL,
	upload_time DATETIME NOT NULL,
	relative_path TEXT NOT NULL,
	is_deleted BOOLEAN NOT NULL,
	deleted_at DATETIME,
	PRIMARY KEY (file_id)
);
CREATE TABLE voice_profiles (
	profile_id VARCHAR(36) NOT NULL,
	voice_profile_name VARCHAR(100) NOT NULL,
	voice_model_type VARCHAR(3) NOT NULL,
	voice_model_name VARCHAR(100) NOT NULL,
	encrypted_api_key TEXT,
	voice_meta_params JSON,
	description TEXT,
	is_active BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	last_used_at DATETIME,
	PRIMARY KEY (profile_id),
	UNIQUE (voice_profile_name)
);
CREATE TABLE workflow_skills (
	id VARCHAR(36) NOT NULL,
	flow_id VARCHAR(36) NOT NULL,
	name VARCHAR(255),
	description TEXT,
	add_to_skill BOOLEAN NOT NULL,
	workflow_expose_config JSON,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (flow_id)
);
CREATE INDEX idx_composio_toolkits_enabled ON composio_toolkits (enabled);
CREATE INDEX idx_composio_toolkits_name ON composio_toolkits (name);
CREATE INDEX idx_composio_toolkits_slug ON composio_toolkits (slug);
CREATE INDEX idx_credentials_key_name ON credentials (key_name);
CREATE INDEX idx_llm_profiles_active ON llm_profiles (is_active);
CREATE INDEX idx_llm_profiles_default ON llm_profiles (is_default);
CREATE INDEX idx_llm_profiles_name ON llm_profiles (profile_name);
CREATE INDEX idx_llm_profiles_provider ON llm_profiles (provider);
CREATE INDEX idx_mcp_profiles_active ON mcp_profiles (is_active);
CREATE INDEX idx_mcp_profiles_display_name ON mcp_profiles (display_name);
CREATE INDEX idx_mcp_profiles_server_name ON mcp_profiles (mcp_server_name);
CREATE INDEX idx_schedules_cron ON schedules (cron_expression);
CREATE INDEX idx_schedules_enabled ON schedules (is_enabled);
CREATE INDEX idx_schedules_flow_id ON schedules (flow_id);
CREATE INDEX idx_schedules_next_execution ON schedules (next_execution_at);
CREATE INDEX idx_tasks_created ON tasks (created_at);
CREATE INDEX idx_tasks_llm_profile ON tasks (llm_profile_name);
CREATE INDEX idx_tasks_session ON tasks (session_id);
CREATE INDEX idx_tasks_status ON tasks (status);
CREATE INDEX idx_uploaded_files_active ON uploaded_files (is_deleted, upload_time);
CREATE INDEX idx_uploaded_files_filename ON uploaded_files (original_filename);
CREATE INDEX idx_uploaded_files_session_time ON uploaded_files (session_id, upload_time);
CREATE INDEX ix_uploaded_files_is_deleted ON uploaded_files (is_deleted);
CREATE INDEX ix_uploaded_files_original_filename ON uploaded_files (original_filename);
CREATE INDEX ix_uploaded_files_session_id ON uploaded_files (session_id);
CREATE INDEX ix_uploaded_files_upload_time ON uploaded_files (upload_time);
CREATE INDEX idx_voice_profiles_active ON voice_profiles (is_active);
CREATE INDEX idx_voice_profiles_name ON voice_profiles (voice_profile_name);
CREATE INDEX idx_voice_profiles_type ON voice_profiles (voice_model_type);
CREATE INDEX idx_workflow_skills_add_to_skill ON workflow_skills (add_to_skill);
CREATE INDEX idx_workflow_skills_flow_id ON workflow_skills (flow_id);
"""
