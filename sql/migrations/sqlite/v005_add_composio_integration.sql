-- v005: composio_toolkits (third-party tool kits). Legacy script, unchanged effect.
-- tools is TEXT holding a JSON document (kept as text by the application).

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS composio_toolkits (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    slug VARCHAR(100) NOT NULL UNIQUE,
    description TEXT,
    logo TEXT,
    app_url TEXT,
    enabled BOOLEAN NOT NULL DEFAULT 0,
    tools TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_composio_toolkits_name ON composio_toolkits(name);
CREATE INDEX IF NOT EXISTS idx_composio_toolkits_slug ON composio_toolkits(slug);
CREATE INDEX IF NOT EXISTS idx_composio_toolkits_enabled ON composio_toolkits(enabled);

CREATE TRIGGER IF NOT EXISTS update_composio_toolkits_updated_at
AFTER UPDATE ON composio_toolkits
FOR EACH ROW
BEGIN
    UPDATE composio_toolkits SET updated_at = CURRENT_TIMESTAMP WHERE id = OLD.id;
END;
