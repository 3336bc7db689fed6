-- name: upsert_task
-- MySQL/MariaDB spelling of the upsert in tasks.sql (same semantics). Every
-- assignment reads the old row or VALUES(), never a column assigned earlier in
-- the list, because MySQL evaluates the list left to right.
INSERT INTO tasks (
    task_id, session_id, task_description, status, llm_profile_name, upload_files_path,
    workspace_dir, mcp_server_config, task_result, error_message, report_path,
    started_at, completed_at, task_metadata, agent_mode
) VALUES (
    :task_id, :session_id, :task_description, :status, :llm_profile_name, :upload_files_path,
    :workspace_dir, :mcp_server_config, :task_result, :error_message, :report_path,
    :started_at, :completed_at, :task_metadata, :agent_mode
)
ON DUPLICATE KEY UPDATE
    status = COALESCE(:new_status, status),
    task_result = COALESCE(VALUES(task_result), task_result),
    error_message = COALESCE(VALUES(error_message), error_message),
    report_path = COALESCE(VALUES(report_path), report_path),
    task_metadata = COALESCE(VALUES(task_metadata), task_metadata),
    started_at = COALESCE(started_at, VALUES(started_at)),
    completed_at = COALESCE(completed_at, VALUES(completed_at))
