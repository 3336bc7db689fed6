-- v002 (PostgreSQL): tasks.agent_mode, nullable with default 'thinking' (as on SQLite).

ALTER TABLE tasks ADD COLUMN agent_mode varchar(50) COLLATE "C" DEFAULT 'thinking';
