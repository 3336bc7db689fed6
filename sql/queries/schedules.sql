-- Workflow schedules (QUERIES §3.8, §7). All timestamps are bound by the
-- application in UTC; next_execution_at is computed in Python (croniter).

-- name: insert_schedule
INSERT INTO schedules (id, flow_id, cron_expression, is_enabled, description, next_execution_at)
VALUES (:id, :flow_id, :cron_expression, :is_enabled, :description, :next_execution_at)

-- name: get_schedule
SELECT id, flow_id, cron_expression, is_enabled, description, last_execution_at,
       next_execution_at, execution_count, created_at, updated_at
FROM schedules WHERE id = :id

-- name: get_schedule_by_flow_id
SELECT id, flow_id, cron_expression, is_enabled, description, last_execution_at,
       next_execution_at, execution_count, created_at, updated_at
FROM schedules WHERE flow_id = :flow_id

-- name: list_schedules
SELECT id, flow_id, cron_expression, is_enabled, description, last_execution_at,
       next_execution_at, execution_count, created_at, updated_at
FROM schedules
WHERE (:include_disabled OR is_enabled = TRUE)
ORDER BY created_at DESC, id DESC

-- name: list_schedulable
-- The scheduler's reload query.
SELECT id, flow_id, cron_expression, is_enabled, description, last_execution_at,
       next_execution_at, execution_count, created_at, updated_at
FROM schedules
WHERE is_enabled = TRUE AND cron_expression IS NOT NULL
ORDER BY flow_id

-- name: delete_schedule
DELETE FROM schedules WHERE id = :id

-- name: delete_schedule_by_flow_id
DELETE FROM schedules WHERE flow_id = :flow_id

-- name: increment_execution_count
-- Incremented in SQL so concurrent runs never lose a count; does not re-arm.
UPDATE schedules
SET execution_count = execution_count + 1, last_execution_at = :now
WHERE id = :id

-- name: set_next_execution
UPDATE schedules SET next_execution_at = :next_execution_at WHERE flow_id = :flow_id

-- name: record_execution
UPDATE schedules
SET last_execution_at = :executed_at,
    next_execution_at = :next_execution_at,
    execution_count = execution_count + 1
WHERE flow_id = :flow_id
