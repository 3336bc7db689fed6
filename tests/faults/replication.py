"""Throwaway replicated servers: a PostgreSQL primary with streaming standbys, a
MariaDB primary with a GTID replica.

Built on `servers.py` (same temporary directories, free loopback ports, reapers
and non-root users). A standby is cloned from its running primary with
``pg_basebackup -R`` (which writes ``primary_conninfo`` and ``standby.signal``);
the MariaDB replica starts empty and replays the primary's binary log from the
beginning (``MASTER_USE_GTID = slave_pos``), which is short for a fresh server.

Lag is made deterministic rather than hoped for: ``recovery_min_apply_delay`` on
a PostgreSQL standby and ``MASTER_DELAY`` on the MariaDB replica hold every
transaction back for a known time after its commit on the primary.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from .servers import PG_BIN, ServerError, ThrowawayMariaDB, ThrowawayPostgres, _chown_tree, _run_as


class PostgresPrimary(ThrowawayPostgres):
    """A primary that standbys can stream from (the defaults of PostgreSQL 15 allow it;
    initdb's ``-A trust`` lets replication connections from 127.0.0.1 in)."""

    kind = "postgresql-primary"

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        super().__init__({"wal_level": "replica", "max_wal_senders": "10", "wal_keep_size": "256MB",
                          **(settings or {})})


class PostgresStandby(ThrowawayPostgres):
    """A hot standby cloned from ``primary``; ``apply_delay`` seconds behind it."""

    kind = "postgresql-standby"

    def __init__(self, primary: ThrowawayPostgres, apply_delay: float = 0.0,
                 settings: dict[str, str] | None = None) -> None:
        extra = {"hot_standby": "on", "hot_standby_feedback": "on", "wal_receiver_status_interval": "1s"}
        if apply_delay:
            extra["recovery_min_apply_delay"] = f"{int(apply_delay * 1000)}ms"
        super().__init__({**extra, **(settings or {})})
        self.primary = primary

    def _init_datadir(self) -> None:
        _chown_tree(self.dir, self.os_user)
        result = subprocess.run(
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
             "-D", str(self.dir / "data"), "-R", "-X", "stream", "--no-sync", "-c", "fast"],
            capture_output=True, stdin=subprocess.DEVNULL, **_run_as(self.os_user), check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"pg_basebackup failed: {result.stderr.decode(errors='replace')}")

    def promote(self, timeout: float = 30.0) -> float:
        """``pg_ctl promote``; returns the time.monotonic() at which it was promoted."""
        result = subprocess.run(
            [str(PG_BIN / "pg_ctl"), "promote", "-D", str(self.dir / "data"), "-w", "-t", str(int(timeout))],
            capture_output=True, stdin=subprocess.DEVNULL, **_run_as(self.os_user), check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"pg_ctl promote failed: {result.stderr.decode(errors='replace')}\n"
                              + self.log_tail())
        return time.monotonic()

    async def replay_lsn(self) -> str | None:
        rows = await self.admin("SELECT pg_last_wal_replay_lsn()::text")
        return rows[0][0]  # type: ignore[no-any-return]

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary had written when asked."""
        target = (await self.primary.admin("SELECT pg_current_wal_lsn()::text"))[0][0]
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.admin("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target)
            if rows[0][0]:
                return
            if time.monotonic() > deadline:
                raise ServerError(f"standby did not replay {target} within {timeout}s:\n" + self.log_tail())
            await asyncio.sleep(0.05)


class MariaDBPrimary(ThrowawayMariaDB):
    """A MariaDB server that writes a binary log with GTIDs (server_id 1)."""

    kind = "mariadb-primary"

    def __init__(self, settings: dict[str, str | None] | None = None) -> None:
        super().__init__({})
        self.settings = {"log-bin": "mariadb-bin", "server-id": "1", "binlog-format": "ROW",
                         **(settings or {})}

    def _command(self) -> list[str]:
        command = super()._command()
        return [c for c in command if c != "--skip-log-bin"]


class MariaDBReplica(ThrowawayMariaDB):
    """A read-only MariaDB replica of ``primary`` over GTID, ``delay`` seconds behind."""

    kind = "mariadb-replica"

    def __init__(self, primary: ThrowawayMariaDB, delay: int = 0, server_id: int = 2) -> None:
        super().__init__({"server-id": str(server_id), "read-only": "1", "relay-log": "replica-relay"})
        self.primary = primary
        self.delay = delay

    def _after_first_start(self) -> None:
        super()._after_first_start()
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {self.primary.port}, "
                    f"MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, "
                    f"MASTER_CONNECT_RETRY = 1, MASTER_DELAY = {int(self.delay)}")
                cur.execute("START SLAVE")
        finally:
            conn.close()

    async def slave_status(self) -> dict[str, Any]:
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                                      autocommit=True, connect_timeout=10)
        try:
            async with conn.cursor(aiomysql.DictCursor) as cur:
                await cur.execute("SHOW SLAVE STATUS")
                row = await cur.fetchone()
                return dict(row or {})
        finally:
            conn.close()

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        target = (await self.primary.admin("SELECT @@gtid_binlog_pos", database=None))[0][0]
        if not target:
            return
        rows = await self.admin(f"SELECT MASTER_GTID_WAIT(%s, {timeout})", (target,), database=None)
        if rows[0][0] != 0:
            raise ServerError(f"replica did not reach {target} within {timeout}s: "
                              f"{await self.slave_status()}")

