-- Named secrets (QUERIES §3.7). Values are ciphertext made by the injected cipher.

-- name: get_encrypted_value
SELECT encrypted_value FROM credentials WHERE key_name = :key_name

-- name: upsert_credential
-- Native upsert (D18); an omitted description keeps the stored one (D17).
INSERT INTO credentials (id, key_name, encrypted_value, description)
VALUES (:id, :key_name, :encrypted_value, :description)
ON CONFLICT (key_name) DO UPDATE SET
    encrypted_value = excluded.encrypted_value,
    description = COALESCE(excluded.description, credentials.description)

-- name: delete_credential
DELETE FROM credentials WHERE key_name = :key_name

-- name: list_credential_names
SELECT key_name FROM credentials ORDER BY created_at, key_name

-- name: list_secrets
SELECT id, encrypted_value AS secret
FROM credentials WHERE encrypted_value IS NOT NULL ORDER BY id

-- name: set_secret
UPDATE credentials SET encrypted_value = :secret WHERE id = :id

-- name: set_secret_if_unchanged
-- The secret is rewritten only if it still holds the value read: a concurrent change
-- makes the count 0 instead of being overwritten.
UPDATE credentials SET encrypted_value = :secret
WHERE id = :id AND encrypted_value = :old_secret
