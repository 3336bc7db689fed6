"""Typed rows and JSON shapes of the application schema.

Row Structs list exactly the table's columns in the table's column order, so a
``SELECT`` written in that order maps positionally as well as by name. Enum
columns stay lowercase ``str`` in rows: callers compare with
``TaskStatus.RUNNING`` (a ``StrEnum``, equal to ``"running"``) without a
conversion step on every read. Datetimes are aware UTC.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

__all__ = [
    "COLUMN_LIMITS",
    "TERMINAL_STATUSES",
    "ComposioToolkit",
    "ControllerConfiguration",
    "LLMConfiguration",
    "LLMProfile",
    "LLMProfileWithKey",
    "McpProfile",
    "McpServerConfig",
    "McpServerParams",
    "Schedule",
    "SessionSummary",
    "Task",
    "TaskMetadata",
    "TaskStatus",
    "UploadedFile",
    "VoiceModelType",
    "VoiceProfile",
    "VoiceProfileWithKey",
    "WorkflowSkill",
]


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.STOPPED}
)


class VoiceModelType(enum.StrEnum):
    ASR = "asr"
    TTS = "tts"


# VARCHAR(n) limits of the schema. SQLite does not enforce them, so the store
# checks every dialect the same way before any SQL runs.
COLUMN_LIMITS: dict[str, dict[str, int]] = {
    "llm_profiles": {
        "profile_id": 36, "profile_name": 100, "provider": 50, "model": 100, "base_url": 500,
    },
    "tasks": {
        "task_id": 36, "session_id": 36, "status": 9, "llm_profile_name": 100,
        "upload_files_path": 500, "workspace_dir": 500, "report_path": 500, "agent_mode": 50,
    },
    "uploaded_files": {
        "file_id": 36, "original_filename": 255, "stored_filename": 255, "session_id": 255,
        "mime_type": 100,
    },
    "mcp_profiles": {"mcp_id": 36, "display_name": 100, "mcp_server_name": 100},
    "voice_profiles": {
        "profile_id": 36, "voice_profile_name": 100, "voice_model_type": 3,
        "voice_model_name": 100,
    },
    "composio_toolkits": {"id": 36, "name": 100, "slug": 100},
    "credentials": {"id": 36, "key_name": 100},
    "schedules": {"id": 36, "flow_id": 36, "cron_expression": 100},
    "workflow_skills": {"id": 36, "flow_id": 36, "name": 255},
}


# --- JSON shapes ----------------------------------------------------------------------


class TaskMetadata(msgspec.Struct, omit_defaults=True):
    """Shape of ``tasks.task_metadata``."""

    execution_duration_seconds: float | None = None
    total_actions: int | None = None
    generated_report_path: str | None = None
    final_summary: str | None = None
    control_history: list[dict[str, Any]] = msgspec.field(default_factory=list)
    last_error: str | None = None
    error_recovery_attempts: int = 0
    created_via: str = "api"


class LLMConfiguration(msgspec.Struct, omit_defaults=True):
    """An LLM configuration without its key (kept for parity; no column uses it)."""

    model: str
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    provider: str = "openai"
    provider_config: dict[str, Any] = msgspec.field(default_factory=dict)


class McpServerParams(msgspec.Struct, omit_defaults=True):
    """Shape of ``mcp_profiles.mcp_server_params`` and of each ``McpServerConfig`` server.

    ``omit_defaults`` so that stored JSON carries no ``null`` keys, as the old
    validation helper dumped it.
    """

    command: str
    args: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    timeout: int | None = None


class McpServerConfig(msgspec.Struct, omit_defaults=True):
    """Shape of ``tasks.mcp_server_config`` (stored as text)."""

    mcpServers: dict[str, McpServerParams] = msgspec.field(default_factory=dict)


class ControllerConfiguration(msgspec.Struct, omit_defaults=True):
    """Legacy controller settings (documented former content of ``mcp_server_config``)."""

    exclude_actions: list[str] = msgspec.field(default_factory=list)
    max_actions_per_task: int | None = 100
    display_files_in_done_text: bool = True
    save_screenshots: bool = True
    continue_on_action_error: bool = False
    max_retries_per_action: int = 3


# --- rows ---------------------------------------------------------------------------


class LLMProfile(msgspec.Struct):
    profile_id: str
    profile_name: str
    provider: str
    model: str
    base_url: str | None
    encrypted_api_key: str | None
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    frequency_penalty: float | None
    seed: int | None
    provider_config: dict[str, Any] | None
    description: str | None
    is_active: bool
    is_default: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class LLMProfileWithKey(msgspec.Struct):
    """``get_profile_with_decrypted_key``: the row plus the plain key (None when none is stored)."""

    profile: LLMProfile
    api_key: str | None


class McpProfile(msgspec.Struct):
    mcp_id: str
    display_name: str
    mcp_server_name: str
    mcp_server_params: McpServerParams
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class Task(msgspec.Struct):
    task_id: str
    session_id: str
    task_description: str
    status: str
    llm_profile_name: str
    upload_files_path: str | None
    workspace_dir: str | None
    mcp_server_config: str | None
    task_result: str | None
    error_message: str | None
    report_path: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    task_metadata: TaskMetadata | None
    agent_mode: str | None


class SessionSummary(msgspec.Struct):
    """One entry of ``get_all_sessions``; timestamps are ISO-8601 strings with ``+00:00``."""

    session_id: str
    task_count: int
    created_at: str | None
    last_activity: str | None
    status: str


class UploadedFile(msgspec.Struct):
    file_id: str
    original_filename: str
    stored_filename: str
    file_path: str
    session_id: str | None
    file_size: int
    mime_type: str
    upload_time: datetime
    relative_path: str
    is_deleted: bool
    deleted_at: datetime | None


class VoiceProfile(msgspec.Struct):
    profile_id: str
    voice_profile_name: str
    voice_model_type: str
    voice_model_name: str
    encrypted_api_key: str | None
    voice_meta_params: dict[str, Any] | None
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class VoiceProfileWithKey(msgspec.Struct):
    """``get_profile_with_decrypted_key``: the row plus the plain key (None when none is stored)."""

    profile: VoiceProfile
    api_key: str | None


class ComposioToolkit(msgspec.Struct):
    id: str
    name: str
    slug: str
    description: str | None
    logo: str | None
    app_url: str | None
    enabled: bool
    tools: str | None
    created_at: datetime
    updated_at: datetime


class Schedule(msgspec.Struct):
    id: str
    flow_id: str
    cron_expression: str | None
    is_enabled: bool
    description: str | None
    last_execution_at: datetime | None
    next_execution_at: datetime | None
    execution_count: int
    created_at: datetime
    updated_at: datetime


class WorkflowSkill(msgspec.Struct):
    id: str
    flow_id: str
    name: str | None
    description: str | None
    add_to_skill: bool
    workflow_expose_config: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
