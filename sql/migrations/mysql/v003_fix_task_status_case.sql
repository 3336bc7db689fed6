-- v003 (MySQL/MariaDB): data only; upper-case task statuses to lower case. The CHECK
-- on tasks.status (case-sensitive under utf8mb4_bin) already rejects upper case, so
-- this finds nothing; it is kept so that version 3 means the same on every dialect.

UPDATE tasks SET status = 'pending' WHERE status = 'PENDING';
UPDATE tasks SET status = 'running' WHERE status = 'RUNNING';
UPDATE tasks SET status = 'paused' WHERE status = 'PAUSED';
UPDATE tasks SET status = 'completed' WHERE status = 'COMPLETED';
UPDATE tasks SET status = 'failed' WHERE status = 'FAILED';
UPDATE tasks SET status = 'stopped' WHERE status = 'STOPPED';
