-- Composio toolkits (QUERIES §3.6). tools is JSON kept as text, verbatim.

-- name: insert_toolkit
INSERT INTO composio_toolkits (id, name, slug, description, logo, app_url, enabled, tools)
VALUES (:id, :name, :slug, :description, :logo, :app_url, :enabled, :tools)

-- name: get_toolkit
SELECT id, name, slug, description, logo, app_url, enabled, tools, created_at, updated_at
FROM composio_toolkits WHERE id = :id

-- name: get_toolkit_by_slug
SELECT id, name, slug, description, logo, app_url, enabled, tools, created_at, updated_at
FROM composio_toolkits WHERE slug = :slug

-- name: list_toolkits
-- The old query paged without any ORDER BY (D20).
SELECT id, name, slug, description, logo, app_url, enabled, tools, created_at, updated_at
FROM composio_toolkits
WHERE (:include_disabled OR enabled = TRUE)
ORDER BY name, slug

-- name: delete_toolkit
DELETE FROM composio_toolkits WHERE id = :id

-- name: delete_toolkit_by_slug
DELETE FROM composio_toolkits WHERE slug = :slug

-- name: upsert_by_slug
-- The sync rule: new slugs arrive disabled with no tools; existing ones get the
-- remote catalogue fields and keep enabled/tools (QUERIES §7, C3).
INSERT INTO composio_toolkits (id, name, slug, description, logo, app_url, enabled, tools)
VALUES (:id, :name, :slug, :description, :logo, :app_url, FALSE, NULL)
ON CONFLICT (slug) DO UPDATE SET
    name = excluded.name,
    description = excluded.description,
    logo = excluded.logo,
    app_url = excluded.app_url
