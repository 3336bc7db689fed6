"""rawdb.queries.parse_query_blocks: where each query sits, and the Struct it declares."""

from __future__ import annotations

import pytest

from rawdb.queries import QueryFileError, parse_query_blocks, parse_query_file

TEXT = """\
-- header

-- name: get_one -> Thing
-- what it does

SELECT a,
       b
FROM t WHERE a = :a;

-- name: touch
UPDATE t SET b = 1
-- name: qualified->app.models.Thing
SELECT 1
"""


def test_blocks_carry_lines_and_struct() -> None:
    blocks = parse_query_blocks(TEXT, "t.sql")
    assert [(b.name, b.line, b.body_line, b.into) for b in blocks] == [
        ("get_one", 3, 6, "Thing"),
        ("touch", 10, 11, None),
        ("qualified", 12, 13, "app.models.Thing"),
    ]
    assert blocks[0].sql == "SELECT a,\n       b\nFROM t WHERE a = :a"
    assert parse_query_file(TEXT) == {b.name: b.sql for b in blocks}


@pytest.mark.parametrize("line", ["-- name: q ->", "-- name: q -> 3x", "-- name: q -> a..b"])
def test_a_bad_struct_reference_is_refused(line: str) -> None:
    with pytest.raises(QueryFileError, match="not a Struct name"):
        parse_query_blocks(f"{line}\nSELECT 1\n", "t.sql")
