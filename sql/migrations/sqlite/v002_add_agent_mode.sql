-- v002: tasks.agent_mode. Nullable on purpose (legacy: no NOT NULL); existing rows get 'thinking'.
-- Not idempotent: on a file whose tables the old ORM fallback made, the column already
-- exists and this fails with "duplicate column name: agent_mode".

ALTER TABLE tasks ADD COLUMN agent_mode VARCHAR(50) DEFAULT 'thinking';
