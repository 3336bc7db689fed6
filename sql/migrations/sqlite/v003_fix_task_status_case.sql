-- v003: data only. An early build stored task statuses as enum names (upper case);
-- rewrite them to the lower-case values.

UPDATE tasks SET status = 'pending' WHERE status = 'PENDING';
UPDATE tasks SET status = 'running' WHERE status = 'RUNNING';
UPDATE tasks SET status = 'paused' WHERE status = 'PAUSED';
UPDATE tasks SET status = 'completed' WHERE status = 'COMPLETED';
UPDATE tasks SET status = 'failed' WHERE status = 'FAILED';
UPDATE tasks SET status = 'stopped' WHERE status = 'STOPPED';
