"""Where a run happens: a dedicated database per dialect, created and dropped by the run.

SQLite gets a file in a temporary directory; PostgreSQL and MySQL get a database
named ``rawdb_bench`` on the server of the given URL. `Admin` is a bare-driver
connection for everything outside the timed sections (schema, clean-up, counting
lost writes), so no contender checks its own work.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiomysql
import asyncpg

BENCH_DATABASE = "rawdb_bench"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_MYSQL = "mysql://root@127.0.0.1:3306/test"


@dataclass(frozen=True)
class Target:
    """One database to run against."""

    dialect: str  # "sqlite" | "postgresql" | "mysql"
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""  # SQLite file

    def _auth(self) -> str:
        if not self.user:
            return ""
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"{quote(self.user, safe='')}{secret}@"

    def url(self, driver: str = "") -> str:
        """The URL for rawdb (``driver=""``) or SQLAlchemy (``"aiosqlite"``, …)."""
        scheme = self.dialect + (f"+{driver}" if driver else "")
        if self.dialect == "sqlite":
            return f"{scheme}:///{self.path}"
        return f"{scheme}://{self._auth()}{self.host}:{self.port}/{self.database}"

    def describe(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite file {self.path}"
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"


def server_target(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    dialect = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql",
               "mariadb": "mysql"}.get(scheme, "")
    if not dialect:
        raise SystemExit(f"not a PostgreSQL or MySQL URL: {url}")
    return Target(
        dialect=dialect,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (5432 if dialect == "postgresql" else 3306),
        user=unquote(parts.username or ("postgres" if dialect == "postgresql" else "root")),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")) or ("postgres" if dialect == "postgresql" else "mysql"),
    )


class Admin(ABC):
    """A bare-driver connection to the bench database, used outside timed sections."""

    dialect: str

    @abstractmethod
    async def execute(self, sql: str) -> None: ...

    @abstractmethod
    async def statuses(self, session_id: str) -> dict[str, str]:
        """task_id → status of every row of one session."""

    @abstractmethod
    async def count(self, session_id: str) -> int: ...

    @abstractmethod
    async def server_version(self) -> str: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def delete_session(self, session_id: str) -> None:
        await self._delete(session_id)
        await self.maintain()

    @abstractmethod
    async def _delete(self, session_id: str) -> None: ...

    async def maintain(self) -> None:  # noqa: B027 - optional hook
        """Give every contender the same table state after a clean-up."""


class SQLiteAdmin(Admin):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")

    async def execute(self, sql: str) -> None:
        self._db.executescript(sql)

    async def statuses(self, session_id: str) -> dict[str, str]:
        rows = self._db.execute("SELECT task_id, status FROM tasks WHERE session_id = ?", (session_id,))
        return dict(rows.fetchall())

    async def count(self, session_id: str) -> int:
        row = self._db.execute("SELECT count(*) FROM tasks WHERE session_id = ?", (session_id,)).fetchone()
        return int(row[0])

    async def _delete(self, session_id: str) -> None:
        self._db.execute("DELETE FROM tasks WHERE session_id = ?", (session_id,))

    async def maintain(self) -> None:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    async def close(self) -> None:
        self._db.close()


class PostgresAdmin(Admin):
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, target: Target) -> PostgresAdmin:
        return cls(await asyncpg.connect(target.url()))

    async def execute(self, sql: str) -> None:
        await self._conn.execute(sql)

    async def statuses(self, session_id: str) -> dict[str, str]:
        rows = await self._conn.fetch("SELECT task_id, status FROM tasks WHERE session_id = $1", session_id)
        return {r[0]: r[1] for r in rows}

    async def count(self, session_id: str) -> int:
        return int(await self._conn.fetchval("SELECT count(*) FROM tasks WHERE session_id = $1", session_id))

    async def _delete(self, session_id: str) -> None:
        await self._conn.execute("DELETE FROM tasks WHERE session_id = $1", session_id)

    async def maintain(self) -> None:
        await self._conn.execute("VACUUM ANALYZE tasks")

    async def server_version(self) -> str:
        return str(await self._conn.fetchval("SELECT version()")).split(" on ")[0]

    async def close(self) -> None:
        await self._conn.close()


class MySQLAdmin(Admin):
    dialect = "mysql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, target: Target) -> MySQLAdmin:
        conn = await aiomysql.connect(host=target.host, port=target.port, user=target.user,
                                      password=target.password, db=target.database,
                                      autocommit=True, charset="utf8mb4")
        return cls(conn)

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    async def execute(self, sql: str) -> None:
        for statement in split_mysql_script(sql):
            await self._conn.query(statement)

    async def statuses(self, session_id: str) -> dict[str, str]:
        rows = await self._rows("SELECT task_id, status FROM tasks WHERE session_id = %s", session_id)
        return {r[0]: r[1] for r in rows}

    async def count(self, session_id: str) -> int:
        rows = await self._rows("SELECT count(*) FROM tasks WHERE session_id = %s", session_id)
        return int(rows[0][0])

    async def _delete(self, session_id: str) -> None:
        await self._rows("DELETE FROM tasks WHERE session_id = %s", session_id)

    async def server_version(self) -> str:
        rows = await self._rows("SELECT version()")
        return f"MariaDB/MySQL {rows[0][0]}"

    async def close(self) -> None:
        self._conn.close()


def split_mysql_script(script: str) -> list[str]:
    """Statements of a migration script without procedures: drop comments, split on ``;``.

    The MySQL scripts hold no ``;`` inside literals and no ``BEGIN … END`` bodies
    (their header says so), so a line-based split is exact for them.
    """
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("--", "#")):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


async def connect_admin(target: Target) -> Admin:
    if target.dialect == "sqlite":
        return SQLiteAdmin(target.path)
    if target.dialect == "postgresql":
        return await PostgresAdmin.connect(target)
    return await MySQLAdmin.connect(target)


@contextlib.asynccontextmanager
async def bench_database(dialect: str, url: str | None = None) -> AsyncIterator[Target]:
    """A fresh, empty database for one run; dropped afterwards (also after a failure)."""
    if dialect == "sqlite":
        directory = tempfile.mkdtemp(prefix="rawdb_bench_")
        try:
            yield Target(dialect="sqlite", path=str(Path(directory) / "bench.db"))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    server = server_target(url or (LOCAL_PG if dialect == "postgresql" else LOCAL_MYSQL))
    target = replace(server, database=BENCH_DATABASE)
    await _recreate(server, drop_only=False)
    try:
        yield target
    finally:
        await _recreate(server, drop_only=True)


async def _recreate(server: Target, *, drop_only: bool) -> None:
    name = BENCH_DATABASE
    if server.dialect == "postgresql":
        conn = await asyncpg.connect(server.url())
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if not drop_only:
                await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        return
    conn = await aiomysql.connect(host=server.host, port=server.port, user=server.user,
                                  password=server.password, autocommit=True, charset="utf8mb4")
    try:
        await conn.query(f"DROP DATABASE IF EXISTS {name}")
        if not drop_only:
            await conn.query(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        conn.close()
