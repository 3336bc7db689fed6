"""The README's usage example runs, and prints what it promises."""

from __future__ import annotations

import re
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
