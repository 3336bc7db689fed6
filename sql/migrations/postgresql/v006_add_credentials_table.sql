-- v006 (PostgreSQL): credentials.

CREATE TABLE credentials (
    id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    key_name varchar(100) COLLATE "C" NOT NULL UNIQUE,
    encrypted_value text COLLATE "C",
    description text COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE INDEX idx_credentials_key_name ON credentials (key_name);

CREATE TRIGGER update_credentials_updated_at
    BEFORE UPDATE ON credentials
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
