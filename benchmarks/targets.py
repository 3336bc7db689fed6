"""The issue's targets, evaluated on a run's summary.

A target is met when the median of the per-repetition ratios is within it
(DECISIONS.md); min-max is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    group: int  # the target number (1-4)
    dialect: str
    workload: str
    metric: str  # time_ratio | speedup | throughput_ratio | p99_ratio | lost_writes | lock_errors
    other: str  # the contender compared with
    op: str  # "<=" | ">="
    bound: float

    def describe(self) -> str:
        if self.metric == "time_ratio":
            return f"{self.workload} rawdb time / {self.other} time {self.op} {self.bound:g}"
        if self.metric == "speedup":
            return f"{self.workload} {self.other} time / rawdb time {self.op} {self.bound:g}"
        if self.metric == "throughput_ratio":
            return f"W5 rawdb throughput / {self.other} throughput {self.op} {self.bound:g}"
        if self.metric == "p99_ratio":
            return f"W5 rawdb p99 / {self.other} p99 {self.op} {self.bound:g}"
        return f"W5 {self.metric.replace('_', ' ')} of rawdb = 0"


def goals() -> list[Goal]:
    out: list[Goal] = []
    for d in ("sqlite", "mysql"):
        out += [Goal(1, d, w, "time_ratio", "bare", "<=", 1.05) for w in ("W1", "W2", "W3")]
    out += [Goal(1, "postgresql", "W1", "time_ratio", "bare", "<=", 0.85),
            Goal(1, "postgresql", "W2", "time_ratio", "bare", "<=", 0.85),
            Goal(1, "postgresql", "W3", "time_ratio", "bare", "<=", 1.10)]
    speedups = {"sqlite": (5.0, 2.5), "postgresql": (2.3, 2.4), "mysql": (2.0, 1.6)}
    for d, (w1, w3) in speedups.items():
        out += [Goal(2, d, "W1", "speedup", "sa_orm", ">=", w1), Goal(2, d, "W3", "speedup", "sa_orm", ">=", w3)]
    out += [Goal(3, d, "W4", "time_ratio", "bare", "<=", 1.2) for d in ("sqlite", "postgresql", "mysql")]
    out += [Goal(4, "sqlite", "W5", "throughput_ratio", "sa_orm", ">=", 5.0),
            Goal(4, "sqlite", "W5", "lock_errors", "", "<=", 0)]
    for d in ("postgresql", "mysql"):
        out += [Goal(4, d, "W5", "throughput_ratio", "bare", ">=", 0.95),
                Goal(4, d, "W5", "p99_ratio", "bare", "<=", 1.1)]
    out += [Goal(4, d, "W5", "lost_writes", "", "<=", 0) for d in ("sqlite", "postgresql", "mysql")]
    return out


def evaluate(summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per goal measured in this run: value, min-max, and whether it is met."""
    rows = []
    for g in goals():
        summary = summaries.get(g.dialect)
        if summary is None:
            continue
        stats = _measure(g, summary)
        if stats is None:
            continue  # workload or contender not part of this run
        value = stats["median"]
        met = value <= g.bound if g.op == "<=" else value >= g.bound
        rows.append({"group": g.group, "dialect": g.dialect, "workload": g.workload,
                     "target": g.describe(), "bound": g.bound, "op": g.op,
                     "measured": stats, "met": met})
    return rows


def _measure(g: Goal, summary: dict[str, Any]) -> dict[str, float] | None:
    if g.metric in ("time_ratio", "speedup"):
        wl = summary["workloads"].get(g.workload)
        if wl is None:
            return None
        key = "ratios_to_bare" if g.metric == "time_ratio" else "speedup_of_rawdb"
        return wl[key].get("rawdb" if g.metric == "time_ratio" else g.other)
    w5 = summary.get("w5")
    if not w5:
        return None
    if g.metric == "throughput_ratio":
        return w5["rawdb_throughput_ratio"].get(g.other)
    if g.metric == "p99_ratio":
        return w5["rawdb_p99_ratio"].get(g.other)
    rawdb = w5["contenders"].get("rawdb")
    if rawdb is None:
        return None
    total = float(rawdb["lost_writes_total" if g.metric == "lost_writes" else "lock_errors_total"])
    return {"median": total, "min": total, "max": total}
