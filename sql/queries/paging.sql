-- Paging clauses appended by the store to list queries (QUERIES §2.4).
-- :limit is a non-negative int; "all rows" uses offset_only, which each dialect
-- spells its own way because OFFSET without LIMIT is not portable SQL.

-- name: limit_offset
LIMIT :limit OFFSET :offset

-- name: offset_only
-- PostgreSQL accepts OFFSET on its own.
OFFSET :offset
