-- v005 (MySQL/MariaDB): composio_toolkits. tools stays text (a JSON document the
-- application keeps as text, as in the legacy schema).

CREATE TABLE composio_toolkits (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    slug VARCHAR(100) NOT NULL UNIQUE,
    description LONGTEXT,
    logo LONGTEXT,
    app_url LONGTEXT,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    tools LONGTEXT,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_composio_toolkits_name (name),
    INDEX idx_composio_toolkits_slug (slug),
    INDEX idx_composio_toolkits_enabled (enabled)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_composio_toolkits_updated_at BEFORE UPDATE ON composio_toolkits
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
