-- v006 (MySQL/MariaDB): credentials.

CREATE TABLE credentials (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    key_name VARCHAR(100) NOT NULL UNIQUE,
    encrypted_value LONGTEXT,
    description LONGTEXT,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_credentials_key_name (key_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_credentials_updated_at BEFORE UPDATE ON credentials
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
