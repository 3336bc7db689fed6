"""Running a transaction block again when the database rolled it back for contention.

A serialization failure (PostgreSQL SERIALIZABLE, REPEATABLE READ) and a deadlock
mean the database rolled the whole transaction back and asked for it to be run
again: a second run, a moment later, usually succeeds. Two other errors may be
worth another run, by choice: a lock wait that timed out, and a connection lost
before COMMIT was sent (nothing was kept). A connection lost *during* COMMIT is
different: the server may have committed, so running the block again could apply it
twice; that is retried only for blocks the caller declares idempotent.

    async for attempt in pool.retrying(attempts=5, isolation="serializable"):
        async with attempt as tx:
            ...

Each attempt is a fresh ``pool.transaction()``. An error that is not retried leaves
the loop as it is (no wrapper), so ``except rawdb.SerializationError`` still works
after the last attempt. Waits between attempts grow exponentially with full jitter
(uniform between zero and the cap), so transactions that collided once do not
collide again in lockstep; ``max_elapsed`` bounds the whole run.

What rawdb cannot see is what the block did outside the database (an e-mail sent,
a message published, an HTTP call): running it again would do that again. A block
calls ``attempt.mark_side_effect()`` when it has done such a thing; its attempt is
then not retried unless the caller passed ``retry_after_side_effects=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import math
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypedDict, TypeVar, Unpack

import msgspec

from rawdb.errors import (
    ConfigError,
    ConnectionLost,
    DeadlockError,
    InterfaceError,
    LockTimeout,
    SerializationError,
    TransactionAborted,
)

if TYPE_CHECKING:
    from rawdb.pool import Pool
    from rawdb.session import Transaction

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("rawdb.retry")

# Jitter needs no unpredictability, only independence between tasks and processes.
_jitter = random.Random()


class RetryEvent(msgspec.Struct, frozen=True):
    """Passed to ``on_retry`` before the wait that precedes the next attempt."""

    attempt: int  # the attempt that failed, from 1
    error: BaseException  # as it was raised (a TransactionAborted keeps its cause)
    delay: float  # seconds until the next attempt starts
    elapsed: float  # seconds since the first attempt started


class RetryOptions(TypedDict, total=False):
    """The keyword options of `Retrying` (and of ``pool.retrying`` and `retry`)."""

    readonly: bool
    isolation: str | None
    retry_lock_timeout: bool
    retry_connection_lost: bool
    retry_unknown_outcome: bool
    retry_after_side_effects: bool
    base_delay: float
    max_delay: float
    max_elapsed: float | None
    on_retry: Callable[[RetryEvent], object] | None


def retryable(error: BaseException, *, lock_timeout: bool = False, connection_lost: bool = False,
              unknown_outcome: bool = False) -> bool:
    """Is running the failed transaction again both safe and worth it?

    Serialization failures and deadlocks always are; the other kinds only when
    asked for. A `TransactionAborted` is judged by the failure that aborted it (the
    block caught the error and carried on)."""
    root = error
    while isinstance(root, TransactionAborted) and root.__cause__ is not None:
        root = root.__cause__
    if isinstance(root, (SerializationError, DeadlockError)):
        return True
    if isinstance(root, LockTimeout):
        return lock_timeout
    if isinstance(root, ConnectionLost):
        return unknown_outcome if root.outcome_unknown else connection_lost
    return False


def backoff(retry: int, base_delay: float, max_delay: float) -> float:
    """The wait before retry number ``retry`` (from 1): full jitter, uniform between
    zero and ``base_delay * 2 ** (retry - 1)`` capped at ``max_delay``."""
    cap = min(max_delay, base_delay * 2.0 ** min(retry - 1, 60))
    return _jitter.uniform(0.0, cap)


class _State(enum.Enum):
    NEW = "new"  # handed out, not entered yet
    OPEN = "open"  # its transaction is running
    RETRY = "retry"  # failed; the next attempt starts after a wait
    DONE = "done"  # committed
    FAILED = "failed"  # failed for good: its error left the block


class Attempt:
    """One run of the block: ``async with attempt as tx`` is a ``pool.transaction()``."""

    __slots__ = ("_block", "_delay", "_retrying", "_side_effect", "_state", "number")

    def __init__(self, retrying: Retrying, number: int) -> None:
        self._retrying = retrying
        self.number = number  # from 1; a BEGIN that failed and was retried counts as one
        self._state = _State.NEW
        self._block: contextlib.AbstractAsyncContextManager[Transaction] | None = None
        self._side_effect = False
        self._delay = 0.0

    def mark_side_effect(self) -> None:
        """Say that this attempt did something outside the database that a second run
        would repeat: a retryable failure after this is raised, not retried (unless
        ``retry_after_side_effects=True``)."""
        self._side_effect = True

    @property
    def side_effect(self) -> bool:
        return self._side_effect

    @property
    def succeeded(self) -> bool:
        return self._state is _State.DONE

    async def __aenter__(self) -> Transaction:
        if self._state is not _State.NEW:
            raise InterfaceError("an attempt is entered once: 'async with attempt as tx' inside the loop")
        self._state = _State.OPEN
        retrying = self._retrying
        while True:
            block = retrying._pool.transaction(readonly=retrying.readonly, isolation=retrying.isolation)
            try:
                tx = await block.__aenter__()
            except Exception as exc:
                # Nothing of the block ran: a lost connection at BEGIN is retried here,
                # as its own attempt, without leaving the caller's `async with`.
                if not retrying._schedule(self, exc):
                    self._state = _State.FAILED
                    raise
                self._state = _State.OPEN  # the retry happens here, not in the loop
                await asyncio.sleep(self._delay)
                self.number = retrying._next_number()
                continue
            self._block = block
            return tx

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        block = self._block
        assert block is not None
        self._block = None
        self._state = _State.FAILED  # until COMMIT has succeeded or a retry is scheduled
        try:
            handled = await block.__aexit__(et, exc, tb)
        except Exception as raised:  # refused COMMIT, TransactionAborted, lost connection
            if not self._retrying._schedule(self, raised):
                raise
            return True  # this attempt's error is spent: the loop runs the block again
        if exc is None or handled:
            self._state = _State.DONE
            return bool(handled)
        return isinstance(exc, Exception) and self._retrying._schedule(self, exc)

    def __repr__(self) -> str:
        return f"<rawdb.retry.Attempt {self.number} of {self._retrying.attempts} {self._state.value}>"


class Retrying:
    """``async for attempt in pool.retrying(...)``: attempts until one commits.

    The loop ends after the attempt that committed; an error that is not retried
    (another kind, the attempts or ``max_elapsed`` used up, a marked side effect)
    leaves it as raised, with a note saying why it was not retried. Values
    assigned inside the committed attempt's block are there after the loop.
    ``retries`` and ``last_error`` say what happened; ``on_retry`` is called with a
    `RetryEvent` before each wait. Use one `Retrying` for one loop.

    Leave the block only by reaching its end or by raising. A COMMIT refused with
    a retryable error reaches ``__aexit__`` with no exception in flight, so a
    ``return`` or ``break`` inside the block cannot be stopped: it would leave the
    loop with the work rolled back. Assign results inside the block and return
    after the loop, or use `run`. (A loop left that way is reported with a
    `RuntimeWarning` and an error on the ``rawdb.retry`` logger.)
    """

    def __init__(
        self,
        pool: Pool,
        attempts: int = 5,
        *,
        readonly: bool = False,
        isolation: str | None = None,
        retry_lock_timeout: bool = False,
        retry_connection_lost: bool = False,
        retry_unknown_outcome: bool = False,
        retry_after_side_effects: bool = False,
        base_delay: float = 0.01,
        max_delay: float = 1.0,
        max_elapsed: float | None = 30.0,
        on_retry: Callable[[RetryEvent], object] | None = None,
    ) -> None:
        _check(attempts, base_delay, max_delay, max_elapsed, on_retry)
        pool.dialect.check_isolation(isolation)  # a bad level fails here, not at the first attempt
        self._pool = pool
        self.attempts = attempts
        self.readonly = readonly
        self.isolation = isolation
        self.retry_lock_timeout = retry_lock_timeout
        self.retry_connection_lost = retry_connection_lost
        self.retry_unknown_outcome = retry_unknown_outcome
        self.retry_after_side_effects = retry_after_side_effects
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_elapsed = max_elapsed
        self.on_retry = on_retry
        self.retries = 0
        self.last_error: BaseException | None = None
        self._number = 0
        self._started = 0.0
        self._current: Attempt | None = None

    def __aiter__(self) -> Retrying:
        return self

    async def __anext__(self) -> Attempt:
        current = self._current
        if current is None:
            if self._number:
                raise StopAsyncIteration
            self._started = time.monotonic()
        elif current._state is _State.RETRY:
            current._state = _State.FAILED  # a cancelled wait abandons nothing that was to commit
            await asyncio.sleep(current._delay)
        elif current._state in (_State.NEW, _State.OPEN):
            raise InterfaceError("use each attempt of pool.retrying() as 'async with attempt as tx' "
                                 "before the loop moves on")
        else:
            self._current = None
            raise StopAsyncIteration
        self._current = Attempt(self, self._next_number())
        return self._current

    def _next_number(self) -> int:
        self._number += 1
        return self._number

    @property
    def attempt_number(self) -> int:
        """Attempts started so far."""
        return self._number

    def _schedule(self, attempt: Attempt, error: Exception) -> bool:
        """Decide whether ``attempt``'s error is retried; if so, set up the wait."""
        if not retryable(error, lock_timeout=self.retry_lock_timeout,
                         connection_lost=self.retry_connection_lost,
                         unknown_outcome=self.retry_unknown_outcome):
            return False
        elapsed = time.monotonic() - self._started
        delay = backoff(self.retries + 1, self.base_delay, self.max_delay)
        if attempt._side_effect and not self.retry_after_side_effects:
            reason = ("the attempt marked a side effect outside the database "
                      "(pass retry_after_side_effects=True if running it again is safe)")
        elif attempt.number >= self.attempts:
            reason = f"all {self.attempts} attempts failed"
        elif self.max_elapsed is not None and elapsed + delay > self.max_elapsed:
            reason = f"another attempt would start after max_elapsed={self.max_elapsed}s ({elapsed:.2f}s spent)"
        else:
            reason = ""
        if reason:
            error.add_note(f"rawdb: not retried: {reason}")
            return False
        self.retries += 1
        self.last_error = error
        attempt._state = _State.RETRY
        attempt._delay = delay
        log.debug("transaction attempt %d failed (%s: %s); attempt %d starts in %.3fs",
                  attempt.number, type(error).__name__, error, attempt.number + 1, delay)
        if self.on_retry is not None:
            self.on_retry(RetryEvent(attempt=attempt.number, error=error, delay=delay, elapsed=elapsed))
        return True

    async def run(self, fn: Callable[Concatenate[Transaction, P], Awaitable[R]],
                  *args: P.args, **kwargs: P.kwargs) -> R:
        """``await fn(tx, *args, **kwargs)`` in a transaction, attempted until it commits."""
        result: R
        async for attempt in self:
            async with attempt as tx:
                result = await fn(tx, *args, **kwargs)
        return result

    def __repr__(self) -> str:
        return f"<rawdb.Retrying attempt {self._number} of {self.attempts}, {self.retries} retries>"

    def __del__(self) -> None:
        current = getattr(self, "_current", None)  # None as well when __init__ refused the options
        if current is not None and current._state is _State.RETRY:
            # The loop was left between a failed attempt and the next one (a return or
            # break in the block, or after it): the caller goes on as if the work had
            # been kept. Too late to raise; say it as loudly as a finaliser can.
            message = (f"pool.retrying() was left after attempt {current.number} failed "
                       f"({type(self.last_error).__name__}) and before it was retried: its work was "
                       "rolled back. Leave 'async with attempt' only by its end or by raising")
            log.error(message)
            warnings.warn(message, RuntimeWarning, stacklevel=1)


def retry(attempts: int = 5, **options: Unpack[RetryOptions]
          ) -> Callable[[Callable[Concatenate[Transaction, P], Awaitable[R]]],
                        Callable[Concatenate[Pool, P], Awaitable[R]]]:
    """Decorate ``async def fn(tx, ...)`` into ``async def fn(pool, ...)`` that runs it in
    a transaction and retries like ``pool.retrying(attempts, **options)``.

        @rawdb.retry(attempts=10, isolation="serializable")
        async def transfer(tx, src, dst, amount): ...

        await transfer(pool, 1, 2, 50)

    The function gets only the transaction, so it cannot mark a side effect: keep
    effects outside the database out of it (do them after the call returns), or
    use the ``async for`` form."""
    _check(attempts, options.get("base_delay", 0.01), options.get("max_delay", 1.0),
           options.get("max_elapsed", 30.0), options.get("on_retry"))

    def decorate(fn: Callable[Concatenate[Transaction, P], Awaitable[R]]
                 ) -> Callable[Concatenate[Pool, P], Awaitable[R]]:
        @functools.wraps(fn)
        async def run(pool: Pool, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await Retrying(pool, attempts, **options).run(fn, *args, **kwargs)

        return run

    return decorate


def _check(attempts: int, base_delay: float, max_delay: float, max_elapsed: float | None,
           on_retry: object) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(f"retry option 'attempts' must be a whole number >= 1, got {attempts!r}")
    for name, value in (("base_delay", base_delay), ("max_delay", max_delay), ("max_elapsed", max_elapsed)):
        if value is None and name == "max_elapsed":
            continue
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or value < 0 or (name == "max_elapsed" and value == 0)):
            bound = "> 0" if name == "max_elapsed" else ">= 0"
            raise ConfigError(f"retry option {name!r} must be a finite number {bound}, got {value!r}")
    if on_retry is not None and not callable(on_retry):
        raise ConfigError(f"retry option 'on_retry' must be callable, got {type(on_retry).__name__}")
