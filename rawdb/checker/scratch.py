"""A throwaway database per dialect, created for one check and removed after it.

The check never reads or writes anything it did not create:

* SQLite: a new file in a temporary directory (a ``sqlite://`` URL only selects
  the dialect; its file is not opened);
* PostgreSQL: a new schema ``rawdb_check_<random>`` in the URL's database,
  selected through ``search_path`` and dropped with everything in it;
* MySQL/MariaDB: a new database ``rawdb_check_<random>`` on the URL's server
  (its user needs CREATE and DROP), dropped afterwards.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import rawdb
from rawdb.checker.report import CannotCheck
from rawdb.config import DatabaseURL, parse_url
from rawdb.errors import RawDBError

__all__ = ["Scratch", "scratch_database"]


class Scratch(NamedTuple):
    dialect: str
    url: str
    """Where the scratch schema is, for a pool (``options`` select it on PostgreSQL)."""
    options: dict[str, Any]
    parsed: DatabaseURL
    namespace: str
    """The file path (SQLite), schema (PostgreSQL) or database (MySQL) created."""
    where: str
    """A description for people: no password, says what was created."""


@asynccontextmanager
async def scratch_database(url: str | None) -> AsyncIterator[Scratch]:
    """A scratch database for the dialect of ``url`` (None: SQLite)."""
    if url is None or parse_url(url)[0].dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rawdb_check_") as folder:
            path = str(Path(folder) / "check.db")
            yield Scratch("sqlite", f"sqlite:///{path}", {}, parse_url(f"sqlite:///{path}")[0], path,
                          "a temporary SQLite file")
        return
    parsed, _ = parse_url(url)
    name = "rawdb_check_" + uuid.uuid4().hex[:12]
    try:
        admin = await rawdb.create_pool(url, min_size=1, max_size=1)
    except (RawDBError, OSError) as exc:
        raise CannotCheck(parsed.scrub(str(exc))) from exc
    try:
        async with admin.connection() as conn:
            if parsed.dialect == "postgresql":
                await conn.execute_verbatim(f"CREATE SCHEMA {name}")
            else:
                await conn.execute_verbatim(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    except RawDBError as exc:
        await admin.close()
        what = "schema" if parsed.dialect == "postgresql" else "database"
        raise CannotCheck(f"cannot create a scratch {what} on {parsed.redacted()}: {exc}") from exc
    try:
        if parsed.dialect == "postgresql":
            yield Scratch("postgresql", url, {"connect_options": {"server_settings": {"search_path": name}}},
                          parsed, name, f"schema {name} in {parsed.redacted()} (dropped afterwards)")
        else:
            scratch_url = _with_database(url, name)
            yield Scratch("mysql", scratch_url, {}, parse_url(scratch_url)[0], name,
                          f"database {name} on {parsed.redacted()} (dropped afterwards)")
    finally:
        try:
            async with admin.connection() as conn:
                if parsed.dialect == "postgresql":
                    await conn.execute_verbatim(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                else:
                    await conn.execute_verbatim(f"DROP DATABASE IF EXISTS {name}")
        finally:
            await admin.close()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))
