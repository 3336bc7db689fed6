"""The pool: hands out connections, heals itself, and tells operators what it is doing.

Shape, from what hurt users of other pools:
- An acquire that finds an idle connection does not await (unless the connection
  has been idle past ``health_check_after`` and must be pinged). New connections
  open in background tasks; callers only ever wait on the pool, first come first
  served, bounded by ``acquire_timeout``.
- Idle connections are reused last-in first-out, so surplus ones stay idle long
  enough to be reaped after ``idle_timeout``; each connection retires at
  ``max_lifetime`` minus up to 10 % jitter so they do not all expire together.
- Release never awaits: a connection whose state is unknown (cancelled
  mid-statement, lost, timed out, still in a transaction) is closed in the
  background and replaced; one that ran a session-changing statement is reset (or
  replaced) in the background before anyone else gets it.
- A timeout error says why: the stats, the last connection error, the oldest
  holders and where they acquired, and whether the waiting task holds a connection
  itself (the nested-transaction starvation pattern).
SQLite has two slots (one writer, N readers); the servers have one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Unpack

import msgspec

from rawdb.config import PoolOptions
from rawdb.dialects.base import Dialect, DriverConnection, PoolSlot, Role
from rawdb.errors import ConfigError, ConnectionLost, InterfaceError, PoolClosed, PoolTimeout, QueryTimeout
from rawdb.lease import Holder, LeaseState
from rawdb.observe import Observer, make_observer
from rawdb.replication.stats import ReplicaStats, RoutingStats
from rawdb.session import Connection, SavepointBlock, SessionState, Transaction, close_abandoned_stream, end_transaction

if TYPE_CHECKING:
    from rawdb.migrations import MigrationReport, MigrationSource
    from rawdb.pinned import PinnedTransaction
    from rawdb.replication.router import Router
    from rawdb.retry import Retrying, RetryOptions

log = logging.getLogger("rawdb.pool")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIP_FRAMES = (_PACKAGE_DIR, os.path.dirname(contextlib.__file__) + os.sep + "contextlib",
                os.path.dirname(asyncio.__file__))
_BEGIN_ATTEMPTS = 3


class PoolStats(msgspec.Struct, frozen=True):
    """A snapshot for operators and tests."""

    size: int
    idle: int
    in_use: int
    waiting: int
    min_size: int
    max_size: int
    acquired_total: int
    timeouts_total: int
    discarded_total: int
    leaks_detected_total: int
    connect_errors_total: int
    opening: int
    # With replicas: each one's state, and where read-only transactions went.
    replicas: list[ReplicaStats] = []
    routing: RoutingStats | None = None


def _acquire_site() -> tuple[str, int] | None:
    # Every path is _acquire (or _acquire_idle) <- _acquire_and_prepare <- a rawdb caller <- ...: when the
    # next frame is outside rawdb (pool.transaction(), pool.connection()), it is the
    # one the walk below would find, for one test instead of three.
    frame: FrameType | None
    try:
        frame = sys._getframe(4)
    except ValueError:  # a shallower stack than any rawdb path makes
        frame = None
    if frame is None or frame.f_code.co_filename.startswith(_SKIP_FRAMES):
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_SKIP_FRAMES):
            frame = frame.f_back
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else None


def _where(site: tuple[str, int] | None) -> str:
    return f"{site[0]}:{site[1]}" if site else "unknown"


class _AcquireExpired(Exception):
    """A waiter's acquire_timeout passed (set by its timer; becomes PoolTimeout)."""


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_AcquireExpired())


class Slot:
    """Interchangeable connections of one role, with their FIFO waiters."""

    def __init__(self, pool: Pool, spec: PoolSlot) -> None:
        self.pool = pool
        self.role: Role = spec.role
        self.min_size = spec.min_size
        self.max_size = spec.max_size
        self.idle: deque[Holder] = deque()
        self.in_use: set[Holder] = set()
        self.waiters: deque[asyncio.Future[Holder]] = deque()
        self.opening = 0

    @property
    def size(self) -> int:
        return len(self.idle) + len(self.in_use) + self.opening

    def put(self, holder: Holder) -> None:
        """Hand a ready connection to the first live waiter, else park it idle."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.in_use.add(holder)
                waiter.set_result(holder)
                return
        holder.last_used = time.monotonic()
        self.idle.append(holder)

    def grow(self) -> None:
        """Open connections for waiters that no opening connection will serve."""
        pool = self.pool
        if pool._closed:
            return
        wanted = max(len(self.waiters) - self.opening, self.min_size - self.size)
        room = self.max_size - self.size
        for _ in range(min(wanted, room)):
            self.opening += 1
            pool._spawn(self._open())

    async def _open(self) -> None:
        pool = self.pool
        delay = 0.05
        conn: DriverConnection | None = None
        try:
            while not pool._closed:
                try:
                    conn = await pool.dialect.open(self.role)  # bounded by connect_timeout
                    break
                except Exception as exc:
                    pool._connect_failed(exc)
                    if pool.dialect.connect_error_is_final(exc):
                        # Nothing to wait for: a wrong password or an unreadable file stays so.
                        self.fail_waiters(exc)
                        return
                    # Keep trying while someone waits or the floor is not met; else stop.
                    if not self.waiters and self.size - 1 >= self.min_size:
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
        finally:
            self.opening -= 1
        if conn is None:
            return
        if pool._closed:
            pool._close_in_background(conn)
            return
        pool._last_error = None
        self.put(Holder(conn, self, pool.options.max_lifetime))

    def fail_waiters(self, exc: BaseException) -> None:
        error = self.pool._connect_error(exc)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def oldest_holders(self, limit: int = 3) -> list[Holder]:
        return sorted(self.in_use, key=lambda h: h.acquired_at)[:limit]


class Pool:
    """Connections for one database URL; see the module docstring for the rules."""

    def __init__(self, dialect: Dialect, options: PoolOptions) -> None:
        self.dialect = dialect
        self.options = options
        self._slots: dict[Role, Slot] = {spec.role: Slot(self, spec) for spec in dialect.slots()}
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._last_error: str | None = None
        self._acquired_total = 0
        self._timeouts_total = 0
        self._discarded_total = 0
        self._leaks_total = 0
        self._connect_errors_total = 0
        self._drained: asyncio.Event | None = None  # set by close() to learn when holders are gone
        # Set by rawdb.testing: every block runs inside one outer transaction that is rolled back.
        self._pinned: PinnedTransaction | None = None
        # Set by create_pool(replicas=...): read-only transactions go through it.
        self._replication: Router | None = None
        # Tracing, metrics, slow-query log; None (checked per statement) when nothing watches.
        self._observer: Observer | None = make_observer(self, dialect, options)
        # A reset or recovery in the background must end, even over a dead network.
        self._cleanup_timeout = max(options.connect_timeout, options.command_timeout or 0.0)
        timeout = options.command_timeout
        self._statement_timeout = None if timeout is None else timeout + (
            0.0 if not dialect.needs_health_check else min(1.0, 0.05 + timeout * 0.1))

    # -- life cycle ----------------------------------------------------------------------
    async def _start(self) -> None:
        """Open ``min_size`` connections now, so a bad URL fails at start-up, not later."""
        for slot in self._slots.values():
            opened = await asyncio.gather(
                *(self.dialect.open(slot.role) for _ in range(slot.min_size)),
                return_exceptions=True,
            )
            failures = [r for r in opened if isinstance(r, BaseException)]
            for result in opened:
                if isinstance(result, DriverConnection):
                    if failures:
                        await result.close()
                    else:
                        slot.idle.append(Holder(result, slot, self.options.max_lifetime))
            if failures:
                await self._close_all_idle()
                raise self._connect_error(failures[0])
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    async def __aenter__(self) -> Pool:
        return self

    def __del__(self) -> None:
        # An unclosed pool leaks connections (and, on SQLite, worker threads until exit).
        if not self._closed and any(slot.idle or slot.in_use for slot in self._slots.values()):
            warnings.warn(f"unclosed {self!r}: call 'await pool.close()' or use 'async with'",
                          ResourceWarning, stacklevel=2, source=self)

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self, timeout: float = 10.0) -> None:
        """Refuse new work, wait up to ``timeout`` for connections in use, then close all."""
        if self._closed and not self._tasks and self._maintenance is None:
            return
        self._closed = True
        replicas = None
        if self._replication is not None:  # closed beside the primary, within the same timeout
            replicas = asyncio.get_running_loop().create_task(self._replication.close(timeout))
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        for slot in self._slots.values():
            while slot.waiters:
                waiter = slot.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(PoolClosed("the pool was closed while waiting for a connection"))
        self._drained = asyncio.Event()
        self._check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)
        await self._close_all_idle()
        for slot in self._slots.values():
            for holder in list(slot.in_use):
                slot.in_use.discard(holder)
                holder.conn.terminate()
                self._close_in_background(holder.conn)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if replicas is not None:
            await replicas

    async def _close_all_idle(self) -> None:
        closing = []
        for slot in self._slots.values():
            while slot.idle:
                closing.append(slot.idle.pop().conn)
        results = await asyncio.gather(*(c.close() for c in closing), return_exceptions=True)
        for conn, result in zip(closing, results, strict=True):
            if isinstance(result, BaseException):
                conn.terminate()

    def _check_drained(self) -> None:
        if self._drained is not None and not any(slot.in_use for slot in self._slots.values()):
            self._drained.set()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- public entry points -------------------------------------------------------------
    def transaction(self, *, readonly: bool = False, isolation: str | None = None, primary: bool = False,
                    after: str | None = None) -> contextlib.AbstractAsyncContextManager[Transaction]:
        """``async with pool.transaction() as tx``: BEGIN; COMMIT on success, else ROLLBACK.

        With replicas, ``readonly=True`` runs on one that has replayed this pool's
        writes (and the write behind ``after``, a ``tx.commit_token()``);
        ``primary=True`` keeps the read on the primary."""
        if self._pinned is not None:
            return self._pinned.transaction(readonly, isolation)
        if readonly and not primary and self._replication is not None:
            return self._replication.read(isolation, after)
        return TransactionBlock(self, readonly, isolation)

    def connection(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """``async with pool.connection() as conn``: autocommit (SQLite: the writer)."""
        if self._pinned is not None:
            return self._pinned.connection()
        return ConnectionBlock(self)

    def retrying(self, attempts: int = 5, **options: Unpack[RetryOptions]) -> Retrying:
        """``async for attempt in pool.retrying(): async with attempt as tx: ...``: the
        block runs again after a serialization failure or a deadlock (see `rawdb.Retrying`)."""
        from rawdb.retry import Retrying

        return Retrying(self, attempts, **options)

    @contextlib.asynccontextmanager
    async def dedicated_connection(self) -> AsyncIterator[Connection]:
        """A fresh connection outside the pool, closed afterwards (session locks die with it).

        SQLite ``:memory:`` has one connection only, so that one is lent instead.
        """
        if self._closed:
            raise PoolClosed("the pool is closed")
        if self.dialect.shared_single_connection:
            async with self.connection() as conn:
                yield conn
            return
        role: Role = "writer" if "writer" in self._slots else "any"
        try:
            raw = await self.dialect.open(role)
        except Exception as exc:
            raise (self.dialect.translate(exc) or exc) from exc
        holder = Holder(raw, self._slots[role], None)
        conn = Connection(self, holder)
        try:
            yield conn
        finally:
            conn._state = SessionState.ENDED
            try:
                await raw.close()
            except BaseException:
                raw.terminate()
                raise

    async def migrate(
        self,
        directory: MigrationSource | None = None,
        *,
        target: int | None = None,
        dry_run: bool = False,
        lock_timeout: float | None = None,
    ) -> MigrationReport:
        """Apply the scripts of ``directory`` up to ``target`` (see `rawdb.Migrator`).

        ``directory`` is the application's folder of ``vNNN_*.sql`` scripts, or
        ``rawdb.store.MIGRATIONS`` for rawdb's bundled application schema. There is
        no default (`ConfigError`): no database gets a schema by accident.
        """
        # Imported here: a process that only runs queries never loads the migrator.
        from rawdb.migrations import migrate_pool

        return await migrate_pool(self, directory, target=target, dry_run=dry_run, lock_timeout=lock_timeout)

    async def schema_version(self, directory: MigrationSource | None = None) -> int:
        """The recorded schema version; with ``directory``, also checks that the
        history belongs to that folder (`rawdb.migrations.ForeignHistory`)."""
        from rawdb.migrations import schema_version

        return await schema_version(self, directory)

    def stats(self) -> PoolStats:
        slots = self._slots.values()
        replicas, routing = self._replication.stats() if self._replication is not None else ([], None)
        return PoolStats(
            size=sum(s.size for s in slots),
            idle=sum(len(s.idle) for s in slots),
            in_use=sum(len(s.in_use) for s in slots),
            waiting=sum(sum(1 for w in s.waiters if not w.done()) for s in slots),
            min_size=self.options.min_size,
            max_size=self.options.max_size,
            acquired_total=self._acquired_total,
            timeouts_total=self._timeouts_total,
            discarded_total=self._discarded_total,
            leaks_detected_total=self._leaks_total,
            connect_errors_total=self._connect_errors_total,
            opening=sum(s.opening for s in slots),
            replicas=replicas,
            routing=routing,
        )

    def __repr__(self) -> str:
        s = self.stats()
        state = "closed" if self._closed else "open"
        return (f"<rawdb.Pool {state} {self.dialect.describe()} size={s.size} idle={s.idle} "
                f"in_use={s.in_use} waiting={s.waiting}>")

    # -- acquire / release ---------------------------------------------------------------
    async def _acquire(self, role: Role) -> Holder:
        if self._closed:
            raise PoolClosed("the pool is closed")
        slot = self._slots[role]
        site = _acquire_site()
        started = time.monotonic()
        deadline = started + self.options.acquire_timeout
        while True:
            holder = slot.idle.pop() if slot.idle and not slot.waiters else None
            if holder is None:
                holder = await self._wait(slot, deadline)
            else:
                slot.in_use.add(holder)
            if self._ready(holder) or await self._usable(holder, deadline):
                break
        return self._check_out(holder, site, started)

    def _acquire_idle(self, role: Role) -> Holder | None:
        """`_acquire` without a coroutine, for the common case: an idle connection that
        needs no check, and nobody waiting ahead. None sends the caller to `_acquire`."""
        slot = self._slots[role]
        if self._closed or not slot.idle or slot.waiters:
            return None
        holder = slot.idle[-1]
        if not self._ready(holder):
            return None  # _acquire checks it (ping) or replaces it
        slot.idle.pop()
        slot.in_use.add(holder)
        return self._check_out(holder, _acquire_site(), None)

    def _check_out(self, holder: Holder, site: tuple[str, int] | None, started: float | None) -> Holder:
        holder.acquired_at = now = time.monotonic()
        holder.site = site
        holder.task = asyncio.current_task()
        holder.leak_reported = False
        self._acquired_total += 1
        if self._observer is not None:
            self._observer.acquired(0.0 if started is None else now - started)
        return holder

    async def _acquire_and_prepare(self, role: Role, prepare: Callable[[DriverConnection], Awaitable[None]],
                                   what: str) -> Holder:
        """Acquire, then run the session's first round trip (BEGIN, an autocommit switch).

        Nothing has happened on the connection yet, so one the server dropped while
        idle is replaced without bothering the caller."""
        for attempt in range(_BEGIN_ATTEMPTS):
            holder = self._acquire_idle(role) or await self._acquire(role)
            try:
                if self._statement_timeout is None:
                    await prepare(holder.conn)
                else:
                    async with self.statement_timer():
                        await prepare(holder.conn)
            except BaseException as exc:
                self._discard(holder)
                if isinstance(exc, TimeoutError):  # a stalled network, not a stale connection
                    raise QueryTimeout(
                        f"{what} did not complete within command_timeout={self.options.command_timeout}s; "
                        "its connection is discarded") from exc
                self._suspect_older(holder)
                error = self.dialect.translate(exc) if isinstance(exc, Exception) else None
                if isinstance(error, ConnectionLost) and attempt + 1 < _BEGIN_ATTEMPTS:
                    continue
                if error is None:
                    raise
                raise error from exc
            return holder
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _ready(self, holder: Holder) -> bool:
        """The common case of `_usable`, without a coroutine: open, not expired, no ping due."""
        now = time.monotonic()
        if holder.conn.is_closed or now >= holder.expires_at:
            return False
        if not self.dialect.needs_health_check:
            return True
        check_after = self.options.health_check_after
        return not holder.suspect and (check_after is None or now - holder.last_used <= check_after)

    async def _usable(self, holder: Holder, deadline: float) -> bool:
        """Check a connection about to be handed out; discard it if it is not fit.

        The ping is bounded (by ``connect_timeout`` and what is left of the acquire
        deadline): over a stalled network it must not outlast ``acquire_timeout``."""
        conn = holder.conn
        now = time.monotonic()
        if conn.is_closed or now >= holder.expires_at:
            self._discard(holder, graceful=not conn.is_closed)
            return False
        check_after = self.options.health_check_after
        if self.dialect.needs_health_check and (
            holder.suspect or (check_after is not None and now - holder.last_used > check_after)
        ):
            try:
                limit = max(0.001, min(self.options.connect_timeout, deadline - now))
                async with asyncio.timeout(limit):
                    await conn.ping()
            except BaseException as exc:
                self._discard(holder)
                self._suspect_older(holder)
                if not isinstance(exc, Exception):
                    raise
                return False
            holder.suspect = False
        return True

    async def _wait(self, slot: Slot, deadline: float) -> Holder:
        max_waiting = self.options.max_waiting
        if max_waiting is not None and sum(1 for w in slot.waiters if not w.done()) >= max_waiting:
            self._timeouts_total += 1
            raise PoolTimeout(self._timeout_message(slot, f"max_waiting={max_waiting} tasks already wait"))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Holder] = loop.create_future()
        slot.waiters.append(waiter)
        slot.grow()
        # The deadline as a timer that fails the waiter, not asyncio.timeout_at(): the
        # same moment, without that context manager's pure-Python layers on every
        # acquire that has to wait (most of them under load).
        timer = loop.call_at(self._loop_deadline(deadline), _expire, waiter)
        try:
            return await waiter
        except _AcquireExpired:
            self._reclaim(slot, waiter)
            self._timeouts_total += 1
            raise PoolTimeout(self._timeout_message(
                slot, f"no connection became free within acquire_timeout={self.options.acquire_timeout}s"
            )) from None
        except BaseException:
            self._reclaim(slot, waiter)
            raise
        finally:
            timer.cancel()

    def _reclaim(self, slot: Slot, waiter: asyncio.Future[Holder]) -> None:
        """A waiter gave up; if a connection reached it meanwhile, pass it on."""
        with contextlib.suppress(ValueError):
            slot.waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            holder = waiter.result()
            slot.in_use.discard(holder)
            slot.put(holder)
        else:
            waiter.cancel()

    @staticmethod
    def _loop_deadline(deadline: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (deadline - time.monotonic())

    def _release(self, holder: Holder) -> None:
        """Return a connection. Never awaits, so it cannot be interrupted half-way."""
        slot = holder.slot
        if holder not in slot.in_use:
            return
        holder.task = None
        conn = holder.conn
        if conn.is_closed:
            self._discard(holder)
            return
        if conn.in_transaction:
            holder.mark(LeaseState.BROKEN)  # nothing may reach the next user inside a transaction
        state = holder.state
        if state is LeaseState.BROKEN:
            if conn.recoverable and not self._closed:
                self._spawn(self._recover_then_return(holder))
            else:
                self._discard(holder)
            return
        if self._closed or time.monotonic() >= holder.expires_at:
            self._discard(holder, graceful=True)
            return
        if state is LeaseState.DIRTY or conn.session_changed:
            # session_changed: the server reported a change no statement text showed
            # (a function that switched the role, say).
            self._spawn(self._reset_then_return(holder))
            return
        slot.in_use.discard(holder)
        slot.put(holder)
        if self._drained is not None:
            self._check_drained()

    async def _recover_then_return(self, holder: Holder) -> None:
        """Bring an interrupted connection back to a known state (SQLite), or replace it."""
        try:
            ok = await asyncio.wait_for(holder.conn.recover(), self._cleanup_timeout)
        except Exception:
            ok = False
        if not ok:
            self._discard(holder)
            return
        # Recovery ends the transaction; session state it may have set stays.
        holder.state = LeaseState.DIRTY
        await self._reset_then_return(holder)

    async def _reset_then_return(self, holder: Holder) -> None:
        """Clear session state (or learn that the connection must be replaced).

        Bounded: over a dead network the reset would otherwise keep the connection
        counted as in use for ever."""
        try:
            ok = await asyncio.wait_for(holder.conn.reset(), self._cleanup_timeout)
        except Exception:
            ok = False
        if not ok:
            self._discard(holder, graceful=True)
            return
        holder.state = LeaseState.CLEAN
        holder.slot.in_use.discard(holder)
        if self._closed:
            self._close_in_background(holder.conn)
            self._check_drained()
            return
        holder.slot.put(holder)

    def _discard(self, holder: Holder, *, graceful: bool = False) -> None:
        """Take a connection out of service; replace it if anyone needs one."""
        slot = holder.slot
        slot.in_use.discard(holder)
        with contextlib.suppress(ValueError):
            slot.idle.remove(holder)
        self._discarded_total += 1
        if graceful:
            self._close_in_background(holder.conn)
        else:
            holder.conn.terminate()
            self._close_in_background(holder.conn)
        slot.grow()
        self._check_drained()

    def _suspect_older(self, dead: Holder) -> None:
        """After a server restart every older connection is probably dead too."""
        for holder in dead.slot.idle:
            if holder.created_at <= dead.created_at:
                holder.suspect = True

    def _close_in_background(self, conn: DriverConnection) -> None:
        async def close() -> None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except BaseException:
                conn.terminate()

        self._spawn(close())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _connect_error(self, exc: BaseException) -> BaseException:
        """What a failed connect raises: ConfigError when retrying cannot help (the
        URL's credentials, database or file are wrong), else the translated error."""
        if isinstance(exc, ConfigError):
            return exc
        dialect = self.dialect
        error: BaseException | None
        if dialect.connect_error_is_final(exc):
            error = ConfigError(dialect.url.scrub(f"cannot connect to {dialect.describe()}: {exc}"))
        else:
            error = dialect.translate(exc)
        if error is None:
            return exc
        error.__cause__ = exc
        return error

    def _connect_failed(self, exc: BaseException) -> None:
        self._connect_errors_total += 1
        error = self.dialect.translate(exc)
        text = f"{type(exc).__name__}: {exc}" if error is None else str(error)
        self._last_error = self.dialect.url.scrub(text)

    # -- diagnostics -------------------------------------------------------------------------
    def _timeout_message(self, slot: Slot, reason: str) -> str:
        s = self.stats()
        parts = [
            f"{reason} ({self.dialect.describe()}, {slot.role} connections)",
            f"stats: size={s.size} idle={s.idle} in_use={s.in_use} waiting={s.waiting} "
            f"max_size={s.max_size}",
        ]
        if self._last_error:
            parts.append(f"last connection error: {self._last_error}")
        current = asyncio.current_task()
        mine = [h for sl in self._slots.values() for h in sl.in_use if h.task is current and current]
        if mine:
            parts.append(
                "this task already holds a connection from this pool, acquired at "
                + ", ".join(_where(h.site) for h in mine)
                + " (a nested pool.transaction() waits for a second one; pass the outer tx instead)"
            )
        oldest = slot.oldest_holders()
        if oldest:
            now = time.monotonic()
            parts.append("oldest holders: " + "; ".join(
                f"{_where(h.site)} for {now - h.acquired_at:.1f}s" for h in oldest))
        return "; ".join(parts)

    # -- maintenance ---------------------------------------------------------------------------
    async def _maintain(self) -> None:
        o = self.options
        intervals = [1.0]
        if o.leak_threshold:
            intervals.append(o.leak_threshold / 4)
        if o.idle_timeout:
            intervals.append(o.idle_timeout / 2)
        period = max(0.05, min(intervals))
        while not self._closed:
            await asyncio.sleep(period)
            try:
                self._maintain_once()
            except Exception:  # pragma: no cover - maintenance must never die
                log.exception("rawdb pool maintenance failed")

    def _maintain_once(self) -> None:
        o = self.options
        now = time.monotonic()
        for slot in self._slots.values():
            if o.leak_threshold is not None:
                for holder in slot.in_use:
                    if not holder.leak_reported and now - holder.acquired_at > o.leak_threshold:
                        holder.leak_reported = True
                        self._leaks_total += 1
                        log.warning(
                            "rawdb connection held for %.1fs (leak_threshold=%ss), acquired at %s",
                            now - holder.acquired_at, o.leak_threshold, _where(holder.site),
                        )
            # Oldest idle first (the left end): retire expired, then reap surplus idle.
            for holder in list(slot.idle):
                if now >= holder.expires_at or (o.idle_timeout is not None and slot.size > slot.min_size
                      and now - holder.last_used > o.idle_timeout):
                    self._discard(holder, graceful=True)
            slot.grow()

    def statement_timer(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The per-statement deadline (``command_timeout``), or a no-op."""
        if self._statement_timeout is None:
            return _NO_TIMER
        return asyncio.timeout(self._statement_timeout)


class _NoTimer(contextlib.AbstractAsyncContextManager[None]):
    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_TIMER = _NoTimer()


class TransactionBlock:
    """The async context manager behind ``pool.transaction()``."""

    __slots__ = ("_holder", "_isolation", "_pool", "_readonly", "_span", "_tx")

    def __init__(self, pool: Pool, readonly: bool, isolation: str | None) -> None:
        self._pool = pool
        self._readonly = readonly
        self._isolation = isolation
        self._holder: Holder | None = None
        self._tx: Transaction | None = None
        self._span: contextlib.AbstractContextManager[None] | None = None

    async def __aenter__(self) -> Transaction:
        if self._tx is not None:
            raise InterfaceError("a transaction block cannot be entered twice")
        pool = self._pool
        dialect = pool.dialect
        readonly = self._readonly
        isolation = self._isolation
        if isolation is not None:  # no level asked: nothing to check (every dialect's default)
            isolation = dialect.check_isolation(isolation)  # before taking a connection
        if pool._observer is not None:
            self._span = pool._observer.transaction(readonly)
            self._span.__enter__()  # current while the block runs: statements are its children
        try:
            holder = await pool._acquire_and_prepare(
                dialect.route(readonly), lambda conn: conn.begin(readonly, isolation, owns_session=True), "BEGIN")
        except BaseException as exc:
            if self._span is not None:
                self._span.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._holder = holder
        self._tx = Transaction(pool, holder, readonly=readonly)
        return self._tx

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        tx = self._tx
        holder = self._holder
        assert tx is not None and holder is not None
        try:
            await end_transaction(tx, clean_exit=et is None)
            if et is None and not self._readonly and self._pool._replication is not None:
                await self._pool._replication.committed(tx)  # read-your-writes: where the commit is
        except BaseException as error:
            et, exc, tb = type(error), error, error.__traceback__
            raise
        finally:
            self._pool._release(holder)
            if self._span is not None:
                self._span.__exit__(et, exc, tb)

    def transaction(self) -> SavepointBlock:  # pragma: no cover - guard for a common slip
        raise InterfaceError("use 'async with pool.transaction() as tx' and then tx.transaction()")


class ConnectionBlock:
    """The async context manager behind ``pool.connection()``."""

    __slots__ = ("_conn", "_holder", "_pool")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._holder: Holder | None = None
        self._conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        pool = self._pool
        role: Role = "writer" if "writer" in pool._slots else "any"
        holder = await pool._acquire_and_prepare(role, lambda conn: conn.use_autocommit(), "switching to autocommit")
        self._holder = holder
        self._conn = Connection(pool, holder)
        return self._conn

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        conn = self._conn
        holder = self._holder
        assert conn is not None and holder is not None
        try:
            if holder.stream is not None and not holder.broken:
                await close_abandoned_stream(holder)
        finally:
            conn._state = SessionState.ENDED
            try:
                if self._pool._replication is not None:  # its autocommit statements may have written
                    await self._pool._replication.connection_released(holder)
            finally:
                self._pool._release(holder)
