"""``rawdb migrate|status|repair|baseline``: output, exit codes, URL defaults."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from legacy_db import LEGACY_MAX_VERSION, inventory, make_fallback_db
from migration_helpers import PORTABLE, write_scripts

from rawdb.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_shows_progress_and_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_scripts(tmp_path / "s", PORTABLE)
    db = f"sqlite:///{tmp_path / 'app.db'}"
    code, out, err = run(capsys, "migrate", "--url", db, "--dir", str(folder), "--to", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("rawdb migrate: sqlite:///") and str(folder) in lines[0]
    assert lines[1].startswith("  v001_items.sql (1 statements) ... ok in ") and lines[1].endswith(" ms")
    assert lines[2].startswith("  v002_fill.sql (2 statements) ... ok in ")
    assert lines[-1].startswith("version 0 -> 2: applied 2 script(s) in ")
    code, out, _ = run(capsys, "migrate", "--url", db, "--dir", str(folder), "--dry-run")
    assert code == 0 and "version 2; a migrate would apply:\n  v003_notes.sql (1 statements, one transaction)" in out
    code, out, _ = run(capsys, "migrate", "--url", db, "--dir", str(folder))
    assert code == 0 and out.splitlines()[-1].startswith("version 2 -> 3")
    code, out, _ = run(capsys, "migrate", "--url", db, "--dir", str(folder))
    assert code == 0 and out.splitlines()[-1] == "version 3: up to date"


def test_migrate_failure_is_a_readable_message_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_scripts(
        tmp_path / "s",
        {"v001_items.sql": PORTABLE["v001_items.sql"], "v002_bad.sql": "SELECT 1;\nINSERT INTO nowhere VALUES (1);\n"},
    )
    code, out, err = run(capsys, "migrate", "--url", f"sqlite:///{tmp_path / 'a.db'}", "--dir", str(folder))
    assert code == 1
    assert "  v002_bad.sql (2 statements) ... failed" in out
    assert err.startswith("rawdb migrate: error: v002_bad.sql: statement 2 (line 2: 'INSERT INTO nowhere VALUES (1)')")
    assert "no such table: nowhere" in err and "stays at version 1" in err
    assert "Traceback" not in err


def test_url_defaults_to_env_then_rawdb_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_scripts(tmp_path / "s", PORTABLE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAWDB_URL", raising=False)
    assert run(capsys, "migrate", "--dir", str(folder))[0] == 0
    assert (tmp_path / "rawdb.db").exists()
    monkeypatch.setenv("RAWDB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    code, out, _ = run(capsys, "status", "--dir", str(folder))
    assert code == 0 and "env.db" in out and "version:  0" in out and "3 pending" in out


def test_status_drift_and_repair_accept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_scripts(tmp_path / "s", PORTABLE)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    assert run(capsys, "migrate", "--url", db, "--dir", str(folder))[0] == 0
    code, out, _ = run(capsys, "status", "--url", db, "--dir", str(folder))
    assert code == 0 and out.rstrip().endswith("up to date") and out.count(" applied ") == 3
    (folder / "v002_fill.sql").write_text(PORTABLE["v002_fill.sql"] + "-- edited\n", encoding="utf-8")
    code, out, _ = run(capsys, "status", "--url", db, "--dir", str(folder))
    assert code == 1 and "v002_fill.sql" in out and "drifted" in out and "migrate would refuse:" in out
    code, _, err = run(capsys, "migrate", "--url", db, "--dir", str(folder))
    assert code == 1 and "rawdb repair --accept v002" in err
    code, out, _ = run(capsys, "repair", "--url", db, "--dir", str(folder), "--accept", "v002")
    assert code == 0 and out.startswith("accepted v002_fill.sql: ")
    assert run(capsys, "migrate", "--url", db, "--dir", str(folder))[0] == 0
    code, out, _ = run(capsys, "repair", "--url", db, "--dir", str(folder))
    assert code == 0 and "nothing to repair" in out


def test_baseline_command_on_fallback_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = make_fallback_db(tmp_path / "fallback.db")
    db = f"sqlite:///{built.path}"
    code, _, err = run(capsys, "migrate", "--url", db, "--store")
    assert code == 1 and "fallback" in err and "rawdb baseline --to 8 --store" in err
    code, out, _ = run(capsys, "baseline", "--url", db, "--store", "--to", str(LEGACY_MAX_VERSION))
    assert code == 0 and "recorded version 8 (was 0)" in out
    assert "repaired to match v008 (rows kept):\n  - v003_fix_task_status_case.sql: ran its 6" in out
    assert "  - rebuilt table tasks with the definition of v008 (4 row(s) copied" in out
    assert "left as they are):\n  - index idx_workflow_skills_add_to_skill" in out
    assert inventory(built.path)["user_version"] == LEGACY_MAX_VERSION
    assert run(capsys, "migrate", "--url", db, "--store")[0] == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--to", "x"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["baseline"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main([])
    capsys.readouterr()


def test_bad_url_is_a_readable_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--url", "oracle://x", "--store")
    assert code == 1 and err.startswith("rawdb status: error: unsupported URL scheme")


async def test_console_script_on_a_server(isolated: Any, tmp_path: Path) -> None:
    """The real entry point in a subprocess, against MariaDB (URL-addressable isolation)."""
    if isolated.dialect != "mysql":
        pytest.skip("SQLite is covered in-process; the PostgreSQL test schema needs pool options")
    folder = write_scripts(tmp_path / "s", PORTABLE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rawdb.cli",
        "migrate",
        "--url",
        isolated.url,
        "--dir",
        str(folder),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "version 0 -> 3" in out.decode() and "v002_fill.sql (2 statements) ... ok" in out.decode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rawdb.cli",
        "status",
        "--url",
        isolated.url,
        "--dir",
        str(folder),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0 and "version:  3" in out.decode()
