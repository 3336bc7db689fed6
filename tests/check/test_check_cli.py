"""rawdb check's interface: exit statuses, JSON, the progress line, the library call, the test helper.

These run on SQLite alone (always checked, on a temporary file); the servers are
covered in tests/test_check.py.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

import rawdb
from rawdb.checker import CannotCheck, assert_queries_ok
from rawdb.checker.command import run_command
from rawdb.cli import main

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, rating INTEGER);\n"
QUERIES = """\
-- name: get_note -> Note
SELECT id, body, rating FROM notes WHERE id = :id

-- name: count_notes
SELECT COUNT(*) FROM notes
"""
MODELS = "import msgspec\n\n\nclass Note(msgspec.Struct):\n    id: int\n    body: str\n    rating: int | None\n"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "queries").mkdir()
    (tmp_path / "migrations" / "v001_notes.sql").write_text(SCHEMA)
    (tmp_path / "queries" / "notes.sql").write_text(QUERIES)
    (tmp_path / "check_cli_models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


APP = ["check", "--queries", "queries", "--dir", "migrations", "--models", "check_cli_models"]


def test_clean_text_and_json(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(APP) == 0
    out = capsys.readouterr().out
    assert "sqlite: 2 queries checked (2 statements prepared)" in out and out.endswith("no findings\n")
    assert "\r" not in out  # no progress line when stdout is not a terminal
    assert main([*APP, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["exit_code"] == 0 and document["findings"] == []
    assert [(d["dialect"], d["queries"]) for d in document["dialects"]] == [("sqlite", 2)]


def test_findings_are_grouped_by_file_and_exit_1(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (app / "queries" / "notes.sql").write_text(QUERIES.replace("SELECT id, body", "SELECT id, bdy"))
    assert main(APP) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "queries/notes.sql"
    assert lines[1] == "  2: notes.get_note [sqlite] prepare: no such column: bdy"
    assert lines[-1] == "1 finding"


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--url", "postgresql://nobody@127.0.0.1:1/none"], "Connection refused"),
    (["check", "--url", "oracle://x/y"], "unsupported URL scheme"),
    (["check", "--queries", "queries"], "name the schema"),
    (["check", "--queries", "nowhere", "--dir", "migrations"], "does not exist"),
    (["check", "--queries", "queries", "--dir", "migrations", "--code", "no_such_module_x"], "cannot import"),
])
def test_cannot_run_exits_2(app: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("rawdb check: cannot run: ") and message in captured.err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_line_on_a_terminal(app: Path) -> None:
    args = argparse.Namespace(command="check", url=[], queries=["queries"], directory="migrations", store=False,
                              models=["check_cli_models"], code=[], format="text")
    out = _Terminal()
    assert run_command(args, out, io.StringIO()) == 0
    text = out.getvalue()
    assert "\r\x1b[Kchecking: sqlite 0/2  notes." in text and "\r\x1b[Kchecking: sqlite 2/2" in text
    assert text.split("\r\x1b[K")[-1].startswith("sqlite: 2 queries checked")


async def test_the_library_call_and_the_test_helper(app: Path) -> None:
    report = await rawdb.check(queries=["queries"], migrations="migrations", models=["check_cli_models"])
    assert report.ok and report.exit_code == 0 and report.dialects[0].queries == 2
    await assert_queries_ok(queries=["queries"], migrations="migrations", models=["check_cli_models"])
    # A module imported once stays as it was: the renamed field goes in a module of its own.
    (app / "check_cli_renamed.py").write_text(MODELS.replace("    rating: int | None", "    stars: int | None"))
    with pytest.raises(AssertionError, match=r"column 'rating' has no field in Note"):
        await assert_queries_ok(queries=["queries"], migrations="migrations", models=["check_cli_renamed"])
    with pytest.raises(CannotCheck):
        await rawdb.check(queries=["queries"])


USER_CODE = '''
from check_cli_models import Note


async def get_note(tx, queries, note_id):
    return await tx.fetch_one(queries.notes.get_note, {"note_id": note_id}, into=Note)
'''


def test_user_code_is_checked_like_the_store(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (app / "check_cli_code.py").write_text(USER_CODE)
    assert main([*APP, "--code", "check_cli_code", "--format", "json"]) == 1
    found = {(f["query"], f["kind"], f["line"]): f["message"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert found.pop(("notes.get_note", "parameter", 2)).startswith(
        ":id is not passed; note_id is passed but not in the SQL: check_cli_code.py:6 (check_cli_code.get_note)")
    assert found == {("notes.count_notes", "unused", 4): "no call in check_cli_code runs this query"}


def test_a_schema_that_cannot_be_built_is_a_finding(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (app / "migrations" / "v002_broken.sql").write_text("ALTER TABLE nowhere ADD COLUMN x INTEGER;\n")
    assert main([*APP, "--format", "json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["kind"], finding["file"], finding["dialects"]) == ("migration", "migrations", ["sqlite"])
    assert "no query was checked" in finding["message"] and "v002_broken.sql" in finding["message"]
