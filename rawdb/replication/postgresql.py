"""PostgreSQL: positions are WAL locations (LSNs).

After a COMMIT has returned, ``pg_current_wal_lsn()`` on the primary is at or past
that commit's record, and a standby whose ``pg_last_wal_replay_lsn()`` has reached
it shows the commit to every snapshot taken afterwards. That costs one round trip
per read-write transaction: PostgreSQL reports no position with COMMIT itself.
PostgreSQL 15 has no server-side wait for replay, so waiting is polling, with short
pauses that grow to 10 ms.
"""

from __future__ import annotations

import asyncio
import time

from rawdb.dialects.base import DriverConnection
from rawdb.replication.positions import LSN, Position
from rawdb.replication.probes import Probe, ReplicaStatus, raw

# Lag is zero when everything received has been replayed; otherwise the age of the last
# transaction replayed (its commit time on the primary), which is what a reader misses.
_STATUS = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL "
    "AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0.0::float8 "
    "ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END"
)


class PostgresProbe(Probe):
    async def commit_position(self, conn: DriverConnection) -> Position | None:
        return await self.current_position(conn)

    async def current_position(self, conn: DriverConnection) -> Position | None:
        self.round_trips += 1
        text = await raw(conn).fetchval("SELECT pg_current_wal_lsn()::text")
        return LSN.parse(text)

    async def replayed(self, conn: DriverConnection) -> Position | None:
        self.round_trips += 1
        text = await raw(conn).fetchval("SELECT pg_last_wal_replay_lsn()::text")
        return None if text is None else LSN.parse(text)

    async def wait(self, conn: DriverConnection, position: Position, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            replayed = await self.replayed(conn)
            if replayed is None:
                return False
            if replayed.covers(position):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.01)

    async def status(self, conn: DriverConnection) -> ReplicaStatus:
        self.round_trips += 1
        row = await raw(conn).fetchrow(_STATUS)
        in_recovery, replayed, lag = row[0], row[1], row[2]
        if not in_recovery:
            return ReplicaStatus(False, None, None)
        return ReplicaStatus(True, None if lag is None else max(0.0, float(lag)),
                             None if replayed is None else LSN.parse(replayed))
