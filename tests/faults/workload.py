"""A transactional workload that records the fate of every transaction it tries.

Each worker loops: one transaction inserting a row with a unique id, then a read
in the same transaction. Every attempt ends as exactly one of:
- ``committed``: the block exited normally (so the row must be there afterwards);
- a rawdb error class name (``ConnectionLost``, ``PoolTimeout``, ...);
- ``hung``: it did not finish within ``guard`` seconds (always a failure);
- ``untyped:<class>``: something other than a rawdb error escaped (always a failure).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import rawdb

TYPED = (rawdb.ConnectionLost, rawdb.PoolTimeout)


@dataclass
class Attempt:
    row_id: int
    worker: int
    started: float
    ended: float
    outcome: str
    message: str = ""


@dataclass
class Workload:
    pool: rawdb.Pool
    table: str
    workers: int = 32
    guard: float = 15.0
    pause_after_error: float = 0.02
    attempts: list[Attempt] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @staticmethod
    def new_table() -> str:
        return "faults_" + uuid.uuid4().hex[:10]

    async def create_table(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute_verbatim(
                f"CREATE TABLE {self.table} (id BIGINT PRIMARY KEY, worker INT NOT NULL, "
                "note VARCHAR(40) NOT NULL)")

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._worker(w)) for w in range(self.workers)]

    async def stop(self, timeout: float | None = None) -> None:
        """Let every worker finish its current attempt (each bounded by ``guard``)."""
        self._stop.set()
        async with asyncio.timeout(timeout if timeout is not None else self.guard + 10):
            await asyncio.gather(*self._tasks)

    async def _worker(self, w: int) -> None:
        seq = 0
        while not self._stop.is_set():
            seq += 1
            row_id = w * 10_000_000 + seq
            started = time.monotonic()
            outcome, message = "committed", ""
            try:
                async with asyncio.timeout(self.guard):
                    async with self.pool.transaction() as tx:
                        await tx.execute(
                            f"INSERT INTO {self.table} (id, worker, note) VALUES (:id, :w, :note)",
                            {"id": row_id, "w": w, "note": f"w{w}s{seq}"})
                        await tx.fetch_val(f"SELECT count(*) FROM {self.table} WHERE worker = :w", {"w": w})
            except TimeoutError:
                outcome = "hung"
            except rawdb.RawDBError as exc:
                outcome, message = type(exc).__name__, str(exc)
            except Exception as exc:
                outcome, message = f"untyped:{type(exc).__name__}", repr(exc)
            self.attempts.append(Attempt(row_id, w, started, time.monotonic(), outcome, message))
            if outcome != "committed":
                await asyncio.sleep(self.pause_after_error)

    # -- results ---------------------------------------------------------------------------
    def committed_ids(self) -> set[int]:
        return {a.row_id for a in self.attempts if a.outcome == "committed"}

    def failures(self) -> Counter[str]:
        return Counter(a.outcome for a in self.attempts if a.outcome != "committed")

    def bad(self) -> list[Attempt]:
        """Attempts that neither committed nor raised ConnectionLost/PoolTimeout."""
        allowed = {cls.__name__ for cls in TYPED}
        return [a for a in self.attempts if a.outcome != "committed" and a.outcome not in allowed]

    async def stored_ids(self) -> set[int]:
        async with asyncio.timeout(30), self.pool.transaction(readonly=True) as tx:
            rows = await tx.fetch_all(f"SELECT id FROM {self.table}")
        return {int(r[0]) for r in rows}

    def first_commit_after(self, t: float) -> float | None:
        ends = [a.ended for a in self.attempts if a.outcome == "committed" and a.ended >= t]
        return min(ends) - t if ends else None

    def failed_started_after(self, t: float) -> list[Attempt]:
        return [a for a in self.attempts if a.started >= t and a.outcome != "committed"]


def summarize(attempts: list[Attempt], limit: int = 8) -> str:
    lines = []
    for a in attempts[:limit]:
        lines.append(f"  worker {a.worker} id {a.row_id}: {a.outcome} after {a.ended - a.started:.2f}s "
                     f"{a.message[:300]}")
    if len(attempts) > limit:
        lines.append(f"  ... and {len(attempts) - limit} more")
    return "\n".join(lines)
