-- v008 (PostgreSQL): workflow_skills. workflow_expose_config stays text (a JSON
-- document kept as text, as in the legacy SQLite schema).

CREATE TABLE workflow_skills (
    id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    flow_id varchar(36) COLLATE "C" NOT NULL UNIQUE,
    name varchar(255) COLLATE "C",
    description text COLLATE "C",
    add_to_skill boolean NOT NULL DEFAULT false,
    workflow_expose_config text COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE INDEX idx_workflow_skills_flow_id ON workflow_skills (flow_id);
CREATE INDEX idx_workflow_skills_enabled ON workflow_skills (add_to_skill);

CREATE TRIGGER update_workflow_skills_updated_at
    BEFORE UPDATE ON workflow_skills
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
