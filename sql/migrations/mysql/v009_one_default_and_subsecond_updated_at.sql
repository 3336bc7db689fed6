-- v009 (MySQL/MariaDB): at most one default LLM profile.
-- 1. Demote every default profile except the most recently updated one (ties: the
--    smallest profile_id wins, binary order). MySQL cannot name the updated table in
--    a subquery of the same UPDATE, so the survivor is picked in a derived table,
--    which is materialised first. The demoted rows' updated_at moves (trigger).
-- 2. No partial indexes here: an invisible stored generated column default_marker
--    is 1 for the default row and NULL otherwise (a UNIQUE index allows many NULLs),
--    and uq_llm_profiles_one_default makes it unique. INVISIBLE keeps it out of
--    SELECT * and of INSERTs without a column list (MariaDB >= 10.3, MySQL >= 8.0.23).
-- updated_at has been sub-second here since v001, so the SQLite half of v009
-- (trigger replacement) has nothing to do on this dialect.

UPDATE llm_profiles AS p
    JOIN (
        SELECT profile_id FROM llm_profiles
        WHERE is_default
        ORDER BY updated_at DESC, profile_id ASC
        LIMIT 1
    ) AS keep ON p.profile_id <> keep.profile_id
SET p.is_default = FALSE
WHERE p.is_default;

ALTER TABLE llm_profiles
    ADD COLUMN default_marker TINYINT AS (IF(is_default, 1, NULL)) STORED INVISIBLE,
    ADD CONSTRAINT uq_llm_profiles_one_default UNIQUE (default_marker);
