-- v009 (PostgreSQL): at most one default LLM profile.
-- Demote every default profile except the most recently updated one (ties: the
-- smallest profile_id wins, byte order), then a partial unique index allows one
-- row with is_default = true. The demoted rows' updated_at moves (trigger).
-- updated_at has been sub-second here since v001 (clock_timestamp() trigger), so the
-- SQLite half of v009 (trigger replacement) has nothing to do on this dialect.

UPDATE llm_profiles
SET is_default = false
WHERE is_default
  AND profile_id <> (
      SELECT profile_id FROM llm_profiles
      WHERE is_default
      ORDER BY updated_at DESC, profile_id COLLATE "C" ASC
      LIMIT 1
  );

CREATE UNIQUE INDEX uq_llm_profiles_one_default ON llm_profiles (is_default) WHERE is_default;
