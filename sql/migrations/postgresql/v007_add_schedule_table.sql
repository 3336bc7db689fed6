-- v007 (PostgreSQL): schedules.

CREATE TABLE schedules (
    id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    flow_id varchar(36) COLLATE "C" NOT NULL UNIQUE,
    cron_expression varchar(100) COLLATE "C",
    is_enabled boolean NOT NULL DEFAULT true,
    description text COLLATE "C",
    last_execution_at timestamptz,
    next_execution_at timestamptz,
    execution_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE INDEX idx_schedules_flow_id ON schedules (flow_id);
CREATE INDEX idx_schedules_enabled ON schedules (is_enabled);
CREATE INDEX idx_schedules_next_execution ON schedules (next_execution_at);
CREATE INDEX idx_schedules_cron ON schedules (cron_expression);

CREATE TRIGGER update_schedules_updated_at
    BEFORE UPDATE ON schedules
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
