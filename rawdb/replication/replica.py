"""One replica: its pool, its health, how far it has replayed.

A replica is in one of four states. "up" takes reads. "lagging" answers but is
further behind than ``max_replica_lag`` (or cannot say how far). "down" failed:
a probe or a read could not reach it, so reads go elsewhere, and the probes keep
trying until it answers again. "not_replica" is a primary (misconfigured, or a
standby that was promoted): reading there would not be wrong, but it is not what
the configuration says, so it is left alone and logged.

The replica's own rawdb `Pool` does the connection work (health checks, retiring,
replacing); this class only decides whether reads may go there. A separate probe
connection asks for the status, so a busy pool never delays the health check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from rawdb.errors import ConfigError, ConnectionLost, PoolClosed, PoolTimeout, QueryTimeout, RawDBError
from rawdb.replication.stats import ReplicaStats

if TYPE_CHECKING:
    from rawdb.config import DatabaseURL, PoolOptions
    from rawdb.dialects.base import Dialect, DriverConnection
    from rawdb.lease import Holder
    from rawdb.pool import Pool
    from rawdb.replication.positions import Position
    from rawdb.replication.probes import Probe

log = logging.getLogger("rawdb.replicas")

State = Literal["starting", "up", "lagging", "down", "not_replica"]
Outcome = Literal["behind", "unusable", "busy"]


class NotAReplica(Exception):
    """Raised inside a hand-out when the server turns out to be a primary."""


class Replica:
    __slots__ = ("_checking", "_closed", "_probe_conn", "dialect", "down_total", "handouts", "in_use", "known",
                 "lag", "last_error", "monitor", "options", "pool", "probe", "state", "url")

    def __init__(self, url: DatabaseURL, options: PoolOptions, probe: Probe, monitor: Probe) -> None:
        from rawdb.dialects import dialect_for

        self.url = url
        self.options = options
        self.probe = probe  # the read path's questions (shared, to count their round trips)
        self.monitor = monitor  # the health checks' own
        self.dialect: Dialect = dialect_for(url, options)
        self.pool: Pool | None = None
        self.state: State = "starting"  # until the first probe has answered
        self.lag: float | None = None
        self.known: Position | None = None  # it has replayed at least this far
        self.in_use = 0
        self.handouts = 0
        self.down_total = 0
        self.last_error: str | None = None
        self._probe_conn: DriverConnection | None = None
        self._checking = False
        self._closed = False

    def describe(self) -> str:
        return self.url.redacted()

    # -- positions -------------------------------------------------------------------------
    def covers(self, position: Position) -> bool:
        known = self.known
        return known is not None and known.covers(position)

    def note(self, position: Position) -> None:
        known = self.known
        self.known = position if known is None else known.merge(position)

    # -- health ----------------------------------------------------------------------------
    async def check(self) -> None:
        """Probe once (bounded by ``connect_timeout``) and set the state from the answer.

        A wrong password or database is a `ConfigError` (retrying cannot help);
        anything else takes the replica down until a later probe succeeds."""
        if self._checking or self._closed:
            return
        self._checking = True
        try:
            await self._check()
        finally:
            self._checking = False

    async def _check(self) -> None:
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                conn = self._probe_conn
                if conn is None or conn.is_closed:
                    self._probe_conn = conn = None
                    conn = self._probe_conn = await self.dialect.open("any")
                status = await self.monitor.status(conn)
        except Exception as exc:
            self._close_probe()
            if self.dialect.connect_error_is_final(exc) or isinstance(exc, ConfigError):
                raise ConfigError(self.url.scrub(f"replica {self.describe()}: {exc}")) from exc
            self.mark_down(exc)
            return
        if not status.is_replica:
            self._set("not_replica", f"{self.describe()} is a primary, not a replica: no reads go to it")
            return
        came_back = self.state in ("starting", "down", "not_replica")
        self.lag = status.lag
        if status.replayed is not None:
            if came_back:
                self.known = status.replayed  # it may have been rebuilt: forget what it had before
            else:
                self.note(status.replayed)
        if self.pool is None and not await self._open_pool():
            return
        limit = self.options.max_replica_lag
        if limit is not None and (status.lag is None or status.lag > limit):
            self._set("lagging", f"{self.describe()} is behind by "
                      f"{'an unknown time' if status.lag is None else f'{status.lag:.1f}s'} "
                      f"(max_replica_lag={limit}s): no new reads go to it")
            return
        self._set("up", f"{self.describe()} takes reads")

    async def _open_pool(self) -> bool:
        from rawdb.pool import Pool

        pool = Pool(self.dialect, self.options)
        try:
            await pool._start()
        except Exception as exc:
            await pool.close(timeout=0)
            self.mark_down(exc)
            return False
        if self._closed:  # the primary's pool closed meanwhile
            await pool.close(timeout=0)
            return False
        self.pool = pool
        return True

    def _set(self, state: State, message: str) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        if state == "up":
            self.last_error = None
            log.info("rawdb replica %s (was %s)", message, previous)
        else:
            log.warning("rawdb replica %s", message)

    def mark_down(self, exc: BaseException) -> None:
        """Take the replica out of rotation now; reads waiting on its pool go elsewhere."""
        text = self.url.scrub(f"{type(exc).__name__}: {exc}")
        self.last_error = text
        if self.state != "down":
            self.down_total += 1
            self._set("down", f"{self.describe()} is down ({text}); reads go to another server")
        self._close_probe()
        pool = self.pool
        if pool is not None:
            error = ConnectionLost(f"replica {self.describe()} is down")
            for slot in pool._slots.values():
                slot.fail_waiters(error)

    def _close_probe(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None:
            conn.terminate()

    # -- hand-outs ---------------------------------------------------------------------------
    async def begin(self, isolation: str | None, required: Position | None, budget: float) -> Holder | Outcome:
        """A connection in a read-only transaction that sees ``required``, or why not.

        When the replica is not known to have replayed ``required``, it is asked (one
        round trip) and waited for up to ``budget`` seconds, before BEGIN, so that the
        transaction's snapshot is taken after the replay."""
        pool = self.pool
        if pool is None or self.state != "up":
            return "unusable"
        behind = False
        prepare: Callable[[DriverConnection], Awaitable[None]]
        if required is None or self.covers(required):
            # Known to be far enough: BEGIN is all (the common case, kept as cheap as the primary's).
            def prepare(conn: DriverConnection) -> Awaitable[None]:
                return conn.begin(True, isolation, owns_session=True)
        else:
            probe = self.probe
            wanted = required

            async def prepare(conn: DriverConnection) -> None:
                nonlocal behind
                replayed = await probe.replayed(conn)
                if replayed is None:
                    raise NotAReplica
                self.note(replayed)
                if not replayed.covers(wanted):
                    if budget <= 0 or not await probe.wait(conn, wanted, budget):
                        behind = True
                        return
                    self.note(wanted)
                await conn.begin(True, isolation, owns_session=True)

        try:
            holder = await pool._acquire_and_prepare("any", prepare, "BEGIN")
        except NotAReplica:
            self._set("not_replica", f"{self.describe()} is a primary, not a replica: no reads go to it")
            return "unusable"
        except PoolTimeout:
            return "busy"
        except (ConnectionLost, PoolClosed, QueryTimeout, ConfigError) as exc:
            self.mark_down(exc)
            return "unusable"
        except RawDBError as exc:  # the server refused a probe: not a replica rawdb can use
            self.mark_down(exc)
            return "unusable"
        if behind:
            pool._release(holder)
            return "behind"
        self.in_use += 1
        self.handouts += 1
        return holder

    def stats(self) -> ReplicaStats:
        pool = self.pool
        size = idle = 0
        if pool is not None:
            s = pool.stats()
            size, idle = s.size, s.idle
        return ReplicaStats(url=self.describe(), state=self.state, lag=self.lag, size=size, idle=idle,
                            in_use=self.in_use, handouts_total=self.handouts, down_total=self.down_total,
                            last_error=self.last_error)

    async def close(self, timeout: float) -> None:
        self._closed = True
        self._close_probe()
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close(timeout)
