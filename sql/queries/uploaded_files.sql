-- Uploaded files (QUERIES §3.4). upload_time is the database default, like created_at.

-- name: insert_file
INSERT INTO uploaded_files (
    file_id, original_filename, stored_filename, file_path, session_id, file_size,
    mime_type, relative_path
) VALUES (
    :file_id, :original_filename, :stored_filename, :file_path, :session_id, :file_size,
    :mime_type, :relative_path
)

-- name: get_file
SELECT file_id, original_filename, stored_filename, file_path, session_id, file_size,
       mime_type, upload_time, relative_path, is_deleted, deleted_at
FROM uploaded_files WHERE file_id = :file_id AND is_deleted = FALSE

-- name: list_files
SELECT file_id, original_filename, stored_filename, file_path, session_id, file_size,
       mime_type, upload_time, relative_path, is_deleted, deleted_at
FROM uploaded_files
WHERE (:include_deleted OR is_deleted = FALSE)
ORDER BY upload_time DESC, file_id DESC

-- name: list_session_files
SELECT file_id, original_filename, stored_filename, file_path, session_id, file_size,
       mime_type, upload_time, relative_path, is_deleted, deleted_at
FROM uploaded_files
WHERE session_id = :session_id AND (:include_deleted OR is_deleted = FALSE)
ORDER BY upload_time DESC, file_id DESC

-- name: count_files
SELECT COUNT(*) FROM uploaded_files WHERE (:include_deleted OR is_deleted = FALSE)

-- name: count_session_files
SELECT COUNT(*) FROM uploaded_files
WHERE session_id = :session_id AND (:include_deleted OR is_deleted = FALSE)

-- name: delete_file
-- Soft delete, idempotent: an already deleted file keeps its deleted_at (D22).
UPDATE uploaded_files SET is_deleted = TRUE, deleted_at = :now
WHERE file_id = :file_id AND is_deleted = FALSE

-- name: hard_delete_file
DELETE FROM uploaded_files WHERE file_id = :file_id

-- name: cleanup_deleted_files
-- :cutoff is computed by the caller: no dialect's interval syntax needed (D11).
DELETE FROM uploaded_files WHERE is_deleted = TRUE AND deleted_at < :cutoff
