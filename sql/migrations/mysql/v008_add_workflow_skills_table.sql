-- v008 (MySQL/MariaDB): workflow_skills. workflow_expose_config stays text (a JSON
-- document kept as text, as in the legacy SQLite schema).

CREATE TABLE workflow_skills (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    flow_id VARCHAR(36) NOT NULL UNIQUE,
    name VARCHAR(255),
    description LONGTEXT,
    add_to_skill BOOLEAN NOT NULL DEFAULT FALSE,
    workflow_expose_config LONGTEXT,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_workflow_skills_flow_id (flow_id),
    INDEX idx_workflow_skills_enabled (add_to_skill)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_workflow_skills_updated_at BEFORE UPDATE ON workflow_skills
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
