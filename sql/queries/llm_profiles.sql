-- LLM profiles (QUERIES §3.1). updated_at is maintained by the database's triggers.

-- name: insert_profile
INSERT INTO llm_profiles (
    profile_id, profile_name, provider, model, base_url, encrypted_api_key,
    temperature, max_tokens, top_p, frequency_penalty, seed, provider_config,
    description, is_default
) VALUES (
    :profile_id, :profile_name, :provider, :model, :base_url, :encrypted_api_key,
    :temperature, :max_tokens, :top_p, :frequency_penalty, :seed, :provider_config,
    :description, :is_default
)

-- name: get_profile
SELECT profile_id, profile_name, provider, model, base_url, encrypted_api_key,
       temperature, max_tokens, top_p, frequency_penalty, seed, provider_config,
       description, is_active, is_default, created_at, updated_at, last_used_at
FROM llm_profiles
WHERE profile_name = :profile_name

-- name: list_profiles
-- Never-used profiles last on every dialect, then a unique tiebreaker (D20).
SELECT profile_id, profile_name, provider, model, base_url, encrypted_api_key,
       temperature, max_tokens, top_p, frequency_penalty, seed, provider_config,
       description, is_active, is_default, created_at, updated_at, last_used_at
FROM llm_profiles
WHERE (:include_inactive OR is_active = TRUE)
ORDER BY (last_used_at IS NULL), last_used_at DESC, created_at DESC, profile_id

-- name: count_profiles
SELECT COUNT(*) FROM llm_profiles WHERE (:include_inactive OR is_active = TRUE)

-- name: delete_profile
DELETE FROM llm_profiles WHERE profile_name = :profile_name

-- name: get_default_profile
-- Legacy data may hold several defaults; pick the most recently updated (D2).
SELECT profile_id, profile_name, provider, model, base_url, encrypted_api_key,
       temperature, max_tokens, top_p, frequency_penalty, seed, provider_config,
       description, is_active, is_default, created_at, updated_at, last_used_at
FROM llm_profiles
WHERE is_default = TRUE
ORDER BY updated_at DESC, profile_id
LIMIT 1

-- name: get_default_flag
SELECT is_default FROM llm_profiles WHERE profile_name = :profile_name

-- name: clear_other_defaults
-- Touches only rows that change (D1), so unrelated profiles keep their updated_at.
UPDATE llm_profiles SET is_default = FALSE
WHERE is_default = TRUE AND profile_name <> :profile_name

-- name: set_default
UPDATE llm_profiles SET is_default = TRUE WHERE profile_name = :profile_name

-- name: update_last_used
UPDATE llm_profiles SET last_used_at = :now WHERE profile_name = :profile_name

-- name: list_secrets
SELECT profile_id AS id, encrypted_api_key AS secret
FROM llm_profiles WHERE encrypted_api_key IS NOT NULL ORDER BY profile_id

-- name: set_secret
UPDATE llm_profiles SET encrypted_api_key = :secret WHERE profile_id = :id

-- name: set_secret_if_unchanged
-- The secret is rewritten only if it still holds the value read: a concurrent change
-- makes the count 0 instead of being overwritten.
UPDATE llm_profiles SET encrypted_api_key = :secret
WHERE profile_id = :id AND encrypted_api_key = :old_secret
