-- v009 (first rawdb script): at most one default LLM profile; sub-second updated_at.
--
-- 1. Demote every default LLM profile except the most recently updated one
--    (ties: the smallest profile_id wins). Timestamps are UTC text, old ones
--    'YYYY-MM-DD HH:MM:SS', newer ones with '.ffffff'; both sort correctly as text.
--    The demoted rows' updated_at moves (by the trigger created below) like any update.
-- 2. A partial unique index allows only one row with is_default = 1.
-- 3. The eight updated_at triggers are replaced by ones writing
--    'YYYY-MM-DD HH:MM:SS.ffffff' (the format rawdb writes; SQLite's clock has
--    millisecond resolution, so the last three digits are 000). Names, AFTER UPDATE
--    and the WHERE <pk> bodies stay as before; they still rely on recursive_triggers
--    being off (the default). Column defaults stay CURRENT_TIMESTAMP (changing a
--    default would need a table rebuild), so inserted rows carry whole seconds.

DROP TRIGGER IF EXISTS update_llm_profiles_updated_at;
CREATE TRIGGER update_llm_profiles_updated_at
AFTER UPDATE ON llm_profiles
FOR EACH ROW
BEGIN
    UPDATE llm_profiles SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE profile_id = OLD.profile_id;
END;

DROP TRIGGER IF EXISTS update_tasks_updated_at;
CREATE TRIGGER update_tasks_updated_at
AFTER UPDATE ON tasks
FOR EACH ROW
BEGIN
    UPDATE tasks SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE task_id = OLD.task_id;
END;

DROP TRIGGER IF EXISTS update_mcp_profiles_updated_at;
CREATE TRIGGER update_mcp_profiles_updated_at
AFTER UPDATE ON mcp_profiles
FOR EACH ROW
BEGIN
    UPDATE mcp_profiles SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE mcp_id = OLD.mcp_id;
END;

DROP TRIGGER IF EXISTS update_voice_profiles_updated_at;
CREATE TRIGGER update_voice_profiles_updated_at
AFTER UPDATE ON voice_profiles
FOR EACH ROW
BEGIN
    UPDATE voice_profiles SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE profile_id = OLD.profile_id;
END;

DROP TRIGGER IF EXISTS update_composio_toolkits_updated_at;
CREATE TRIGGER update_composio_toolkits_updated_at
AFTER UPDATE ON composio_toolkits
FOR EACH ROW
BEGIN
    UPDATE composio_toolkits SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = OLD.id;
END;

DROP TRIGGER IF EXISTS update_credentials_updated_at;
CREATE TRIGGER update_credentials_updated_at
AFTER UPDATE ON credentials
FOR EACH ROW
BEGIN
    UPDATE credentials SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = OLD.id;
END;

DROP TRIGGER IF EXISTS update_schedules_updated_at;
CREATE TRIGGER update_schedules_updated_at
AFTER UPDATE ON schedules
FOR EACH ROW
BEGIN
    UPDATE schedules SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = NEW.id;
END;

DROP TRIGGER IF EXISTS update_workflow_skills_updated_at;
CREATE TRIGGER update_workflow_skills_updated_at
AFTER UPDATE ON workflow_skills
FOR EACH ROW
BEGIN
    UPDATE workflow_skills SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = NEW.id;
END;

UPDATE llm_profiles
SET is_default = 0
WHERE is_default = 1
  AND profile_id <> (
      SELECT profile_id FROM llm_profiles
      WHERE is_default = 1
      ORDER BY updated_at DESC, profile_id ASC
      LIMIT 1
  );

CREATE UNIQUE INDEX uq_llm_profiles_one_default ON llm_profiles(is_default) WHERE is_default = 1;
