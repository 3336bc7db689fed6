"""A `CheckReport` for people (grouped by file) and for programs (JSON)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import msgspec

from rawdb.checker.report import CheckReport

__all__ = ["render_json", "render_text"]


def render_text(report: CheckReport) -> str:
    lines: list[str] = []
    for file, findings in groupby(report.findings, key=lambda f: f.file):
        lines.append(file)
        for f in findings:
            where = f"{f.line}: " if f.line else ""
            query = f"{f.query} " if f.query else ""
            lines.append(f"  {where}{query}[{', '.join(f.dialects)}] {f.kind}: {f.message}")
    if report.findings:
        lines.append("")
    for d in report.dialects:
        built = f" and {d.updates} UPDATEs built at run time" if d.updates else ""
        lines.append(f"{d.dialect}: {d.queries} queries{built} checked ({d.statements} statements prepared) "
                     f"in {d.seconds:.1f} s on {d.database}")
    if report.operations:
        built = f" and {report.update_sites} of built UPDATEs" if report.update_sites else ""
        lines.append(f"code: {report.call_sites} calls of named queries{built} in {report.operations} operations")
    if report.runtime_sql:
        lines.append(f"not checked (SQL built at run time): {', '.join(report.runtime_sql)}")
    count = len(report.findings)
    lines.append(f"{count} finding{'' if count == 1 else 's'}" if count else "no findings")
    return "\n".join(lines)


def render_json(report: CheckReport) -> str:
    document: dict[str, Any] = {"ok": report.ok, "exit_code": report.exit_code, **msgspec.to_builtins(report)}
    return msgspec.json.encode(document).decode()
