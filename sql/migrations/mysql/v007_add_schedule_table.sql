-- v007 (MySQL/MariaDB): schedules.

CREATE TABLE schedules (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    flow_id VARCHAR(36) NOT NULL UNIQUE,
    cron_expression VARCHAR(100),
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    description LONGTEXT,
    last_execution_at DATETIME(6),
    next_execution_at DATETIME(6),
    execution_count BIGINT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_schedules_flow_id (flow_id),
    INDEX idx_schedules_enabled (is_enabled),
    INDEX idx_schedules_next_execution (next_execution_at),
    INDEX idx_schedules_cron (cron_expression)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_schedules_updated_at BEFORE UPDATE ON schedules
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
