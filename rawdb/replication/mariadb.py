"""MariaDB: positions are GTID positions.

The primary reports each commit's GTID in the COMMIT's own reply: its sessions
ask for ``last_gtid`` to be tracked (``session_track_system_variables`` and the
client's SESSION_TRACK capability), so learning a write's position costs no round
trip. A replica's ``@@gtid_slave_pos`` grows as it applies transactions, and
``MASTER_GTID_WAIT()`` waits for a position on the server, in one round trip.

MySQL's GTIDs are another scheme (server UUIDs and intervals); read-your-writes
is MariaDB's only.
"""

from __future__ import annotations

from typing import Any

import aiomysql
from pymysql.constants import CLIENT

from rawdb.config import DatabaseURL, PoolOptions
from rawdb.dialects.base import Dialect, DriverConnection, Role
from rawdb.dialects.mysql import MySQLDialect
from rawdb.errors import ConfigError
from rawdb.replication.positions import GTIDPosition, Position
from rawdb.replication.probes import Probe, ReplicaStatus, raw

_SESSION_STATE_CHANGED = 0x4000  # SERVER_SESSION_STATE_CHANGED in an OK packet's status
_TRACK_SYSTEM_VARIABLES = 0  # SESSION_TRACK_SYSTEM_VARIABLES entry type


class GTIDTrackingDialect(MySQLDialect):
    """MariaDB sessions whose every reply says which GTID their last commit got."""

    async def connect(self, role: Role) -> DriverConnection:
        conn = await super().connect(role)
        driver = raw(conn)
        try:
            if "mariadb" not in driver.get_server_info().lower():
                raise ConfigError(
                    f"read-your-writes with replicas needs MariaDB's GTIDs; {self.describe()} is "
                    "MySQL (pass read_your_writes=False to route reads without it)")
            await driver.query("SET session_track_system_variables = "
                               "CONCAT_WS(',', NULLIF(@@session_track_system_variables, ''), 'last_gtid')")
        except BaseException:
            conn.terminate()
            raise
        return conn


def _lenenc_int(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def _lenenc_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = _lenenc_int(data, pos)
    return data[pos:pos + size], pos + size


def tracked_variables(message: bytes) -> dict[str, str]:
    """The system variables an OK packet's session-state block reports.

    With SESSION_TRACK, what pymysql keeps as the OK packet's message is the info
    string (length-encoded) followed by the session-state changes: entries of a
    type byte and length-encoded data; a system-variable entry holds a name and a value."""
    found: dict[str, str] = {}
    try:
        _, pos = _lenenc_bytes(message, 0)
        if pos >= len(message):
            return found
        block, _ = _lenenc_bytes(message, pos)
        at = 0
        while at < len(block):
            kind = block[at]
            data, at = _lenenc_bytes(block, at + 1)
            if kind == _TRACK_SYSTEM_VARIABLES:
                name, rest = _lenenc_bytes(data, 0)
                value, _ = _lenenc_bytes(data, rest)
                found[name.decode()] = value.decode()
    except (IndexError, KeyError, UnicodeDecodeError):
        return {}
    return found


class MariaDBProbe(Probe):
    def primary_dialect(self, url: DatabaseURL, options: PoolOptions) -> Dialect:
        if not options.read_your_writes:
            return super().primary_dialect(url, options)
        connect = dict(options.connect_options)
        connect["client_flag"] = int(connect.get("client_flag", 0)) | CLIENT.SESSION_TRACK
        import msgspec

        return GTIDTrackingDialect(url, msgspec.structs.replace(options, connect_options=connect))

    async def commit_position(self, conn: DriverConnection) -> Position | None:
        result = getattr(raw(conn), "_result", None)
        if result is None or not (getattr(result, "server_status", 0) or 0) & _SESSION_STATE_CHANGED:
            return None  # nothing changed: the transaction wrote nothing to the binary log
        gtid = tracked_variables(result.message or b"").get("last_gtid")
        if not gtid:
            return None
        return GTIDPosition.parse(gtid)

    async def current_position(self, conn: DriverConnection) -> Position | None:
        text = await self._value(conn, "SELECT @@gtid_binlog_pos")
        position = GTIDPosition.parse(text or "")
        return None if position.empty else position

    async def replayed(self, conn: DriverConnection) -> Position | None:
        return GTIDPosition.parse(await self._value(conn, "SELECT @@gtid_slave_pos") or "")

    async def wait(self, conn: DriverConnection, position: Position, timeout: float) -> bool:
        result = await self._value(conn, "SELECT MASTER_GTID_WAIT(%s, %s)", (position.text(), timeout))
        return bool(result == 0)

    async def status(self, conn: DriverConnection) -> ReplicaStatus:
        self.round_trips += 1
        cursor = aiomysql.Cursor(raw(conn))
        await cursor.execute("SHOW SLAVE STATUS")
        row = await cursor.fetchone()
        names = [d[0] for d in cursor.description or ()]
        await cursor.close()
        if row is None:
            return ReplicaStatus(False, None, None)
        fields = dict(zip(names, row, strict=True))
        lag = fields.get("Seconds_Behind_Master")
        running = fields.get("Slave_SQL_Running") == "Yes"
        replayed = await self.replayed(conn)
        return ReplicaStatus(True, float(lag) if lag is not None and running else None, replayed)

    async def _value(self, conn: DriverConnection, sql: str, args: Any = None) -> Any:
        self.round_trips += 1
        cursor = aiomysql.Cursor(raw(conn))
        await cursor.execute(sql, args)
        row = await cursor.fetchone()
        await cursor.close()
        return None if row is None else row[0]
