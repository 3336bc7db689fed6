-- v005 (PostgreSQL): composio_toolkits. tools stays text (a JSON document the
-- application keeps as text, as in the legacy schema).

CREATE TABLE composio_toolkits (
    id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    name varchar(100) COLLATE "C" NOT NULL,
    slug varchar(100) COLLATE "C" NOT NULL UNIQUE,
    description text COLLATE "C",
    logo text COLLATE "C",
    app_url text COLLATE "C",
    enabled boolean NOT NULL DEFAULT false,
    tools text COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE INDEX idx_composio_toolkits_name ON composio_toolkits (name);
CREATE INDEX idx_composio_toolkits_slug ON composio_toolkits (slug);
CREATE INDEX idx_composio_toolkits_enabled ON composio_toolkits (enabled);

CREATE TRIGGER update_composio_toolkits_updated_at
    BEFORE UPDATE ON composio_toolkits
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
