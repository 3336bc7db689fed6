"""Cost as work grows: W3 (a list of N rows) and W4 (a bulk insert of N rows), rawdb and bare.

Per dialect, W3 lists one session of 10, 100, 1,000, 10,000 and 100,000 rows, W4
inserts 100 … 100,000 rows in one transaction; reported in µs per row, median and
min-max over the repetitions, with the paired ratio rawdb ÷ bare. The two
contenders take turns within each repetition; small sizes repeat the operation
within a sample (so a sample is not one timer tick), large sizes run fewer
repetitions (a 100,000-row insert is seconds).

    python -m benchmarks --curves [--all]     # also part of every --all run
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks import contenders as registry
from benchmarks.contenders.base import Contender
from benchmarks.data import bulk_dataset
from benchmarks.databases import bench_database, connect_admin
from benchmarks.progress import Progress
from benchmarks.runner import rotate, warm_up
from benchmarks.schema import create_schema

W3_SIZES = (10, 100, 1_000, 10_000, 100_000)
W4_SIZES = (100, 1_000, 10_000, 100_000)
QUICK_W3_SIZES = (10, 100, 1_000, 10_000)
QUICK_W4_SIZES = (100, 1_000, 10_000)
KEYS = ("rawdb", "bare")

DASH = "\u2013"  # en dash, for ranges
TIMES = "\u00d7"


def reps_for(rows: int, quick: bool) -> int:
    """Few repetitions where one operation is long (the 100,000-row cases take seconds)."""
    if quick:
        return 2
    return 5 if rows <= 1_000 else 3 if rows <= 10_000 else 2


def ops_for(rows: int) -> int:
    """Operations per W3 sample: about 20,000 rows' worth, so a 10-row list is timed 200 times."""
    return max(1, min(200, 20_000 // rows))


@dataclass
class CurveResult:
    dialect: str
    server: str = ""
    # workload → str(rows) → contender → µs per row, one value per repetition
    samples: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)


def steps(dialects: Sequence[str], quick: bool) -> int:
    w3 = QUICK_W3_SIZES if quick else W3_SIZES
    w4 = QUICK_W4_SIZES if quick else W4_SIZES
    per = sum(reps_for(n, quick) for n in w3) + sum(reps_for(n, quick) for n in w4)
    return len(dialects) * (1 + per * len(KEYS))


async def run_curves(dialect: str, url: str | None, quick: bool, progress: Progress) -> CurveResult:
    w3_sizes = QUICK_W3_SIZES if quick else W3_SIZES
    w4_sizes = QUICK_W4_SIZES if quick else W4_SIZES
    result = CurveResult(dialect=dialect)
    async with bench_database(dialect, url) as target:
        admin = await connect_admin(target)
        try:
            result.server = await admin.server_version()
            await create_schema(target, admin)
            seeder = registry.make("bare", target)
            await seeder.open(concurrent=False)
            try:
                for n in w3_sizes:  # one session per size, written by the fastest path, untimed
                    await seeder.bulk_insert(bulk_dataset(f"curve-{n}", rows=n))
            finally:
                await seeder.close()
            await admin.maintain()
            contenders = [registry.make(k, target) for k in KEYS]
            for c in contenders:
                await c.open(concurrent=False)
            try:
                warm = bulk_dataset("curve-warm", rows=200)
                for c in contenders:
                    await warm_up(c, warm, admin)
                progress.step(f"{dialect} curves: set up")
                result.samples["W3"] = await _w3(dialect, contenders, w3_sizes, quick, progress)
                result.samples["W4"] = await _w4(dialect, contenders, admin, w4_sizes, quick, progress)
            finally:
                for c in contenders:
                    await c.close()
        finally:
            await admin.close()
    return result


async def _w3(dialect: str, contenders: Sequence[Contender], sizes: Sequence[int], quick: bool,
              progress: Progress) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for n in sizes:
        per = out[str(n)] = {c.key: [] for c in contenders}
        ops = ops_for(n)
        session = f"curve-{n}"
        for rep in range(reps_for(n, quick)):
            for c in rotate(contenders, rep):
                label = f"{dialect} curve W3 {n:,} rows {c.key} (rep {rep + 1})"
                progress.show(label)
                gc.collect()
                start = time.perf_counter()
                for _ in range(ops):
                    listed = await c.list_session(session)
                elapsed = time.perf_counter() - start
                if len(listed) != n:
                    raise RuntimeError(f"{c.key} listed {len(listed)} rows of session {session}, expected {n}")
                del listed
                per[c.key].append(elapsed / (ops * n) * 1e6)
                progress.step(label)
    return out


async def _w4(dialect: str, contenders: Sequence[Contender], admin: Any, sizes: Sequence[int], quick: bool,
              progress: Progress) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for n in sizes:
        per = out[str(n)] = {c.key: [] for c in contenders}
        for rep in range(reps_for(n, quick)):
            for c in rotate(contenders, rep):
                label = f"{dialect} curve W4 {n:,} rows {c.key} (rep {rep + 1})"
                progress.show(label)
                session = f"curve-w4-{c.key}-{n}-{rep}"
                tasks = bulk_dataset(session, rows=n)
                gc.collect()
                start = time.perf_counter()
                await c.bulk_insert(tasks)
                elapsed = time.perf_counter() - start
                del tasks
                await admin.delete_session(session)
                per[c.key].append(elapsed / n * 1e6)
                progress.step(label)
    return out


def summarize_curves(result: CurveResult) -> dict[str, Any]:
    """workload → rows → {contender: stats, "ratio": stats of the paired rawdb ÷ bare}."""
    out: dict[str, Any] = {}
    for wl, by_size in result.samples.items():
        out[wl] = {}
        for n, per in by_size.items():
            entry: dict[str, Any] = {k: _stats(v) for k, v in per.items() if v}
            raw, bare = per.get("rawdb"), per.get("bare")
            if raw and bare:
                entry["ratio"] = _stats([a / b for a, b in zip(raw, bare, strict=False) if b])
            out[wl][n] = entry
    return out


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def curves_chart(curves: dict[str, Any], path: Any) -> str | None:
    """µs per row against rows (both log scale), one panel per dialect and workload."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'rawdb[bench]'): curves chart skipped"
    dialects = list(curves)
    if not dialects:
        return "no curves measured"
    fig, axes = plt.subplots(2, len(dialects), figsize=(5 * len(dialects), 7.5), squeeze=False)
    titles = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
    for col, dialect in enumerate(dialects):
        summary = curves[dialect]["summary"]
        for row, wl in enumerate(("W3", "W4")):
            ax = axes[row][col]
            by_size = summary.get(wl, {})
            sizes = sorted(by_size, key=int)
            for key, style in (("rawdb", "o-"), ("bare", "s--")):
                xs = [int(n) for n in sizes if key in by_size[n]]
                ys = [by_size[n][key]["median"] for n in sizes if key in by_size[n]]
                lo = [by_size[n][key]["median"] - by_size[n][key]["min"] for n in sizes if key in by_size[n]]
                hi = [by_size[n][key]["max"] - by_size[n][key]["median"] for n in sizes if key in by_size[n]]
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt=style, capsize=3, label=key)
            ax.set_xscale("log")
            ax.set_yscale("log")
            what = "list (W3)" if wl == "W3" else "bulk insert (W4)"
            ax.set_title(f"{titles.get(dialect, dialect)}: {what}", fontsize=10)
            ax.set_xlabel("rows")
            ax.set_ylabel("µs per row (log)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def curves_markdown(curves: dict[str, Any]) -> list[str]:
    titles = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
    lines = [f"## Cost as work grows (µs per row; median, min{DASH}max)", "",
             "W3: one session of N rows listed into `Task`; W4: N rows inserted in one transaction "
             "(rawdb `copy_records`, the bare driver's bulk path). Ratio: rawdb ÷ bare per repetition.", ""]
    for dialect, entry in curves.items():
        lines += [f"### {titles.get(dialect, dialect)}", "",
                  "| workload | rows | rawdb µs/row | bare µs/row | ratio rawdb ÷ bare |", "|---|---|---|---|---|"]
        for wl in ("W3", "W4"):
            for n, cell in sorted(entry["summary"].get(wl, {}).items(), key=lambda kv: int(kv[0])):
                lines.append(f"| {wl} | {int(n):,} | {_cell(cell.get('rawdb'))} | {_cell(cell.get('bare'))} | "
                             f"{_cell(cell.get('ratio'), TIMES)} |")
        lines.append("")
    return lines


def _cell(s: dict[str, float] | None, suffix: str = "") -> str:
    if not s:
        return DASH
    return f"{_num(s['median'])}{suffix} ({_num(s['min'])}{DASH}{_num(s['max'])})"


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
