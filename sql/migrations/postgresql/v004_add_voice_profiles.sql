-- v004 (PostgreSQL): voice_profiles.

CREATE TABLE voice_profiles (
    profile_id varchar(36) COLLATE "C" NOT NULL PRIMARY KEY,
    voice_profile_name varchar(100) COLLATE "C" NOT NULL UNIQUE,
    voice_model_type varchar(3) COLLATE "C" NOT NULL,
    voice_model_name varchar(100) COLLATE "C" NOT NULL,
    encrypted_api_key text COLLATE "C",
    voice_meta_params jsonb,
    description text COLLATE "C",
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_used_at timestamptz,
    CONSTRAINT voice_profiles_voice_model_type_check CHECK (voice_model_type IN ('asr', 'tts'))
);

CREATE INDEX idx_voice_profiles_name ON voice_profiles (voice_profile_name);
CREATE INDEX idx_voice_profiles_type ON voice_profiles (voice_model_type);
CREATE INDEX idx_voice_profiles_active ON voice_profiles (is_active);

CREATE TRIGGER update_voice_profiles_updated_at
    BEFORE UPDATE ON voice_profiles
    FOR EACH ROW EXECUTE FUNCTION rawdb_set_updated_at();
