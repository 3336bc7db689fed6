-- Agent tasks (QUERIES §3.3). status is read through LOWER() because databases
-- from before v003 may still hold upper-case values.

-- name: upsert_task
-- One atomic statement (D4). On conflict only the outcome fields move; status
-- moves only when the caller named one (D5); started_at/completed_at are set
-- once (D6, D7): :started_at/:completed_at are non-NULL only when the new
-- status calls for them.
INSERT INTO tasks (
    task_id, session_id, task_description, status, llm_profile_name, upload_files_path,
    workspace_dir, mcp_server_config, task_result, error_message, report_path,
    started_at, completed_at, task_metadata, agent_mode
) VALUES (
    :task_id, :session_id, :task_description, :status, :llm_profile_name, :upload_files_path,
    :workspace_dir, :mcp_server_config, :task_result, :error_message, :report_path,
    :started_at, :completed_at, :task_metadata, :agent_mode
)
ON CONFLICT (task_id) DO UPDATE SET
    status = COALESCE(:new_status, tasks.status),
    task_result = COALESCE(excluded.task_result, tasks.task_result),
    error_message = COALESCE(excluded.error_message, tasks.error_message),
    report_path = COALESCE(excluded.report_path, tasks.report_path),
    task_metadata = COALESCE(excluded.task_metadata, tasks.task_metadata),
    started_at = COALESCE(tasks.started_at, excluded.started_at),
    completed_at = COALESCE(tasks.completed_at, excluded.completed_at)

-- name: get_task
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks WHERE task_id = :task_id

-- name: get_tasks_by_session
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks WHERE session_id = :session_id
ORDER BY created_at DESC, task_id DESC

-- name: get_recent_tasks
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks
ORDER BY created_at DESC, task_id DESC

-- name: get_tasks_by_llm_profile
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks WHERE llm_profile_name = :llm_profile_name
ORDER BY created_at DESC, task_id DESC

-- name: get_running_tasks
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks WHERE status IN ('running', 'paused')
ORDER BY created_at, task_id

-- name: get_active_task
-- The most recently started running task; never raises on several (D3).
SELECT task_id, session_id, task_description, LOWER(status) AS status, llm_profile_name,
       upload_files_path, workspace_dir, mcp_server_config, task_result, error_message,
       report_path, created_at, updated_at, started_at, completed_at, task_metadata, agent_mode
FROM tasks WHERE status = 'running'
ORDER BY (started_at IS NULL), started_at DESC, created_at DESC, task_id DESC
LIMIT 1

-- name: get_all_sessions
-- status = the status of the session's latest task (D8), the same on every dialect.
SELECT g.session_id, g.task_count, g.created_at, g.last_activity,
       COALESCE((SELECT LOWER(t.status) FROM tasks t
                 WHERE t.session_id = g.session_id
                 ORDER BY t.created_at DESC, t.task_id DESC LIMIT 1), 'unknown') AS status
FROM (SELECT session_id, COUNT(*) AS task_count, MIN(created_at) AS created_at,
             MAX(created_at) AS last_activity
      FROM tasks GROUP BY session_id) g
ORDER BY g.last_activity DESC, g.session_id DESC

-- name: count_sessions
SELECT COUNT(DISTINCT session_id) FROM tasks

-- name: update_task_status
UPDATE tasks SET
    status = :status,
    started_at = COALESCE(started_at, :started_at),
    completed_at = COALESCE(completed_at, :completed_at),
    error_message = COALESCE(:error_message, error_message),
    task_result = COALESCE(:task_result, task_result),
    report_path = COALESCE(:report_path, report_path)
WHERE task_id = :task_id

-- name: delete_task
DELETE FROM tasks WHERE task_id = :task_id

-- name: get_task_counts_by_status
SELECT LOWER(status) AS status, COUNT(*) AS task_count
FROM tasks GROUP BY LOWER(status) ORDER BY LOWER(status)
