"""rawdb.checker.usage: the parameters and Struct of each call, read from the code."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from rawdb.checker.catalog import load_catalog
from rawdb.checker.usage import analyze_modules, store_modules
from rawdb.queries import sql_root
from rawdb.store import _common, composio_toolkits, schedules, voice_profiles

SAMPLE = '''
import msgspec
from rawdb.store._common import Columns, QuerySet, execute_sql

_Q = QuerySet("notes", ("get", "put", "find", "find_all", "many"))
_OTHERS = {t: QuerySet(t, ("get",)) for t in ("a", "b")}
_COLUMNS = Columns("notes", {})
FIELDS = ("x", "y")
EDITABLE = ("body", "pinned")


class Note(msgspec.Struct):
    id: int


def _stamp(flag):
    if flag:
        return {"at": 1}
    return {"at": None}


def _which(session):
    if session is None:
        return "find", {"all": True}
    return "find_all", {"all": True, "session": session}


async def put(tx, body, flag):
    params = _COLUMNS.bind({"id": 1, "body": body})
    params["extra"] = 2
    params.update(_stamp(flag), more=3)
    params.pop("extra")
    await _Q.execute(tx, "put", params)


async def get(tx, i):
    return await _Q.fetch_one(tx, "get", {"id": i}, Note)


async def find(tx, session):
    name, params = _which(session)
    return await _Q.fetch_all(tx, name, params, Note, limit=5)


async def many(tx, items):
    batch = []
    for item in items:
        batch.append(_COLUMNS.bind({name: item for name in FIELDS}))
    await tx.executemany(_Q.sql(tx, "many"), batch)


async def loop(tx):
    for table, queries in _OTHERS.items():
        await queries.fetch_val(tx, "get", {"k": table})


async def lost(tx, params):
    await _Q.execute(tx, "put", params)


async def helper_only(tx):
    return await get(tx, 1)


async def _set(tx, key, value, updates):
    params = _COLUMNS.bind(_COLUMNS.pick(updates, EDITABLE))
    return await execute_sql(tx, _COLUMNS.update_sql(key, params), {**params, key: value})


async def edit(tx, i, updates):
    return await _set(tx, "id", i, updates) > 0


async def pin(tx, i):
    return await _set(tx, "id", i, {"pinned": True})


async def edit_by(tx, key, value, updates):
    return await _set(tx, key, value, updates)
'''


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    # A QuerySet registers the names it needs for the loader's check; the sample's
    # "notes" file must not stay registered for the rest of the session.
    monkeypatch.setattr(_common, "_REQUIRED", {k: set(v) for k, v in _common._REQUIRED.items()})
    (tmp_path / "check_sample_mod.py").write_text(textwrap.dedent(SAMPLE))
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("check_sample_mod")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("check_sample_mod", None)


def test_parameters_and_structs_are_read_from_the_calls(sample: ModuleType) -> None:
    index = analyze_modules([sample], {("notes", q) for q in ("get", "put", "find", "find_all", "many")})
    calls = {(u.operation, u.group, u.query): u for u in index.usages}
    put = calls[("check_sample_mod.put", "notes", "put")]
    assert put.params == {frozenset({"id", "body", "at", "more"})} and put.into is None
    get = calls[("check_sample_mod.get", "notes", "get")]
    assert get.params == {frozenset({"id"})} and get.into is sample.Note and not get.paged
    # Both branches of the helper: each query is checked against every set the call can pass.
    for query in ("find", "find_all"):
        found = calls[("check_sample_mod.find", "notes", query)]
        assert found.paged and found.params == {frozenset({"all"}), frozenset({"all", "session"})}
    assert calls[("check_sample_mod.many", "notes", "many")].params == {frozenset({"x", "y"})}
    assert {(u.group, u.params) for u in index.usages if u.operation == "check_sample_mod.loop"} == {
        ("a", frozenset({frozenset({"k"})})), ("b", frozenset({frozenset({"k"})}))}
    # A parameter dict that comes from outside cannot be checked: said, not guessed.
    unresolved = [(u.operation, u.what.split(":")[0]) for u in index.unresolved]
    assert unresolved == [("check_sample_mod.lost", "which parameters it passes"),
                          ("check_sample_mod.edit_by", "which key and columns its UPDATE has")]
    # An operation reaches the queries of the helpers it calls.
    assert index.operations["check_sample_mod.helper_only"] == {("notes", "get")}
    # The UPDATE a helper builds, once per operation: the key each passes it, the whole
    # allow-list for a caller's dict, only the keys of a literal one.
    updates = sorted((u.operation, u.update.key, sorted(u.update.columns), sorted(map(sorted, u.params)))
                     for u in index.updates)
    assert updates == [
        ("check_sample_mod.edit", "id", ["body", "pinned"], [["body", "id", "pinned"]]),
        ("check_sample_mod.pin", "id", ["pinned"], [["id", "pinned"]]),
    ]
    assert {u.update.binder for u in index.updates} == {sample._COLUMNS}
    assert {u.update.line for u in index.updates} == {u.line for u in index.updates}  # both in _set


def test_every_call_in_the_store_is_followed() -> None:
    catalog = load_catalog(sql_root() / "queries")
    index = analyze_modules(store_modules(), set(catalog.queries("sqlite")))
    assert index.unresolved == []
    used = {(u.group, u.query) for u in index.usages}
    assert set(catalog.queries("sqlite")) - used == {("paging", "limit_offset"), ("paging", "offset_only")}
    assert any(u.paged for u in index.usages)
    assert len(index.operations) >= 74
    # The store's public operations, all accounted for: each runs named queries, an
    # UPDATE built by update_sql whose key and columns are known, or both.
    updating = {u.operation for u in index.updates}
    assert {op for op, queries in index.operations.items() if not queries} <= updating
    assert updating == {
        "composio_toolkits.update_toolkit", "composio_toolkits.update_toolkit_by_slug",
        "composio_toolkits.toggle_toolkit_enabled", "composio_toolkits.update_toolkit_tools",
        "mcp_profiles.update_profile", "schedules.update_schedule", "schedules.update_schedule_by_flow_id",
        "voice_profiles.update_profile", "llm_profiles.update_profile",
    }
    built = {(u.operation, u.update.key, u.update.columns) for u in index.updates}
    # A caller's dict can hold any allow-listed key: the whole allow-list is what is checked.
    allowed = frozenset(composio_toolkits.UPDATABLE)
    assert ("composio_toolkits.update_toolkit", "id", allowed) in built
    assert ("composio_toolkits.update_toolkit_by_slug", "slug", allowed) in built
    # The helper's key and columns are those each operation passes it.
    assert {(key, columns) for op, key, columns in built if op == "composio_toolkits.toggle_toolkit_enabled"} == {
        ("id", frozenset({"enabled"}))}
    # api_key becomes encrypted_api_key in crypto.bind_profile_updates, which is followed.
    voice = {columns for op, _, columns in built if op == "voice_profiles.update_profile"}
    assert frozenset(voice_profiles.UPDATABLE) - {"api_key"} | {"encrypted_api_key"} in voice
    assert all("api_key" not in columns for columns in voice)
    # A new cron re-arms the schedule: next_execution_at is set with it.
    assert ("schedules.update_schedule_by_flow_id", "flow_id",
            frozenset(schedules.UPDATABLE) | {"next_execution_at"}) in built
    # Each call runs its UPDATE with exactly the key and the columns it sets.
    for usage in index.updates:
        assert usage.update.columns | {usage.update.key} in usage.params
