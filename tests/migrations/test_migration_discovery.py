"""Discovery is strict and checksums ignore line endings and a BOM."""

from __future__ import annotations

from pathlib import Path

import pytest

import rawdb
from rawdb.migrations import discover
from rawdb.migrations.checksum import checksum, normalize
from rawdb.migrations.discovery import bundled_directory
from rawdb.migrations.migrator import parse_accept


def write(folder: Path, name: str, text: str = "SELECT 1;\n") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_discovers_in_version_order(tmp_path: Path) -> None:
    write(tmp_path, "v002_second.sql")
    write(tmp_path, "v001_first.sql")
    write(tmp_path, "v003_third-step.sql")
    write(tmp_path, ".gitkeep", "")
    scripts = discover(tmp_path)
    assert [(s.version, s.name) for s in scripts] == [
        (1, "v001_first.sql"),
        (2, "v002_second.sql"),
        (3, "v003_third-step.sql"),
    ]
    assert all(s.transactional for s in scripts)


def test_four_digit_versions_continue_the_sequence(tmp_path: Path) -> None:
    for n in range(1, 11):
        write(tmp_path, f"v{n:04d}_s.sql")
    assert [s.version for s in discover(tmp_path)] == list(range(1, 11))


@pytest.mark.parametrize(
    "bad",
    ["v01_short.sql", "v001-dash.sql", "v001_.sql", "001_noprefix.sql", "v001_x.SQL", "notes.txt", "v001_x.sql.bak"],
)
def test_non_matching_file_is_an_error_naming_it(tmp_path: Path, bad: str) -> None:
    write(tmp_path, "v001_ok.sql")
    write(tmp_path, bad)
    with pytest.raises(rawdb.MigrationError) as info:
        discover(tmp_path)
    assert repr(bad) in str(info.value)
    assert "nothing was run" in str(info.value)


def test_subfolder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "v001_ok.sql")
    (tmp_path / "old").mkdir()
    with pytest.raises(rawdb.MigrationError, match="unexpected folder 'old'"):
        discover(tmp_path)


def test_duplicate_version_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "v001_a.sql")
    write(tmp_path, "v002_b.sql")
    write(tmp_path, "v0002_c.sql")
    with pytest.raises(rawdb.MigrationError) as info:
        discover(tmp_path)
    assert "v0002_c.sql and v002_b.sql" in str(info.value) or "v002_b.sql and v0002_c.sql" in str(info.value)


def test_gap_in_sequence_names_the_files(tmp_path: Path) -> None:
    write(tmp_path, "v001_a.sql")
    write(tmp_path, "v002_b.sql")
    write(tmp_path, "v004_d.sql")
    with pytest.raises(rawdb.MigrationError) as info:
        discover(tmp_path)
    assert "version 3 is missing" in str(info.value)
    assert "v004_d.sql comes after v002_b.sql" in str(info.value)


def test_sequence_must_start_at_one(tmp_path: Path) -> None:
    write(tmp_path, "v002_b.sql")
    with pytest.raises(rawdb.MigrationError, match="version 1 is missing"):
        discover(tmp_path)


def test_all_problems_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "v001_a.sql")
    write(tmp_path, "v003_c.sql")
    write(tmp_path, "README.md")
    with pytest.raises(rawdb.MigrationError) as info:
        discover(tmp_path)
    text = str(info.value)
    assert "'README.md'" in text and "version 2 is missing" in text


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(rawdb.MigrationError, match="does not exist"):
        discover(tmp_path / "nope")


def test_empty_folder_has_no_scripts(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


def test_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "v001_latin1.sql").write_bytes("SELECT 'caf\xe9';".encode("latin-1"))
    with pytest.raises(rawdb.MigrationError, match="not UTF-8"):
        discover(tmp_path)


def test_no_transaction_marker_on_first_line_only(tmp_path: Path) -> None:
    write(tmp_path, "v001_a.sql", "-- rawdb: no-transaction\nVACUUM;\n")
    write(tmp_path, "v002_b.sql", "--RAWDB:  No-Transaction  \r\nSELECT 1;\n")
    write(tmp_path, "v003_c.sql", "SELECT 1;\n-- rawdb: no-transaction\n")
    a, b, c = discover(tmp_path)
    assert (a.transactional, b.transactional, c.transactional) == (False, False, True)


def test_checksum_ignores_line_endings_and_bom() -> None:
    text = "CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n"
    crlf = text.replace("\n", "\r\n")
    cr = text.replace("\n", "\r")
    assert checksum(text) == checksum(crlf) == checksum(cr) == checksum("\ufeff" + crlf)
    assert checksum(text.encode()) == checksum(b"\xef\xbb\xbf" + crlf.encode())
    assert checksum(text) != checksum(text.replace("1", "2"))
    assert normalize("\ufeffa\r\nb\rc") == "a\nb\nc"


def test_discovered_checksum_same_for_crlf_bom_copy(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    text = "-- comment\nSELECT 1;\n"
    write(one, "v001_a.sql", text)
    (two / "v001_a.sql").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert discover(one)[0].checksum == discover(two)[0].checksum
    assert discover(two)[0].text == text


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_bundled_directory_is_the_packaged_one(dialect: str) -> None:
    folder = bundled_directory(dialect)
    assert folder.parts[-2:] == ("migrations", dialect)
    assert discover(folder)[0].name == "v001_initial_schema.sql"


@pytest.mark.parametrize(
    ("given", "expected"),
    [(5, [5]), ("v005", [5]), ("005", [5]), ("v005_name.sql", [5]), (["v002", 1, "v002"], [1, 2]), (None, [])],
)
def test_parse_accept(given: object, expected: list[int]) -> None:
    assert parse_accept(given) == expected  # type: ignore[arg-type]


def test_parse_accept_rejects_garbage() -> None:
    with pytest.raises(rawdb.MigrationError, match="name a version"):
        parse_accept("latest")
