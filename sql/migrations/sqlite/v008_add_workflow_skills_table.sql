-- v008: workflow_skills (workflows exposed as agent skills). Legacy script, unchanged effect.
-- workflow_expose_config is TEXT holding a JSON document (the old ORM model said JSON).
-- Like v007, the legacy trigger keys on NEW.id.

CREATE TABLE IF NOT EXISTS workflow_skills (
    id VARCHAR(36) PRIMARY KEY,
    flow_id VARCHAR(36) NOT NULL UNIQUE,
    name VARCHAR(255),
    description TEXT,
    add_to_skill BOOLEAN NOT NULL DEFAULT 0,
    workflow_expose_config TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_workflow_skills_flow_id ON workflow_skills(flow_id);
CREATE INDEX IF NOT EXISTS idx_workflow_skills_enabled ON workflow_skills(add_to_skill);

CREATE TRIGGER IF NOT EXISTS update_workflow_skills_updated_at
AFTER UPDATE ON workflow_skills
FOR EACH ROW
BEGIN
    UPDATE workflow_skills SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
