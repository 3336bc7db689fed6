-- name: upsert_skill
INSERT INTO workflow_skills (id, flow_id, name, description, add_to_skill, workflow_expose_config)
VALUES (:id, :flow_id, :name, :description, :add_to_skill, :workflow_expose_config)
ON DUPLICATE KEY UPDATE
    name = VALUES(name),
    description = VALUES(description),
    add_to_skill = VALUES(add_to_skill),
    workflow_expose_config = VALUES(workflow_expose_config)
