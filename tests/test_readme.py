"""The README's usage example runs, and prints what it promises."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_runs() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    example = next(b for b in blocks if "rawdb.create_pool" in b and "asyncio.run" in b)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "rejected: id" in result.stdout
    assert "Note(id=1, body=\"it's raw SQL\", tags=['sql', 'async'], pinned=True)" in result.stdout
    assert "in_use=0" in result.stdout


def test_readme_set_up_command_runs_rawdb_on_the_sqlite_default(tmp_path: Path) -> None:
    """Set-up command 1 after the install: migrate ./rawdb.db with the bundled schema, then status."""
    text = README.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("python3 -m venv"))
    commands = [c.strip() for c in line.split("&&") if c.strip().startswith(".venv/bin/rawdb ")]
    assert [c.split()[1] for c in commands] == ["migrate", "status"]
    env = {k: v for k, v in os.environ.items() if k != "RAWDB_URL"}
    outputs = []
    for command in commands:
        argv = [sys.executable, "-m", "rawdb.cli", *shlex.split(command)[1:]]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "version 0 -> " in outputs[0]
    assert outputs[1].rstrip().endswith("up to date")
    assert (tmp_path / "rawdb.db").exists()
