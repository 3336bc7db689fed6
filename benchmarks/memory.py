"""Memory: streaming 1,000,000 rows with ``tx.iterate()`` against the driver's own cursor.

A table of 1,000,000 narrow rows (id, name, amount, created_at), generated in the
database, is read into a small Struct three ways, each in a fresh subprocess so its
peak RSS is its own:

- ``rawdb_iterate``: ``async for item in tx.iterate(sql, into=Item)`` (server-side
  cursor on PostgreSQL, unbuffered cursor on MySQL, ``fetchmany`` on SQLite, 500
  rows a chunk);
- ``bare_cursor``: the driver's own streaming cursor, 500 rows a fetch, rows mapped
  into ``Item`` by position (asyncpg ``conn.cursor`` in a transaction, aiomysql
  ``SSCursor``, aiosqlite ``fetchmany``);
- ``rawdb_fetch_all``: ``tx.fetch_all(sql, into=Item)``, for contrast: the whole
  result in memory.

Reported per case: peak RSS growth over the process's RSS just before the read
(the process's own ``VmHWM``, reset just before), and µs per row. Targets: ``iterate`` grows by at most 50 MB, and
its time per row is within 1.1x the driver's cursor (median of the paired runs).

    python -m benchmarks --memory [--all]     # also part of every --all run
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from benchmarks.databases import Admin, Target, bench_database, connect_admin, server_target
from benchmarks.progress import Progress

ROWS = 1_000_000
QUICK_ROWS = 100_000
CHUNK = 500  # rawdb's iterate() chunk; the bare cursors fetch the same
SQL = "SELECT id, name, amount, created_at FROM bench_items"
CASES = ("rawdb_iterate", "bare_cursor", "rawdb_fetch_all")
PAIRED = ("rawdb_iterate", "bare_cursor")
UTC = dt.UTC

DASH = "\u2013"  # en dash, for ranges


class Item(msgspec.Struct):
    id: int
    name: str
    amount: float
    created_at: dt.datetime


_DDL = {
    "sqlite": "CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL NOT NULL, "
              "created_at TEXT NOT NULL)",
    "postgresql": "CREATE TABLE bench_items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, "
                  "amount DOUBLE PRECISION NOT NULL, created_at TIMESTAMPTZ NOT NULL)",
    "mysql": "CREATE TABLE bench_items (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DOUBLE NOT NULL, "
             "created_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
}
# After the fill: statistics for the planner, the WAL folded into the file.
_SETTLE = {"sqlite": "PRAGMA wal_checkpoint(TRUNCATE)", "postgresql": "VACUUM ANALYZE bench_items",
           "mysql": "ANALYZE TABLE bench_items"}
_NAME = {"sqlite": "'item-' || n", "postgresql": "'item-' || n", "mysql": "CONCAT('item-', n)"}
_CREATED = {"sqlite": "'2025-01-01 00:00:00.000000'", "postgresql": "TIMESTAMPTZ '2025-01-01 00:00:00+00'",
            "mysql": "TIMESTAMP '2025-01-01 00:00:00.000000'"}


async def fill(admin: Admin, dialect: str, rows: int) -> None:
    """``rows`` rows made by the database itself (a cross join of digits): seconds, not minutes."""
    await admin.execute(_DDL[dialect])
    await admin.execute("CREATE TABLE bench_digits (d INT NOT NULL)")
    await admin.execute("INSERT INTO bench_digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)")
    number = "a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1"
    await admin.execute(
        f"INSERT INTO bench_items (id, name, amount, created_at) "
        f"SELECT n, {_NAME[dialect]}, n * 0.25, {_CREATED[dialect]} FROM ("
        f"SELECT {number} AS n FROM bench_digits a, bench_digits b, bench_digits c, bench_digits e, "
        f"bench_digits f, bench_digits g) x WHERE n <= {int(rows)}")
    await admin.execute(_SETTLE[dialect])


@dataclass
class MemoryResult:
    dialect: str
    rows: int = 0
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def steps(dialects: list[str], quick: bool) -> int:
    return len(dialects) * (1 + _reps(quick) * len(PAIRED) + 1)


def _reps(quick: bool) -> int:
    return 2 if quick else 3


async def run_memory(dialect: str, url: str | None, quick: bool, progress: Progress) -> MemoryResult:
    rows = QUICK_ROWS if quick else ROWS
    result = MemoryResult(dialect=dialect, rows=rows, runs={c: [] for c in CASES})
    async with bench_database(dialect, url) as target:
        admin = await connect_admin(target)
        try:
            await fill(admin, dialect, rows)
        finally:
            await admin.close()
        progress.step(f"{dialect} memory: {rows:,} rows generated")
        for rep in range(_reps(quick)):
            order = PAIRED if rep % 2 == 0 else PAIRED[::-1]
            for case in order:
                label = f"{dialect} memory {case} (rep {rep + 1})"
                progress.show(label)
                result.runs[case].append(await _subprocess(case, target, rows))
                progress.step(label)
        label = f"{dialect} memory rawdb_fetch_all"
        progress.show(label)
        result.runs["rawdb_fetch_all"].append(await _subprocess("rawdb_fetch_all", target, rows))
        progress.step(label)
    return result


async def _subprocess(case: str, target: Target, rows: int) -> dict[str, float]:
    argv = [sys.executable, "-m", "benchmarks.memory", "--child", case, target.dialect, target.url(), str(rows)]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"memory case {case} on {target.dialect} failed:\n{err.decode()[-2000:]}")
    measured: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    if measured["rows"] != rows:
        raise RuntimeError(f"memory case {case} on {target.dialect} read {measured['rows']} rows, expected {rows}")
    return measured


def summarize_memory(result: MemoryResult) -> dict[str, Any]:
    def st(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    cases = {case: {"us_per_row": st([r["us_per_row"] for r in runs]),
                    "peak_growth_mb": st([r["peak_growth_mb"] for r in runs])}
             for case, runs in result.runs.items() if runs}
    raw, bare = result.runs.get("rawdb_iterate", []), result.runs.get("bare_cursor", [])
    ratios = [a["us_per_row"] / b["us_per_row"] for a, b in zip(raw, bare, strict=False) if b["us_per_row"]]
    return {"rows": result.rows, "cases": cases, "iterate_time_ratio": st(ratios)}


def memory_markdown(memory: dict[str, Any]) -> list[str]:
    titles = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
    lines = ["## Memory: streaming a large result (each case in its own process)", "",
             "Peak RSS growth over the RSS just before the read, and time per row, into a 4-field Struct; "
             f"median (min{DASH}max).", "",
             "| dialect | rows | case | peak RSS growth (MB) | µs per row |", "|---|---|---|---|---|"]
    for dialect, entry in memory.items():
        s = entry["summary"]
        for case, c in s["cases"].items():
            lines.append(f"| {titles.get(dialect, dialect)} | {s['rows']:,} | {case} | {_cell(c['peak_growth_mb'])} | "
                         f"{_cell(c['us_per_row'])} |")
    lines.append("")
    return lines


def _cell(s: dict[str, float] | None) -> str:
    if not s:
        return DASH
    return f"{s['median']:.2f} ({s['min']:.2f}{DASH}{s['max']:.2f})" if s["median"] < 100 else \
        f"{s['median']:,.0f} ({s['min']:,.0f}{DASH}{s['max']:,.0f})"


# -- the subprocess ------------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Start the peak over from the current RSS (Linux: writing 5 to clear_refs resets VmHWM).

    getrusage's ru_maxrss would not do: it keeps the parent's high-water mark
    across fork and exec, so a child of a big benchmark process starts "peaked"."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # then VmHWM is the peak since exec, still this process's own


def _peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover - not Linux


async def _child(case: str, dialect: str, url: str, rows: int) -> dict[str, float]:
    if case.startswith("rawdb"):
        import rawdb

        pool = await rawdb.create_pool(url)
        try:
            async with pool.transaction(readonly=True) as tx:  # warm: connection, compiled SQL, mapper
                await tx.fetch_all(SQL + " WHERE id <= 10", into=Item)
            _reset_peak()
            before = _rss_bytes()
            start = time.perf_counter()
            count = total = 0
            async with pool.transaction(readonly=True) as tx:
                if case == "rawdb_iterate":
                    async for item in tx.iterate(SQL, into=Item):
                        count += 1
                        total += item.id
                else:
                    items = await tx.fetch_all(SQL, into=Item)
                    count = len(items)
                    total = sum(i.id for i in items)
            elapsed = time.perf_counter() - start
        finally:
            await pool.close()
    else:
        before, elapsed, count, total = await _bare_cursor(dialect, url)
    return {"rows": count, "checksum": total, "seconds": elapsed, "us_per_row": elapsed / max(count, 1) * 1e6,
            "rss_before_mb": before / 2**20, "peak_growth_mb": max(0, _peak_bytes() - before) / 2**20}


async def _bare_cursor(dialect: str, url: str) -> tuple[int, float, int, int]:
    count = total = 0
    if dialect == "sqlite":
        import aiosqlite

        fromiso = dt.datetime.fromisoformat
        db = await aiosqlite.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            await db.execute("PRAGMA query_only = ON")
            _reset_peak()
            before = _rss_bytes()
            start = time.perf_counter()
            async with db.execute(SQL) as cur:
                while rows := await cur.fetchmany(CHUNK):
                    for r in rows:
                        item = Item(r[0], r[1], r[2], fromiso(r[3] + "+00:00"))
                        count += 1
                        total += item.id
            elapsed = time.perf_counter() - start
        finally:
            await db.close()
    elif dialect == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            _reset_peak()
            before = _rss_bytes()
            start = time.perf_counter()
            async with conn.transaction(readonly=True):
                cur = await conn.cursor(SQL)
                while rows := await cur.fetch(CHUNK):
                    for r in rows:
                        item = Item(*r)
                        count += 1
                        total += item.id
            elapsed = time.perf_counter() - start
        finally:
            await conn.close()
    else:
        import aiomysql

        t = server_target(url)
        conn = await aiomysql.connect(host=t.host, port=t.port, user=t.user, password=t.password, db=t.database,
                                      charset="utf8mb4", init_command="SET time_zone = '+00:00'")
        try:
            _reset_peak()
            before = _rss_bytes()
            start = time.perf_counter()
            cur = await conn.cursor(aiomysql.SSCursor)
            await cur.execute(SQL)
            while rows := await cur.fetchmany(CHUNK):
                for r in rows:
                    item = Item(r[0], r[1], r[2], r[3].replace(tzinfo=UTC))
                    count += 1
                    total += item.id
            await cur.close()
            await conn.commit()
            elapsed = time.perf_counter() - start
        finally:
            conn.close()
    return before, elapsed, count, total


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        measured = asyncio.run(_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
        print(json.dumps(measured))
        sys.exit(0)
    print("run through python -m benchmarks --memory", file=sys.stderr)
    sys.exit(2)
