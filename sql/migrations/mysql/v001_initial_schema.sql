-- v001 (MySQL/MariaDB): llm_profiles, tasks, uploaded_files, mcp_profiles.
-- Same logical schema as sqlite/v001; conventions of every MySQL script:
--   * InnoDB, utf8mb4 with the case-sensitive binary collation utf8mb4_bin as the
--     table default, so equality, uniqueness and ORDER BY on names behave like
--     SQLite's BINARY and PostgreSQL's "C" (exception: utf8mb4_bin is PAD SPACE,
--     so 'a' and 'a ' compare equal here).
--   * Long text is LONGTEXT (SQLite and PostgreSQL text have no 64 KiB limit).
--   * JSON columns are JSON (scalar ones too; nullable ones accept SQL NULL); the
--     columns that hold JSON as text in the legacy schema (tasks.mcp_server_config,
--     composio_toolkits.tools, workflow_skills.workflow_expose_config) stay text.
--   * Timestamps are DATETIME(6), UTC (rawdb sets time_zone = '+00:00'), defaulting
--     to CURRENT_TIMESTAMP(6); updated_at is set by a BEFORE UPDATE trigger on every
--     UPDATE, including one that changes nothing (ON UPDATE would not).
--   * Indexes are declared inside CREATE TABLE (MySQL has no CREATE INDEX IF NOT
--     EXISTS) and triggers are single statements, so no DELIMITER is needed.
--   * No IF NOT EXISTS: an existing table (e.g. made by the old ORM) must stop the
--     migration instead of being adopted silently.
-- DDL commits implicitly here: the runner applies and records statement by statement.

CREATE TABLE llm_profiles (
    profile_id VARCHAR(36) NOT NULL PRIMARY KEY,
    profile_name VARCHAR(100) NOT NULL UNIQUE,
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(100) NOT NULL,
    base_url VARCHAR(500),
    encrypted_api_key LONGTEXT,
    temperature JSON,
    max_tokens JSON,
    top_p JSON,
    frequency_penalty JSON,
    seed JSON,
    provider_config JSON,
    description LONGTEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_used_at DATETIME(6),
    INDEX idx_llm_profiles_name (profile_name),
    INDEX idx_llm_profiles_active (is_active),
    INDEX idx_llm_profiles_default (is_default),
    INDEX idx_llm_profiles_provider (provider)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tasks (
    task_id VARCHAR(36) NOT NULL PRIMARY KEY,
    session_id VARCHAR(36) NOT NULL,
    task_description LONGTEXT NOT NULL,
    status VARCHAR(9) NOT NULL DEFAULT 'pending',
    llm_profile_name VARCHAR(100) NOT NULL,
    upload_files_path VARCHAR(500),
    workspace_dir VARCHAR(500),
    mcp_server_config LONGTEXT,
    task_result LONGTEXT,
    error_message LONGTEXT,
    report_path VARCHAR(500),
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at DATETIME(6),
    completed_at DATETIME(6),
    task_metadata JSON,
    INDEX idx_tasks_status (status),
    INDEX idx_tasks_session (session_id),
    INDEX idx_tasks_llm_profile (llm_profile_name),
    INDEX idx_tasks_created (created_at),
    CONSTRAINT tasks_status_check
        CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'stopped'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE uploaded_files (
    file_id VARCHAR(36) NOT NULL PRIMARY KEY,
    original_filename VARCHAR(255) NOT NULL,
    stored_filename VARCHAR(255) NOT NULL,
    file_path LONGTEXT NOT NULL,
    session_id VARCHAR(255),
    file_size BIGINT NOT NULL,
    mime_type VARCHAR(100) NOT NULL,
    upload_time DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    relative_path LONGTEXT NOT NULL,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at DATETIME(6),
    INDEX idx_uploaded_files_session_time (session_id, upload_time),
    INDEX idx_uploaded_files_active (is_deleted, upload_time),
    INDEX idx_uploaded_files_filename (original_filename)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE mcp_profiles (
    mcp_id VARCHAR(36) NOT NULL PRIMARY KEY,
    display_name VARCHAR(100) NOT NULL UNIQUE,
    mcp_server_name VARCHAR(100) NOT NULL UNIQUE,
    mcp_server_params JSON NOT NULL,
    description LONGTEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_used_at DATETIME(6),
    INDEX idx_mcp_profiles_display_name (display_name),
    INDEX idx_mcp_profiles_server_name (mcp_server_name),
    INDEX idx_mcp_profiles_active (is_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_llm_profiles_updated_at BEFORE UPDATE ON llm_profiles
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);

CREATE TRIGGER update_tasks_updated_at BEFORE UPDATE ON tasks
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);

CREATE TRIGGER update_mcp_profiles_updated_at BEFORE UPDATE ON mcp_profiles
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
