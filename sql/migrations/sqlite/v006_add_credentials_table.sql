-- v006: credentials (named secrets). Legacy script, unchanged effect.
-- Note: id has no NOT NULL (legacy), so SQLite would accept a NULL primary key.

PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS credentials (
    id VARCHAR(36) PRIMARY KEY,
    key_name VARCHAR(100) NOT NULL UNIQUE,
    encrypted_value TEXT,
    description TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_credentials_key_name ON credentials(key_name);

CREATE TRIGGER IF NOT EXISTS update_credentials_updated_at
AFTER UPDATE ON credentials
FOR EACH ROW
BEGIN
    UPDATE credentials SET updated_at = CURRENT_TIMESTAMP WHERE id = OLD.id;
END;
