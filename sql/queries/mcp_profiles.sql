-- MCP server profiles (QUERIES §3.2).

-- name: insert_profile
INSERT INTO mcp_profiles (mcp_id, display_name, mcp_server_name, mcp_server_params, description)
VALUES (:mcp_id, :display_name, :mcp_server_name, :mcp_server_params, :description)

-- name: get_profile
SELECT mcp_id, display_name, mcp_server_name, mcp_server_params, description, is_active,
       created_at, updated_at, last_used_at
FROM mcp_profiles WHERE mcp_id = :mcp_id

-- name: get_profile_by_display_name
SELECT mcp_id, display_name, mcp_server_name, mcp_server_params, description, is_active,
       created_at, updated_at, last_used_at
FROM mcp_profiles WHERE display_name = :display_name

-- name: list_profiles
SELECT mcp_id, display_name, mcp_server_name, mcp_server_params, description, is_active,
       created_at, updated_at, last_used_at
FROM mcp_profiles
WHERE (:include_inactive OR is_active = TRUE)
ORDER BY (last_used_at IS NULL), last_used_at DESC, created_at DESC, mcp_id

-- name: get_active_profiles
SELECT mcp_id, display_name, mcp_server_name, mcp_server_params, description, is_active,
       created_at, updated_at, last_used_at
FROM mcp_profiles WHERE is_active = TRUE ORDER BY created_at, mcp_id

-- name: delete_profile
DELETE FROM mcp_profiles WHERE mcp_id = :mcp_id

-- name: update_last_used
UPDATE mcp_profiles SET last_used_at = :now WHERE mcp_id = :mcp_id
