-- v001 (PostgreSQL): llm_profiles, tasks, uploaded_files, mcp_profiles.
-- Same logical schema as sqlite/v001; conventions of every PostgreSQL script:
--   * JSON columns are jsonb (scalar ones too); the columns that hold JSON as text
--     in the legacy schema (tasks.mcp_server_config, composio_toolkits.tools,
--     workflow_skills.workflow_expose_config) stay text.
--   * Character columns use COLLATE "C": byte order and byte equality, as SQLite's
--     BINARY and MySQL's utf8mb4_bin, whatever the database's default collation.
--   * Timestamps are timestamptz. created_at/updated_at/upload_time default to
--     statement_timestamp() (one value per statement, so an inserted row has
--     created_at = updated_at, as on SQLite and MySQL); updated_at is then set by
--     the BEFORE UPDATE trigger function rawdb_set_updated_at() to clock_timestamp(),
--     on every UPDATE, including one that changes nothing.
--   * No IF NOT EXISTS: a table that already exists (e.g. made by the old ORM) must
--     stop the migration instead of being adopted silently.
-- The whole script runs in one transaction.

CREATE FUNCTION rawdb_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TABLE llm_profiles (
    profile_id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    profile_name varchar(100) COLLATE "C" NOT NULL UNIQUE,
    provider varchar(50) COLLATE "C" NOT NULL,
    model varchar(100) COLLATE "C" NOT NULL,
    base_url varchar(500) COLLATE "C",
    encrypted_api_key text COLLATE "C",
    temperature jsonb,
    max_tokens jsonb,
    top_p jsonb,
    frequency_penalty jsonb,
    seed jsonb,
    provider_config jsonb,
    description text COLLATE "C",
    is_active boolean NOT NULL DEFAULT true,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_used_at timestamptz
);

CREATE TABLE tasks (
    task_id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    session_id varchar(36) COLLATE "C" NOT NULL,
    task_description text COLLATE "C" NOT NULL,
    status varchar(9) COLLATE "C" NOT NULL DEFAULT 'pending',
    llm_profile_name varchar(100) COLLATE "C" NOT NULL,
    upload_files_path varchar(500) COLLATE "C",
    workspace_dir varchar(500) COLLATE "C",
    mcp_server_config text COLLATE "C",
    task_result text COLLATE "C",
    error_message text COLLATE "C",
    report_path varchar(500) COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    started_at timestamptz,
    completed_at timestamptz,
    task_metadata jsonb,
    CONSTRAINT tasks_status_check
        CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'stopped'))
);

CREATE TABLE uploaded_files (
    file_id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    original_filename varchar(255) COLLATE "C" NOT NULL,
    stored_filename varchar(255) COLLATE "C" NOT NULL,
    file_path text COLLATE "C" NOT NULL,
    session_id varchar(255) COLLATE "C",
    file_size bigint NOT NULL,
    mime_type varchar(100) COLLATE "C" NOT NULL,
    upload_time timestamptz NOT NULL DEFAULT statement_timestamp(),
    relative_path text COLLATE "C" NOT NULL,
    is_deleted boolean NOT NULL DEFAULT false,
    deleted_at timestamptz
);

CREATE TABLE mcp_profiles (
    mcp_id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    display_name varchar(100) COLLATE "C" NOT NULL UNIQUE,
    mcp_server_name varchar(100) COLLATE "C" NOT NULL UNIQUE,
    mcp_server_params jsonb NOT NULL,
    description text COLLATE "C",
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_used_at timestamptz
);

CREATE INDEX idx_llm_profiles_name ON llm_profiles (profile_name);
CREATE INDEX idx_llm_profiles_active ON llm_profiles (is_active);
CREATE INDEX idx_llm_profiles_default ON llm_profiles (is_default);
CREATE INDEX idx_llm_profiles_provider ON llm_profiles (provider);

CREATE INDEX idx_tasks_status ON tasks (status);
CREATE INDEX idx_tasks_session ON tasks (session_id);
CREATE INDEX idx_tasks_llm_profile ON tasks (llm_profile_name);
CREATE INDEX idx_tasks_created ON tasks (created_at);

CREATE INDEX idx_uploaded_files_session_time ON uploaded_files (session_id, upload_time);
CREATE INDEX idx_uploaded_files_active ON uploaded_files (is_deleted, upload_time);
CREATE INDEX idx_uploaded_files_filename ON uploaded_files (original_filename);

CREATE INDEX idx_mcp_profiles_display_name ON mcp_profiles (display_name);
CREATE INDEX idx_mcp_profiles_server_name ON mcp_profiles (mcp_server_name);
CREATE INDEX idx_mcp_profiles_active ON mcp_profiles (is_active);

CREATE TRIGGER update_llm_profiles_updated_at
    BEFORE UPDATE ON llm_profiles
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();

CREATE TRIGGER update_tasks_updated_at
    BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();

CREATE TRIGGER update_mcp_profiles_updated_at
    BEFORE UPDATE ON mcp_profiles
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
