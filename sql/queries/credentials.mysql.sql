-- name: upsert_credential
INSERT INTO credentials (id, key_name, encrypted_value, description)
VALUES (:id, :key_name, :encrypted_value, :description)
ON DUPLICATE KEY UPDATE
    encrypted_value = VALUES(encrypted_value),
    description = COALESCE(VALUES(description), description)
