-- Workflows exposed as agent skills (QUERIES §3.9).

-- name: upsert_skill
-- Native upsert (D18): all four fields are overwritten, None included.
INSERT INTO workflow_skills (id, flow_id, name, description, add_to_skill, workflow_expose_config)
VALUES (:id, :flow_id, :name, :description, :add_to_skill, :workflow_expose_config)
ON CONFLICT (flow_id) DO UPDATE SET
    name = excluded.name,
    description = excluded.description,
    add_to_skill = excluded.add_to_skill,
    workflow_expose_config = excluded.workflow_expose_config

-- name: get_skill
SELECT id, flow_id, name, description, add_to_skill, workflow_expose_config,
       created_at, updated_at
FROM workflow_skills WHERE flow_id = :flow_id

-- name: list_skills
SELECT id, flow_id, name, description, add_to_skill, workflow_expose_config,
       created_at, updated_at
FROM workflow_skills
WHERE (:include_all OR add_to_skill = TRUE)
ORDER BY updated_at DESC, id DESC

-- name: delete_skill
DELETE FROM workflow_skills WHERE flow_id = :flow_id

-- name: update_expose_config
UPDATE workflow_skills SET workflow_expose_config = :workflow_expose_config
WHERE flow_id = :flow_id
