-- Voice (ASR/TTS) profiles (QUERIES §3.5).

-- name: insert_profile
INSERT INTO voice_profiles (
    profile_id, voice_profile_name, voice_model_type, voice_model_name, encrypted_api_key,
    voice_meta_params, description
) VALUES (
    :profile_id, :voice_profile_name, :voice_model_type, :voice_model_name, :encrypted_api_key,
    :voice_meta_params, :description
)

-- name: get_profile
SELECT profile_id, voice_profile_name, voice_model_type, voice_model_name, encrypted_api_key,
       voice_meta_params, description, is_active, created_at, updated_at, last_used_at
FROM voice_profiles WHERE voice_profile_name = :voice_profile_name

-- name: list_profiles
SELECT profile_id, voice_profile_name, voice_model_type, voice_model_name, encrypted_api_key,
       voice_meta_params, description, is_active, created_at, updated_at, last_used_at
FROM voice_profiles
WHERE (:include_inactive OR is_active = TRUE)
  AND (:any_type OR voice_model_type = :voice_model_type)
ORDER BY (last_used_at IS NULL), last_used_at DESC, created_at DESC, profile_id

-- name: delete_profile
DELETE FROM voice_profiles WHERE voice_profile_name = :voice_profile_name

-- name: update_last_used
UPDATE voice_profiles SET last_used_at = :now WHERE voice_profile_name = :voice_profile_name

-- name: list_secrets
SELECT profile_id AS id, encrypted_api_key AS secret
FROM voice_profiles WHERE encrypted_api_key IS NOT NULL ORDER BY profile_id

-- name: set_secret
UPDATE voice_profiles SET encrypted_api_key = :secret WHERE profile_id = :id

-- name: set_secret_if_unchanged
-- The secret is rewritten only if it still holds the value read: a concurrent change
-- makes the count 0 instead of being overwritten.
UPDATE voice_profiles SET encrypted_api_key = :secret
WHERE profile_id = :id AND encrypted_api_key = :old_secret
