"""Find migration scripts and refuse anything ambiguous before a byte runs.

The runner this replaces skipped badly named files with a warning, so a typo
(``v10_x.sql``, ``v010-x.sql``) silently dropped a schema change. Here every
problem in the folder is collected and raised together, naming the files:
an operator fixes the folder once instead of once per error.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Final, TypeAlias

import msgspec

from rawdb.errors import ConfigError, MigrationError
from rawdb.migrations.checksum import checksum, normalize
from rawdb.migrations.splitter import SplitError, Statement, split_statements

SCRIPT_NAME = re.compile(r"^v(\d{3,})_([A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")
"""``vNNN_description.sql``: three digits or more, an underscore, a description."""

NO_TRANSACTION_MARKER = re.compile(r"^--\s*rawdb:\s*no-transaction\s*$", re.IGNORECASE)
"""First line of a script that must run outside a transaction (e.g. ``VACUUM``)."""


class Script(msgspec.Struct, frozen=True):
    """One discovered migration script, already read, normalised and checksummed."""

    version: int
    name: str
    """The file name, e.g. ``v002_add_agent_mode.sql``: what messages show."""
    path: str
    text: str
    """Normalised text (no BOM, ``\\n`` line ends): what runs and what is hashed."""
    checksum: str
    transactional: bool
    """False when the first line is ``-- rawdb: no-transaction``."""

    def statements(self, dialect: str) -> list[Statement]:
        """The script cut into statements; a lexing error names this file."""
        try:
            return split_statements(self.text, dialect)
        except SplitError as exc:
            raise MigrationError(f"{self.name}: cannot split into statements: {exc}") from exc


def bundled_directory(dialect: str) -> Path:
    """The packaged ``sql/migrations/<dialect>`` folder (checkout or installed wheel)."""
    try:
        from rawdb.queries import sql_root  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        root = _sql_root_fallback()
    else:
        root = Path(sql_root())
    return root / "migrations" / dialect


class BundledSchema:
    """rawdb's bundled application schema: the nine tables `rawdb.store` works on.

    Its scripts ship inside the package, one folder per dialect, so it is named by
    this value rather than by a path: ``pool.migrate(rawdb.store.MIGRATIONS)``,
    ``rawdb migrate --store``. It is never used unless named: a database that holds
    an application's own schema must not receive these nine tables by accident.
    """

    __slots__ = ()

    def directory(self, dialect: str) -> Path:
        return bundled_directory(dialect)

    def __repr__(self) -> str:
        return "rawdb.store.MIGRATIONS"


STORE_MIGRATIONS: Final = BundledSchema()
"""The one `BundledSchema` value; re-exported as ``rawdb.store.MIGRATIONS``."""

MigrationSource: TypeAlias = str | os.PathLike[str] | BundledSchema
"""Where a migration run takes its scripts from: a folder, or `STORE_MIGRATIONS`."""

NO_SOURCE = (
    "no migration scripts named: pass your application's folder of vNNN_description.sql "
    "scripts (directory='path/to/migrations'; CLI: --dir DIR), or choose rawdb's bundled "
    "application schema (the nine tables of rawdb.store) explicitly with "
    "directory=rawdb.store.MIGRATIONS (CLI: --store). There is no default, so that no "
    "database is given a schema it was not meant to have."
)


def resolve_directory(source: MigrationSource | None, dialect: str) -> Path:
    """The folder ``source`` names for ``dialect``; `ConfigError` when nothing is named."""
    if source is None:
        raise ConfigError(NO_SOURCE)
    if isinstance(source, BundledSchema):
        return source.directory(dialect)
    if isinstance(source, (str, os.PathLike)) and str(source):
        return Path(source)
    raise ConfigError(
        f"directory must be a folder path or rawdb.store.MIGRATIONS, got {source!r}. {NO_SOURCE}"
    )


@functools.lru_cache(maxsize=8)
def bundled_checksums(dialect: str) -> dict[int, str]:
    """Version -> checksum of the bundled schema's scripts for ``dialect`` (read once)."""
    folder = bundled_directory(dialect)
    if not folder.is_dir():
        return {}
    return {script.version: script.checksum for script in discover(folder)}


def _sql_root_fallback() -> Path:
    """``rawdb/sql`` in a wheel (force-included), ``<repo>/sql`` in a checkout."""
    import rawdb

    package = Path(rawdb.__file__).resolve().parent
    for candidate in (package / "sql", package.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"cannot find rawdb's SQL folder (looked in {package / 'sql'} and {package.parent / 'sql'})")


def discover(directory: Path | str) -> list[Script]:
    """Read every ``vNNN_*.sql`` in ``directory``, ordered by version.

    Errors (all reported in one `MigrationError`): a missing folder, a file or
    folder whose name does not match (hidden files such as ``.gitkeep`` are
    ignored), two files with the same number, a number missing from the
    sequence 1, 2, 3, ..., a file that is not UTF-8.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise MigrationError(f"migration folder {folder} does not exist or is not a folder")
    problems: list[str] = []
    by_version: dict[int, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        m = SCRIPT_NAME.match(entry.name)
        if m is None or not entry.is_file():
            problems.append(
                f"unexpected {'folder' if entry.is_dir() else 'file'} {entry.name!r} "
                "(migration scripts are named vNNN_description.sql)"
            )
            continue
        by_version.setdefault(int(m.group(1)), []).append(entry)
    for version, paths in sorted(by_version.items()):
        if len(paths) > 1:
            names = " and ".join(p.name for p in paths)
            problems.append(f"version {version} is used by more than one file: {names}")
    expected = 1
    for version in sorted(by_version):
        if version != expected:
            missing = f"{expected}" if version == expected + 1 else f"{expected}..{version - 1}"
            after = by_version.get(expected - 1)
            where = f"after {after[0].name}" if after else "at the start"
            problems.append(
                f"version {missing} is missing from the sequence: {by_version[version][0].name} comes {where}"
            )
        expected = version + 1
    scripts: list[Script] = []
    for version, paths in sorted(by_version.items()):
        try:
            raw = paths[0].read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.append(f"{paths[0].name} is not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        text = normalize(raw)
        first = text.split("\n", 1)[0]
        scripts.append(
            Script(
                version=version,
                name=paths[0].name,
                path=str(paths[0]),
                text=text,
                checksum=checksum(text),
                transactional=NO_TRANSACTION_MARKER.match(first.strip()) is None,
            )
        )
    if problems:
        listing = "\n  - ".join(problems)
        raise MigrationError(f"migration folder {folder} is not valid; nothing was run:\n  - {listing}")
    return scripts
