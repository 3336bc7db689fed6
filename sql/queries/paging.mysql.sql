-- name: offset_only
-- MySQL/MariaDB need a LIMIT before OFFSET; the manual's idiom for "no limit"
-- is the largest BIGINT UNSIGNED.
LIMIT 18446744073709551615 OFFSET :offset
