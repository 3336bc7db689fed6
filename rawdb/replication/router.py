"""Which server a read-only transaction runs on, and what it must have replayed.

The router belongs to the primary's pool. It keeps the position that covers every
commit the pool made (read-your-writes), learnt right after each read-write
transaction's COMMIT and before its block returns, so that any read-only
transaction begun after that block sees the write: a replica serves it only once
it has replayed that far (known from earlier answers, or asked, and waited for up
to ``causal_wait``); otherwise the primary does.

A position that could not be learnt (the connection broke right after COMMIT)
makes the next read run on the primary, which first asks the primary for its
current position; that covers the lost one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from rawdb.errors import ConfigError
from rawdb.lease import LeaseState
from rawdb.replication.positions import (
    NOTHING_TOKEN,
    PRIMARY,
    PRIMARY_TOKEN,
    Position,
    Primary,
    Requirement,
    combine,
    parse_token,
)
from rawdb.replication.reads import ReadBlock
from rawdb.replication.stats import ReplicaStats, RoutingStats

if TYPE_CHECKING:
    from rawdb.dialects.base import DriverConnection
    from rawdb.lease import Holder
    from rawdb.pool import Pool
    from rawdb.replication.probes import Probe
    from rawdb.replication.reads import RoutedTransaction
    from rawdb.replication.replica import Replica
    from rawdb.session import Transaction

log = logging.getLogger("rawdb.replicas")


class Router:
    def __init__(self, pool: Pool, writes: Probe, reads: Probe, replicas: list[Replica]) -> None:
        self.pool = pool
        self.replicas = replicas
        # Separate probes, so that each side's round trips are counted on their own.
        self.writes = writes
        self.reads = reads
        options = pool.options
        self.read_your_writes = options.read_your_writes
        self.causal_wait = options.causal_wait
        self.position: Position | None = None  # covers every commit of this pool so far
        # Commits whose position is unknown; a read that learns the primary's position
        # clears it, unless another such commit happened meanwhile (the generation moved).
        self.unknown = False
        self._unknown_generation = 0
        self._turn = 0
        self._monitor: asyncio.Task[None] | None = None
        self.reads_total = 0
        self.replica_reads_total = 0
        self.primary_reads_total = 0
        self.causal_fallbacks_total = 0
        self.unavailable_fallbacks_total = 0
        self.moved_total = 0
        self.positions_recorded_total = 0
        self.position_failures_total = 0

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Probe every replica once: a wrong password is a ConfigError, anything else a warning."""
        results = await asyncio.gather(*(r.check() for r in self.replicas), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        interval = self.pool.options.replica_check_interval
        while True:
            await asyncio.sleep(interval)
            results = await asyncio.gather(*(r.check() for r in self.replicas), return_exceptions=True)
            for replica, result in zip(self.replicas, results, strict=True):
                if isinstance(result, ConfigError):
                    replica.mark_down(result)
                elif isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.error("rawdb replica check of %s failed", replica.describe(), exc_info=result)

    async def close(self, timeout: float) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        await asyncio.gather(*(r.close(timeout) for r in self.replicas), return_exceptions=True)

    # -- what a read must see --------------------------------------------------------------------
    def required(self, after: str | None) -> Requirement:
        needed: Requirement = None
        if self.read_your_writes:
            needed = PRIMARY if self.unknown else self.position
        if after is not None:
            needed = combine(needed, parse_token(after))
        return needed

    def record(self, position: Position) -> None:
        current = self.position
        self.position = position if current is None else current.merge(position)
        self.positions_recorded_total += 1

    def _lost_position(self) -> None:
        self.position_failures_total += 1
        self.unknown = True
        self._unknown_generation += 1

    # -- hooks of the primary's pool -----------------------------------------------------------
    async def committed(self, tx: Transaction) -> None:
        """Right after a read-write transaction of the primary committed, before its
        block returns: learn the position that covers it (and the token to hand on)."""
        if not self.read_your_writes:
            tx._token = PRIMARY_TOKEN
            return
        holder = tx._holder
        try:
            position = await self.writes.commit_position(holder.conn)
        except BaseException as exc:
            # The commit stands; only its position is unknown, so the next read runs on
            # the primary. Cancellation still propagates; no other error is the caller's.
            holder.mark(LeaseState.BROKEN)  # interrupted mid-question: the connection is out of step
            self._lost_position()
            tx._token = PRIMARY_TOKEN
            if not isinstance(exc, Exception):
                raise
            return
        if position is None:
            tx._token = NOTHING_TOKEN
        else:
            self.record(position)
            tx._token = position.token()

    async def connection_released(self, holder: Holder) -> None:
        """After ``pool.connection()``: its autocommit statements may have written."""
        if not self.read_your_writes:
            return
        conn = holder.conn
        if holder.broken or conn.is_closed or conn.in_transaction:
            self._lost_position()  # whatever it committed before is not covered otherwise
            return
        try:
            position = await self.writes.current_position(conn)
        except BaseException as exc:
            holder.mark(LeaseState.BROKEN)
            self._lost_position()
            if not isinstance(exc, Exception):
                raise
            return
        if position is not None:
            self.record(position)

    # -- routing ---------------------------------------------------------------------------------
    def read(self, isolation: str | None, after: str | None) -> ReadBlock:
        return ReadBlock(self, isolation, after)

    def _candidates(self, required: Position | None, exclude: Replica | None) -> list[Replica]:
        ready = [r for r in self.replicas if r.state == "up" and r is not exclude]
        if len(ready) > 1:
            self._turn = turn = (self._turn + 1) % len(ready)
            ready = ready[turn:] + ready[:turn]  # equal candidates take turns
            if required is None:
                ready.sort(key=lambda r: r.in_use)
            else:
                ready.sort(key=lambda r: (not r.covers(required), r.in_use))
        return ready

    async def open_read(self, isolation: str | None, required: Requirement, exclude: Replica | None = None,
                        ) -> tuple[Pool, Holder, Replica | None]:
        """A connection in a read-only transaction that sees ``required``: on a replica
        if one is up, within the lag limit and far enough, else on the primary."""
        self.reads_total += 1
        if isinstance(required, Primary):
            self.causal_fallbacks_total += 1
        else:
            candidates = self._candidates(required, exclude)
            deadline = 0.0 if required is None else time.monotonic() + self.causal_wait
            behind = False
            for replica in candidates:  # the first one behind uses up the wait; the rest are asked once
                budget = 0.0 if required is None else max(0.0, deadline - time.monotonic())
                outcome = await replica.begin(isolation, required, budget)
                if not isinstance(outcome, str):
                    assert replica.pool is not None
                    self.replica_reads_total += 1
                    return replica.pool, outcome, replica
                behind = behind or outcome == "behind"
            if behind:
                self.causal_fallbacks_total += 1
            else:
                self.unavailable_fallbacks_total += 1
        self.primary_reads_total += 1
        return self.pool, await self._primary_read(isolation), None

    async def _primary_read(self, isolation: str | None) -> Holder:
        pool = self.pool
        learn = self.unknown
        generation = self._unknown_generation

        async def prepare(conn: DriverConnection) -> None:
            if learn:
                try:
                    position = await self.writes.current_position(conn)
                except Exception:
                    if conn.is_closed:
                        raise  # a stale connection: the pool retries on a fresh one
                    position = None
                else:
                    if self._unknown_generation == generation:
                        self.unknown = False
                if position is not None:
                    self.record(position)
            await conn.begin(True, isolation, owns_session=True)

        return await pool._acquire_and_prepare(pool.dialect.route(True), prepare, "BEGIN")

    async def move(self, tx: RoutedTransaction, lost: BaseException) -> bool:
        """Move a read-only transaction whose replica was lost to another server that has
        replayed at least as far; False when there is none to be had."""
        replica = tx._replica
        if replica is None:
            return False
        replica.mark_down(lost)
        required: Requirement = tx._required
        if replica.known is not None:
            required = combine(required, replica.known)  # never read older data than already seen
        tx._detach()
        try:
            pool, holder, target = await self.open_read(tx._isolation, required, exclude=replica)
        except Exception:
            return False
        self.reads_total -= 1  # the same transaction, not another read
        tx._attach(pool, holder, target)
        self.moved_total += 1
        return True

    # -- reporting -------------------------------------------------------------------------------
    def stats(self) -> tuple[list[ReplicaStats], RoutingStats]:
        routing = RoutingStats(
            reads_total=self.reads_total,
            replica_reads_total=self.replica_reads_total,
            primary_reads_total=self.primary_reads_total,
            causal_fallbacks_total=self.causal_fallbacks_total,
            unavailable_fallbacks_total=self.unavailable_fallbacks_total,
            causal_checks_total=self.reads.round_trips,
            moved_total=self.moved_total,
            positions_recorded_total=self.positions_recorded_total,
            position_failures_total=self.position_failures_total,
        )
        return [r.stats() for r in self.replicas], routing
