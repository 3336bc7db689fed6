-- name: upsert_by_slug
INSERT INTO composio_toolkits (id, name, slug, description, logo, app_url, enabled, tools)
VALUES (:id, :name, :slug, :description, :logo, :app_url, FALSE, NULL)
ON DUPLICATE KEY UPDATE
    name = VALUES(name),
    description = VALUES(description),
    logo = VALUES(logo),
    app_url = VALUES(app_url)
