"""rawdb.checker.updates: the UPDATE a binder builds, and which value types fit which columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from rawdb.checker.probe import ResultColumn
from rawdb.checker.updates import bound_types, column_misfit, update_statement
from rawdb.store import composio_toolkits, schedules
from rawdb.store._common import boolean, choice, integer, json_value, text
from rawdb.store.models import VoiceModelType


def test_the_statement_is_the_binders_own_update_sql() -> None:
    columns = composio_toolkits._COLUMNS
    sql = update_statement(columns, "slug", {"tools", "enabled", "name"})
    # The store's own builder, with the columns in the order the binder declares them.
    assert sql is columns.update_sql("slug", ["name", "enabled", "tools"])
    assert sql == "UPDATE composio_toolkits SET name = :name, enabled = :enabled, tools = :tools WHERE slug = :slug"


def test_the_bound_type_is_the_converters_return_annotation() -> None:
    assert bound_types(text()) == (str,)
    assert bound_types(text(nullable=True)) == (str,)
    assert bound_types(boolean) == (bool,)
    assert bound_types(integer(nullable=True)) == (int,)
    assert bound_types(choice(VoiceModelType)) == (str,)
    assert bound_types(json_value(dict[str, Any])) == (str,)  # JSON text, whatever the shape
    assert bound_types(schedules._COLUMNS.converters["next_execution_at"]) == (datetime,)

    def literal(field: str, value: Any) -> Literal["a", "b"]:
        return "a"

    class Callable:
        def __call__(self, field: str, value: Any) -> int:
            return 1

    assert bound_types(literal) == (str,)
    assert bound_types(Callable()) == (int,)
    # Nothing said, or nothing useful: the check reports it rather than guess.
    assert bound_types(lambda field, value: value) is None

    def anything(field: str, value: Any) -> Any:
        return value

    assert bound_types(anything) is None


def column(kind: str, type_name: str) -> ResultColumn:
    return ResultColumn("c", kind, type_name, None)


def test_which_values_fit_which_columns() -> None:
    flag, count, words = boolean, integer(), text()
    assert column_misfit("t", "c", words, column("text", "text"), "postgresql") is None
    assert column_misfit("t", "c", words, column("json", "jsonb"), "postgresql") is None
    assert column_misfit("t", "c", count, column("decimal", "numeric"), "postgresql") is None
    assert column_misfit("t", "c", flag, column("bool", "bool"), "postgresql") is None
    # MySQL and SQLite keep booleans as integers; PostgreSQL does not take a bool for an integer.
    assert column_misfit("t", "c", flag, column("int", "LONG"), "mysql") is None
    assert column_misfit("t", "c", flag, column("int", "int4"), "postgresql") == (
        "column t.c is int4 (int), but its converter binds bool")
    assert column_misfit("t", "c", words, column("datetime", "timestamptz"), "postgresql") == (
        "column t.c is timestamptz (datetime), but its converter binds str")
    # SQLite stores a datetime as ISO text; on a server a text column is a different type.
    stamp = schedules._COLUMNS.converters["next_execution_at"]
    assert column_misfit("t", "c", stamp, column("text", "TEXT"), "sqlite") is None
    assert column_misfit("t", "c", stamp, column("text", "VAR_STRING"), "mysql") is not None
    # A column the server cannot describe is not compared.
    assert column_misfit("t", "c", words, column("unknown", "expression"), "sqlite") is None
    assert "has no converter" in str(column_misfit("t", "c", None, column("text", "text"), "sqlite"))
    assert "annotate the return type" in str(column_misfit("t", "c", lambda f, v: v, None, "sqlite"))
