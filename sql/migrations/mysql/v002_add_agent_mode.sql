-- v002 (MySQL/MariaDB): tasks.agent_mode, nullable with default 'thinking' (as on SQLite).

ALTER TABLE tasks ADD COLUMN agent_mode VARCHAR(50) DEFAULT 'thinking';
