"""rawdb new NAME: the next script, numbered alike in every dialect's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawdb.checker import new_migration
from rawdb.cli import main
from rawdb.errors import ConfigError, MigrationError
from rawdb.migrations import discover


def folders(root: Path, scripts: dict[str, list[str]]) -> Path:
    for dialect, names in scripts.items():
        (root / dialect).mkdir(parents=True)
        for name in names:
            (root / dialect / name).write_text("SELECT 1;\n")
    return root


def test_the_next_version_in_each_dialect(tmp_path: Path) -> None:
    root = folders(tmp_path / "m", {d: ["v001_a.sql", "v002_b.sql"] for d in ("sqlite", "postgresql", "mysql")})
    made = new_migration("add_priority", root)
    assert sorted(p.relative_to(root).as_posix() for p in made) == [
        "mysql/v003_add_priority.sql", "postgresql/v003_add_priority.sql", "sqlite/v003_add_priority.sql"]
    mysql = (root / "mysql/v003_add_priority.sql").read_text()
    assert mysql.startswith("-- v003 (mysql): add priority\n") and "statement by statement" in mysql
    assert "one transaction" in (root / "sqlite/v003_add_priority.sql").read_text()
    for dialect in ("sqlite", "postgresql", "mysql"):
        assert [s.version for s in discover(root / dialect)] == [1, 2, 3]


def test_a_single_folder_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m").mkdir()
    assert main(["new", "first", "--dir", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out == f"created {tmp_path / 'm' / 'v001_first.sql'}\n"
    assert main(["new", "bad name", "--dir", str(tmp_path / "m")]) == 2
    assert "cannot name a migration" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["v004_x", "x.sql", "", "-x", "a b"])
def test_names_that_break_the_ordering_rules(tmp_path: Path, name: str) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(ConfigError):
        new_migration(name, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_folders_that_disagree_or_are_broken_are_left_alone(tmp_path: Path) -> None:
    root = folders(tmp_path / "m", {"sqlite": ["v001_a.sql"], "postgresql": ["v001_a.sql", "v002_b.sql"]})
    with pytest.raises(ConfigError, match="disagree"):
        new_migration("c", root)
    gap = folders(tmp_path / "g", {"sqlite": ["v001_a.sql", "v003_c.sql"]})
    with pytest.raises(MigrationError, match="missing from the sequence"):
        new_migration("d", gap)
    assert sorted(p.name for p in (root / "sqlite").iterdir()) == ["v001_a.sql"]
