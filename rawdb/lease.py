"""One pooled connection while it is out of the pool: what it is fit for when it returns.

The pool decides a returned connection's fate from one value, `LeaseState`, that
only ever gets worse during a lease: the session objects report what they saw
(a statement that may leave session state, an interrupted statement, a lost
connection), the pool acts on the worst of it.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rawdb.dialects.base import DriverConnection
    from rawdb.pool import Slot


class LeaseState(enum.IntEnum):
    """What the pool must do with a connection before the next user gets it."""

    CLEAN = 0  # as it was handed out: return it as is
    DIRTY = 1  # ran a statement that may leave session state: reset (or replace) first
    BROKEN = 2  # state unknown (interrupted, timed out, lost): recover in place or replace


class Holder:
    """Bookkeeping for one pooled connection."""

    __slots__ = ("acquired_at", "busy", "conn", "created_at", "expires_at", "last_used", "leak_reported",
                 "savepoints", "site", "slot", "state", "stream", "stream_abandoned", "suspect", "task")

    def __init__(self, conn: DriverConnection, slot: Slot, lifetime: float | None) -> None:
        now = time.monotonic()
        self.conn = conn
        self.slot = slot
        self.created_at = now
        # Jitter, so that connections opened together do not all retire together.
        self.expires_at = now + lifetime * (1 - 0.1 * random.random()) if lifetime else float("inf")
        self.last_used = now
        self.acquired_at = 0.0
        self.site: tuple[str, int] | None = None
        self.task: asyncio.Task[Any] | None = None
        self.state = LeaseState.CLEAN
        # A statement is running: a second task using the same session must not interleave.
        self.busy = False
        self.suspect = False
        self.leak_reported = False
        self.savepoints = 0  # names savepoints uniquely (MySQL replaces a savepoint of the same name)
        self.stream: AsyncGenerator[Any, None] | None = None  # an open iterate() on this connection
        self.stream_abandoned = False

    def mark(self, state: LeaseState) -> None:
        """Record what happened; the state never improves during a lease."""
        if state > self.state:
            self.state = state

    @property
    def broken(self) -> bool:
        return self.state is LeaseState.BROKEN
