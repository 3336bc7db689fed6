"""SQLite: another process holding the write lock, and a process killed mid-transaction."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

import rawdb

from .conftest import Figures

pytestmark = pytest.mark.faults

BUSY_TIMEOUT = 0.5
MARGIN = 0.75

LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO items (id, note) VALUES (-1, 'locker')")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
    print("released", flush=True)
""")

WRITER = textwrap.dedent("""
    import asyncio, sys
    import rawdb

    async def main(path: str, batch: int, base: int) -> None:
        pool = await rawdb.create_pool(f"sqlite:///{path}")
        rows = lambda start, n: [{"id": base + i, "note": "x" * 200} for i in range(start, start + n)]
        async with pool.transaction() as tx:
            await tx.executemany("INSERT INTO items (id, note) VALUES (:id, :note)", rows(0, batch))
        print("committed", batch, flush=True)
        async with pool.transaction() as tx:  # never commits: killed while writing
            n = batch
            while True:
                await tx.executemany("INSERT INTO items (id, note) VALUES (:id, :note)", rows(n, 250))
                n += 250
                print("writing", n, flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
""")


async def _read_line(proc: asyncio.subprocess.Process, prefix: str, timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                err = (await proc.stderr.read()).decode() if proc.stderr else ""
                raise AssertionError(f"child exited before printing {prefix!r}: {err[-2000:]}")
            if line.startswith(prefix):
                return line.strip()


async def _make_db(path: Path) -> None:
    pool = await rawdb.create_pool(f"sqlite:///{path}")
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    finally:
        await pool.close()


async def test_write_lock_held_by_another_process(tmp_path: Path, figures: Figures) -> None:
    """Another process keeps BEGIN IMMEDIATE for 4 s; with busy_timeout=0.5 s every
    writer fails with LockTimeout after about busy_timeout (no hang), readers keep
    reading, and once the lock is gone writes succeed on the same pool."""
    path = tmp_path / "locked.db"
    await _make_db(path)
    outcomes: Counter[str] = Counter()
    durations: list[float] = []
    async with asyncio.timeout(60):
        pool = await rawdb.create_pool(f"sqlite:///{path}", busy_timeout=BUSY_TIMEOUT, max_size=3,
                                       acquire_timeout=10.0)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(path), "4", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            await _read_line(locker, "locked")

            async def write(i: int, via: str) -> None:
                t0 = time.monotonic()
                try:
                    async with asyncio.timeout(BUSY_TIMEOUT * 8 + 5):
                        if via == "transaction":
                            async with pool.transaction() as tx:
                                await tx.execute("INSERT INTO items (id, note) VALUES (:id, 'w')", {"id": i})
                        else:
                            async with pool.connection() as conn:
                                await conn.execute("INSERT INTO items (id, note) VALUES (:id, 'w')", {"id": i})
                    outcomes["committed"] += 1
                except TimeoutError:
                    outcomes["hung"] += 1
                except rawdb.RawDBError as exc:
                    outcomes[type(exc).__name__] += 1
                    if isinstance(exc, rawdb.LockTimeout):
                        assert "busy_timeout" in str(exc) or "locked" in str(exc), str(exc)
                durations.append(time.monotonic() - t0)

            await write(1, "transaction")
            await write(2, "connection")
            single = list(durations)
            # Readers are not blocked by a writer in WAL mode.
            async with asyncio.timeout(5), pool.transaction(readonly=True) as tx:
                readable = await tx.fetch_val("SELECT count(*) FROM items")
            # Four writers at once queue for the single writer connection; each gets its
            # own busy_timeout, and none hangs.
            await asyncio.gather(*(write(10 + i, "transaction") for i in range(4)))
            assert locker.returncode is None, "the locker finished early; the test proves nothing"
            await _read_line(locker, "released")
            await locker.wait()
            t0 = time.monotonic()
            async with asyncio.timeout(5), pool.transaction() as tx:
                await tx.execute("INSERT INTO items (id, note) VALUES (100, 'after')")
                after = await tx.fetch_val("SELECT count(*) FROM items")
            recover = time.monotonic() - t0
        finally:
            if locker.returncode is None:
                locker.kill()
                await locker.wait()
            await pool.close()
    figures.record("7 SQLite write lock held by another process (busy_timeout 0.5 s)", "sqlite",
                   attempted=sum(outcomes.values()) + 1, committed=outcomes["committed"] + 1,
                   failed={k: v for k, v in outcomes.items() if k != "committed"}, recover_s=recover,
                   note=f"single writer failed after {', '.join(f'{d:.2f}s' for d in single)}; "
                        f"4 queued writers {', '.join(f'{d:.2f}s' for d in durations[2:])}")
    assert outcomes == Counter({"LockTimeout": 6}), outcomes
    for d in single:
        assert BUSY_TIMEOUT * 0.8 <= d <= BUSY_TIMEOUT + MARGIN, single
    assert max(durations) <= 4 * BUSY_TIMEOUT + MARGIN * 2, durations
    assert readable == 0  # the locker's uncommitted row is invisible
    assert after == 2  # the locker's row and ours


async def test_process_killed_mid_transaction(tmp_path: Path, figures: Figures) -> None:
    """A rawdb process commits a batch, then is SIGKILLed while writing the next
    transaction (three times, at different moments): the file passes integrity_check,
    holds exactly the committed batch, and the next pool opens it and writes normally."""
    path = tmp_path / "killed.db"
    await _make_db(path)
    batch = 2000
    rounds = []
    async with asyncio.timeout(120):
        for delay in (0.0, 0.05, 0.2):
            before = await _count(path)
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, str(path), str(batch), str(len(rounds) * 10_000_000),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                last = int((await _read_line(child, "committed")).split()[1])
                await _read_line(child, "writing")  # inside the transaction that never ends
                await asyncio.sleep(delay)
            finally:
                if child.returncode is None:
                    child.send_signal(signal.SIGKILL)
                await child.wait()
            assert child.returncode == -signal.SIGKILL
            had_wal = _has_wal(path)
            integrity = _integrity(path)
            stored = await _count(path)
            rounds.append((delay, last, stored - before, had_wal, integrity))
            assert integrity == "ok", integrity
            # The committed batch, and nothing of the transaction that was killed.
            assert stored - before == last, (stored - before, last)
            # The next pool opens the file normally and writes.
            pool = await rawdb.create_pool(f"sqlite:///{path}")
            try:
                async with pool.transaction() as tx:
                    await tx.execute("INSERT INTO items (id, note) VALUES (:id, 'next')",
                                     {"id": -1_000 - len(rounds)})
                async with pool.transaction(readonly=True) as tx:
                    assert await tx.fetch_val("SELECT count(*) FROM items") == stored + 1
            finally:
                await pool.close()
            assert _integrity(path) == "ok"
    figures.record("7b SQLite process SIGKILLed mid-transaction (x3)", "sqlite",
                   attempted=len(rounds), committed=len(rounds),
                   note="; ".join(f"kill +{d}s: {kept} rows kept (last commit {last}), wal {w}, {i}"
                                  for d, last, kept, w, i in rounds))


async def _count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        db.close()


def _has_wal(path: Path) -> bool:
    return os.path.exists(f"{path}-wal")


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return "; ".join(r[0] for r in db.execute("PRAGMA integrity_check").fetchall())
    finally:
        db.close()


async def test_long_statement_command_timeout(tmp_path: Path, figures: Figures) -> None:
    """SQLite's counterpart of a stalled query: a statement running past
    command_timeout raises QueryTimeout in time, and the pool keeps working."""
    path = tmp_path / "slow.db"
    await _make_db(path)
    timeout = 0.5
    async with asyncio.timeout(30):
        pool = await rawdb.create_pool(f"sqlite:///{path}", command_timeout=timeout, max_size=3)
        try:
            results = {}
            for readonly in (False, True):
                t0 = time.monotonic()
                with pytest.raises(rawdb.QueryTimeout):
                    async with pool.transaction(readonly=readonly) as tx:
                        await tx.fetch_val(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                            "WHERE x < 1000000000) SELECT count(*) FROM c")
                results[readonly] = time.monotonic() - t0
                async with asyncio.timeout(5), pool.transaction(readonly=readonly) as tx:
                    assert await tx.fetch_val("SELECT 1") == 1
            async with asyncio.timeout(5), pool.transaction() as tx:
                await tx.execute("INSERT INTO items (id, note) VALUES (1, 'ok')")
        finally:
            await pool.close()
    figures.record("4 SQLite long statement (command_timeout 0.5 s)", "sqlite", attempted=2, committed=0,
                   failed={"QueryTimeout": 2},
                   note=f"writer {results[False]:.2f}s, reader {results[True]:.2f}s")
    for elapsed in results.values():
        assert elapsed <= timeout + 0.5, results
