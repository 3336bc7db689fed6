-- v004 (MySQL/MariaDB): voice_profiles.

CREATE TABLE voice_profiles (
    profile_id VARCHAR(36) NOT NULL PRIMARY KEY,
    voice_profile_name VARCHAR(100) NOT NULL UNIQUE,
    voice_model_type VARCHAR(3) NOT NULL,
    voice_model_name VARCHAR(100) NOT NULL,
    encrypted_api_key LONGTEXT,
    voice_meta_params JSON,
    description LONGTEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_used_at DATETIME(6),
    INDEX idx_voice_profiles_name (voice_profile_name),
    INDEX idx_voice_profiles_type (voice_model_type),
    INDEX idx_voice_profiles_active (is_active),
    CONSTRAINT voice_profiles_voice_model_type_check CHECK (voice_model_type IN ('asr', 'tts'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TRIGGER update_voice_profiles_updated_at BEFORE UPDATE ON voice_profiles
    FOR EACH ROW SET NEW.updated_at = CURRENT_TIMESTAMP(6);
