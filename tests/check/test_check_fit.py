"""rawdb.checker.fit: result columns against a Struct, as the row mapper would fill it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from rawdb.checker.fit import fit
from rawdb.checker.probe import ResultColumn


class Row(msgspec.Struct):
    id: int
    name: str
    flag: bool
    at: datetime | None
    meta: dict[str, Any] | None
    total: float = 0.0


def col(name: str, kind: str, nullable: bool | None = False, origin: str | None = None) -> ResultColumn:
    return ResultColumn(name, kind, kind.upper(), nullable, origin)


GOOD = (col("id", "int"), col("name", "text"), col("flag", "bool"), col("at", "datetime", True),
        col("meta", "json", True))


def test_a_result_that_fits() -> None:
    assert fit(Row, GOOD, "postgresql", "") == []
    # A JSON document read as text, timestamp text, and 0/1 for a bool where there is no bool type.
    sqlite = (col("id", "int"), col("name", "text"), col("flag", "int"), col("at", "text"), col("meta", "text"),
              col("total", "unknown"))
    assert fit(Row, sqlite, "sqlite", "") == []


def test_names_types_and_nulls_that_do_not_fit() -> None:
    columns = (col("id", "text"), col("nam", "text"), col("flag", "int"), col("at", "datetime", True),
               col("meta", "json", True), col("total", "decimal"), col("id", "int"))
    kinds = [(m.kind, m.message) for m in fit(Row, columns, "postgresql", "")]
    assert ("type", "column 'id' is TEXT (text), which does not convert to Row.id: int") in kinds
    assert ("column", "column 'nam' has no field in Row") in kinds
    assert ("field", "Row.name is filled by no column of the result") in kinds
    assert any(k == "type" and "'flag'" in m for k, m in kinds)  # PostgreSQL hands a bool field its bool only
    assert any(k == "type" and "'total'" in m and "float" in m for k, m in kinds)  # a Decimal in a float field
    assert ("column", "the result has two columns named 'id'; alias one") in kinds
    assert fit(Row, (*GOOD[:1], col("name", "text", True, "name"), *GOOD[2:]), "mysql", "")[0].kind == "null"


def test_a_where_clause_that_excludes_null_is_read() -> None:
    columns = (*GOOD[:1], col("name", "text", True, "secret"), *GOOD[2:])
    assert fit(Row, columns, "postgresql", "SELECT id, secret AS name FROM t WHERE secret IS NOT NULL") == []
    assert [m.kind for m in fit(Row, columns, "postgresql", "SELECT id, secret AS name FROM t")] == ["null"]


def test_a_defaulted_field_may_stay_unfilled() -> None:
    assert fit(Row, GOOD, "mysql", "") == []
    assert Decimal  # the import documents what a numeric column hands over
