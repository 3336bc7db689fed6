"""Summaries, and the three outputs: JSON (everything), Markdown (tables), PNG (ratios)."""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.runner import DialectResult
from benchmarks.workloads import DESCRIPTIONS, SCALE, UNITS

DASH = "\u2013"  # en dash, for ranges
TIMES = "\u00d7"
DIALECT_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}


def stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _paired(a: Sequence[float], b: Sequence[float]) -> dict[str, float] | None:
    """Per-repetition ratios a/b (the samples of one repetition were taken moments apart)."""
    ratios = [x / y for x, y in zip(a, b, strict=False) if y]
    return stats(ratios) if ratios else None


def summarize(result: DialectResult) -> dict[str, Any]:
    workloads: dict[str, Any] = {}
    for wl, per_key in result.samples.items():
        scale = SCALE[wl]
        bare = per_key.get("bare")
        rawdb = per_key.get("rawdb")
        entry: dict[str, Any] = {
            "unit": UNITS[wl],
            "contenders": {k: stats([v * scale for v in vals]) for k, vals in per_key.items() if vals},
            "ratios_to_bare": {},
            "speedup_of_rawdb": {},
        }
        for key, vals in per_key.items():
            if bare and vals and (r := _paired(vals, bare)):
                entry["ratios_to_bare"][key] = r
            if rawdb and vals and key != "rawdb" and (r := _paired(vals, rawdb)):
                entry["speedup_of_rawdb"][key] = r
        workloads[wl] = entry
    return {"workloads": workloads, "w5": _summarize_w5(result) if result.w5 else None}


def _summarize_w5(result: DialectResult) -> dict[str, Any]:
    contenders: dict[str, Any] = {}
    for key, runs in result.w5.items():
        if not runs:
            continue
        errors: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for run in runs:
            errors.update(run.errors)
            for name, text in run.error_examples.items():
                examples.setdefault(name, text)
        contenders[key] = {
            "throughput": stats([r.throughput for r in runs]),
            "p50_ms": stats([r.p50_ms for r in runs]),
            "p99_ms": stats([r.p99_ms for r in runs]),
            "errors": dict(errors),
            "error_examples": examples,
            "lock_errors_total": sum(r.lock_errors for r in runs),
            "lost_writes_total": sum(r.lost_writes for r in runs),
            "lost_missing_total": sum(r.lost_missing for r in runs),
            "lost_wrong_state_total": sum(r.lost_wrong_state for r in runs),
            "acknowledged_total": sum(r.acknowledged_writes for r in runs),
            "ops_total": sum(r.ops for r in runs),
        }
    throughput: dict[str, Any] = {}
    p99: dict[str, Any] = {}
    inverse: dict[str, Any] = {}
    bare = result.w5.get("bare")
    if bare:
        for key, runs in result.w5.items():
            if runs and (r := _paired([x.throughput for x in bare], [x.throughput for x in runs])):
                inverse[key] = r  # bare throughput / this one's: like a time ratio
    rawdb = result.w5.get("rawdb")
    if rawdb:
        for key, runs in result.w5.items():
            if key == "rawdb" or not runs:
                continue
            if r := _paired([x.throughput for x in rawdb], [x.throughput for x in runs]):
                throughput[key] = r
            if r := _paired([x.p99_ms for x in rawdb], [x.p99_ms for x in runs]):
                p99[key] = r
    return {"contenders": contenders, "rawdb_throughput_ratio": throughput, "rawdb_p99_ratio": p99,
            "inverse_throughput_ratio_to_bare": inverse}


# -- JSON ---------------------------------------------------------------------------------------
def to_json(document: dict[str, Any]) -> bytes:
    def enc(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        raise TypeError(type(obj))

    raw = msgspec.json.encode(document, enc_hook=enc)
    return msgspec.json.format(raw, indent=1)


# -- Markdown -------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(s: dict[str, float] | None, suffix: str = "") -> str:
    if not s:
        return DASH
    return f"{_fmt(s['median'])}{suffix} ({_fmt(s['min'])}{DASH}{_fmt(s['max'])})"


def markdown(document: dict[str, Any]) -> str:
    meta = document["meta"]
    m = meta["machine"]
    reps = f"{meta['reps']} repetitions" if document["dialects"] else "W1-W5 not run"
    lines = [
        f"# rawdb benchmarks ({meta['mode']} run, {meta['finished']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with the database servers), "
        f"{m['memory_gib']} GiB; {m['platform']}; {m['python']}. rawdb {m['rawdb_commit']}"
        + (" (working tree modified)" if m.get("rawdb_tree_modified") else "") + ".",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".",
        f"Method: {reps}; contenders interleaved round robin within each "
        f"repetition (starting contender rotates); each cell is the median with min{DASH}max; ratios are "
        "taken per repetition, then summarised the same way. Load average before/after each dialect "
        "is in the JSON.",
        "",
        "## Targets",
        "",
        f"| # | dialect | target | measured: median (min{DASH}max) | met |",
        "|---|---|---|---|---|",
    ]
    misses = []
    for t in document["targets"]:
        met = DASH if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['group']} | {DIALECT_TITLES[t['dialect']]} | {t['target']} | "
                     f"{_cell(t['measured'])} | {met} |")
        if t["met"] is False:
            misses.append(f"- {DIALECT_TITLES[t['dialect']]} {t['target']} (measured {_fmt(t['measured']['median'])}): "
                          f"{t.get('cause') or 'not profiled'}")
    met_count = sum(1 for t in document["targets"] if t["met"])
    lines += ["", f"{met_count} of {len(document['targets'])} targets met."]
    if misses:
        lines += ["", "Missed, with the cause found by profiling:", "", *misses]
    for dialect, run in document["dialects"].items():
        lines += ["", *_dialect_section(dialect, run, document["summaries"][dialect])]
    if document.get("curves"):
        from benchmarks.curves import curves_markdown

        lines += ["", *curves_markdown(document["curves"])]
    if document.get("memory"):
        from benchmarks.memory import memory_markdown

        lines += ["", *memory_markdown(document["memory"])]
    if document.get("processes"):
        from benchmarks.processes import processes_markdown

        lines += ["", *processes_markdown(document["processes"]["summary"])]
    lines += ["", "Workloads:", ""]
    lines += [f"- **{wl}** {text}" for wl, text in DESCRIPTIONS.items()]
    return "\n".join(lines) + "\n"


def _dialect_section(dialect: str, run: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    labels = {k: v["label"] for k, v in run["contenders"].items()}
    keys = list(labels)
    head = "| workload | " + " | ".join(labels[k] for k in keys) + " |"
    rule = "|---|" + "---|" * len(keys)
    lines = [f"## {DIALECT_TITLES[dialect]} — {run['server']}", ""]
    if run.get("skipped"):
        lines += [f"Skipped: {', '.join(f'{k} ({why})' for k, why in run['skipped'].items())}.", ""]
    lines += ["Set-ups: " + "; ".join(f"{labels[k]}: {v['setup']}" for k, v in run["contenders"].items()), ""]
    loads = [x[0] for x in run.get("rep_load") or []] + [run["load_before"][0], run["load_after"][0]]
    lines += [f"1-minute load average during the run: {min(loads):.1f}{DASH}{max(loads):.1f} "
              "(cores shared with the database servers and other processes).", ""]
    bad = [k for k, v in run["typed_results"].items() if not v["equal"]]
    lines += [("Typed results: every contender returned exactly the written Tasks."
               if not bad else f"Typed results DIFFER for {', '.join(bad)} (see JSON)."), ""]
    workloads = summary["workloads"]
    if workloads:
        lines += ["Time per operation:", "", head, rule]
        for wl, entry in workloads.items():
            cells = [_cell(entry["contenders"].get(k)) for k in keys]
            lines.append(f"| {wl} ({entry['unit']}) | " + " | ".join(cells) + " |")
        lines += ["", "Ratio to the bare driver (time; below 1 is faster):", "", head, rule]
        for wl, entry in workloads.items():
            cells = [_cell(entry["ratios_to_bare"].get(k), TIMES) for k in keys]
            lines.append(f"| {wl} | " + " | ".join(cells) + " |")
    w5 = summary.get("w5")
    if w5:
        lines += ["", "W5 (64 tasks, fixed time; lost writes counted in the database):", "",
                  "| contender | throughput (ops/s) | p50 (ms) | p99 (ms) | errors | lost writes / acknowledged |",
                  "|---|---|---|---|---|---|"]
        for key, c in w5["contenders"].items():
            errors = ", ".join(f"{n}{TIMES} {name}" for name, n in c["errors"].items()) or "0"
            lines.append(f"| {labels.get(key, key)} | {_cell(c['throughput'])} | {_cell(c['p50_ms'])} | "
                         f"{_cell(c['p99_ms'])} | {errors} | {c['lost_writes_total']} / "
                         f"{c['acknowledged_total']} |")
    return lines


# -- PNG ------------------------------------------------------------------------------------------
def chart(document: dict[str, Any], path: Path) -> str | None:
    """Ratios to the bare driver, log scale; returns why it was skipped, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "matplotlib is not installed (pip install 'rawdb[bench]'): chart skipped"
    dialects = list(document["dialects"])
    fig, axes = plt.subplots(1, len(dialects), figsize=(5.5 * len(dialects), 4.5), squeeze=False)
    for ax, dialect in zip(axes[0], dialects, strict=True):
        run = document["dialects"][dialect]
        summary = document["summaries"][dialect]
        keys = list(run["contenders"])
        groups: list[tuple[str, dict[str, dict[str, float]]]] = [
            (wl, entry["ratios_to_bare"]) for wl, entry in summary["workloads"].items()]
        if summary.get("w5") and summary["w5"].get("inverse_throughput_ratio_to_bare"):
            groups.append(("W5 (1/throughput)", summary["w5"]["inverse_throughput_ratio_to_bare"]))
        width = 0.8 / max(len(keys), 1)
        for i, key in enumerate(keys):
            xs, ys, lo, hi = [], [], [], []
            for g, (_, ratios) in enumerate(groups):
                r = ratios.get(key)
                if r:
                    xs.append(g + (i - (len(keys) - 1) / 2) * width)
                    ys.append(r["median"])
                    lo.append(r["median"] - min(r["min"], r["median"]))
                    hi.append(max(r["max"], r["median"]) - r["median"])
            ax.bar(xs, ys, width, yerr=[lo, hi], label=run["contenders"][key]["label"], capsize=2)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: f"{y:g}" if f"{y:.0e}"[0] in "235" else ""))
        ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
        ax.set_title(f"{DIALECT_TITLES[dialect]}: time ratio to the bare driver")
        ax.set_ylabel("ratio (log scale, lower is faster)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
