-- name: offset_only
-- SQLite needs a LIMIT before OFFSET; a negative LIMIT means "no upper bound".
LIMIT -1 OFFSET :offset
