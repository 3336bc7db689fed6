"""``rawdb.check()``: every named query, proved on a scratch database of each dialect.

For each dialect the runner builds the newest schema in a scratch database (see
`rawdb.checker.scratch`), then, for every named query of every query directory:
prepares it without running it (and once more with each paging fragment when a
caller pages it), compares its result columns with every Struct its rows fill,
and compares its ``:names`` with the parameters each caller passes. The UPDATEs
the code builds at run time are prepared too (`rawdb.checker.updates`). Dialects
run concurrently; each finding is reported once, with the dialects it occurs on.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import msgspec

import rawdb
from rawdb.checker.catalog import Catalog, QuerySource, load_catalog
from rawdb.checker.fit import fit
from rawdb.checker.probe import PrepareFailed, Probe, ResultColumn
from rawdb.checker.report import CannotCheck, CheckReport, DialectResult, Finding, merge_findings
from rawdb.checker.scratch import Scratch, scratch_database
from rawdb.checker.structs import resolve_struct
from rawdb.checker.updates import UpdateProbe
from rawdb.checker.usage import PAGING, PAGING_GROUP, CodeIndex, Usage, analyze_modules, store_modules
from rawdb.config import parse_url
from rawdb.errors import ConfigError, MigrationError, QueryError, RawDBError
from rawdb.migrations.discovery import STORE_MIGRATIONS, BundledSchema, MigrationSource
from rawdb.queries import QueryFileError, sql_root
from rawdb.sql import compile_sql

__all__ = ["Progress", "check"]

Progress = Callable[[str, int, int, str], None]
"""Called as ``progress(dialect, done, total, "group.query")`` while a dialect is checked."""

_STORE_MODELS = "rawdb.store.models"
_FILE_LINE = re.compile(r"^(?P<file>.+?\.sql)(?::(?P<line>\d+))?: ")


class _Target(NamedTuple):
    url: str | None
    label: str


class _Plan(NamedTuple):
    targets: list[_Target]
    migrations: MigrationSource
    catalogs: list[Catalog]
    analysed: set[Path]
    """Query directories whose callers were analysed (parameters, Structs, unused queries)."""
    usages: dict[tuple[str, str], list[Usage]]
    structs: dict[tuple[Path, str], type[msgspec.Struct]]
    """``-> Struct`` declarations resolved, by (file, Struct reference)."""
    findings: list[Finding]
    code_index: CodeIndex | None


async def check(
    urls: Sequence[str] = (),
    *,
    queries: Sequence[str | os.PathLike[str]] | None = None,
    migrations: MigrationSource | None = None,
    models: Sequence[str] = (),
    code: Sequence[str] = (),
    progress: Progress | None = None,
) -> CheckReport:
    """Check named queries against the newest schema on SQLite and on each server in ``urls``.

    Without ``queries`` the store's own queries (``sql/queries``) are checked against
    its bundled schema, with the parameters and Structs read from ``rawdb.store``.
    With ``queries`` (directories of ``-- name:`` files) name the schema too:
    ``migrations`` is a folder of ``vNNN_*.sql`` scripts (with ``sqlite/``,
    ``postgresql/`` and ``mysql/`` subfolders when they differ per dialect) or
    ``rawdb.store.MIGRATIONS``, which also adds the store's queries. ``models``
    are the modules where ``-- name: q -> Struct`` declarations are looked up;
    ``code`` the modules whose calls are analysed like the store's.

    Nothing is written anywhere but a scratch database that is removed afterwards
    (`rawdb.checker.scratch`). Raises `CannotCheck` when a database cannot be
    reached or the options are wrong; problems in the SQL are findings.
    """
    plan = _plan(urls, queries, migrations, models, code)
    outcomes = await asyncio.gather(
        *(_check_target(target, plan, progress) for target in plan.targets), return_exceptions=True
    )
    findings = list(plan.findings)
    results: list[DialectResult] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        result, found = outcome
        results.append(result)
        findings.extend(found)
    index = plan.code_index
    updating = {u.operation for u in index.updates} if index else set()
    return CheckReport(
        findings=merge_findings(findings),
        dialects=tuple(results),
        operations=len(index.operations) if index else 0,
        call_sites=len({(u.path, u.line) for u in index.usages}) if index else 0,
        runtime_sql=tuple(sorted(
            op for op, used in index.operations.items() if not used and op not in updating
        )) if index else (),
        update_sites=len({(u.path, u.line) for u in index.updates}) if index else 0,
    )


# -- what to check -------------------------------------------------------------------


def _plan(
    urls: Sequence[str],
    queries: Sequence[str | os.PathLike[str]] | None,
    migrations: MigrationSource | None,
    models: Sequence[str],
    code: Sequence[str],
) -> _Plan:
    targets = _targets(urls)
    labels = tuple(t.label for t in targets)
    store = (migrations is None and not queries) or isinstance(migrations, BundledSchema)
    if migrations is None and not store:
        raise CannotCheck(
            "name the schema the queries run on: migrations=<folder of vNNN_*.sql scripts> "
            "(CLI: --dir DIR) or rawdb.store.MIGRATIONS (--store)"
        )
    store_dir = (sql_root() / "queries").resolve()
    directories: list[Path] = [store_dir] if store else []
    for entry in queries or ():
        path = Path(entry).resolve()
        if not path.is_dir():
            raise CannotCheck(f"query directory {entry} does not exist")
        if path not in directories:
            directories.append(path)
    findings: list[Finding] = []
    catalogs: list[Catalog] = []
    for directory in directories:
        try:
            catalogs.append(load_catalog(directory))
        except QueryFileError as exc:
            findings.append(_file_finding(directory, str(exc), labels))
    modules = store_modules() if store else []
    for name in code:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise CannotCheck(f"cannot import {name} (--code): {exc}") from exc
    analysed = ({store_dir} if store else set()) | ({c.directory for c in catalogs} if code else set())
    known = {key for c in catalogs for key in c.queries("sqlite")}
    index = analyze_modules(modules, known) if modules else None
    usages: dict[tuple[str, str], list[Usage]] = {}
    if index is not None:
        for usage in index.usages:
            usages.setdefault((usage.group, usage.query), []).append(usage)
        findings.extend(_code_findings(index, catalogs, analysed, labels))
    model_modules = list(models) + ([_STORE_MODELS] if store and _STORE_MODELS not in models else [])
    structs, struct_findings = _declared_structs(catalogs, model_modules, labels)
    findings.extend(struct_findings)
    source = STORE_MIGRATIONS if store else migrations
    assert source is not None
    return _Plan(targets, source, catalogs, analysed, usages, structs, findings, index)


def _targets(urls: Sequence[str]) -> list[_Target]:
    targets = [_Target(None, "sqlite")]
    for url in urls:
        try:
            parsed, _ = parse_url(url)
        except ConfigError as exc:
            raise CannotCheck(str(exc)) from exc
        if parsed.dialect == "sqlite":
            continue  # SQLite is always checked, on a temporary file
        label = parsed.dialect
        if any(t.label == label for t in targets):
            label = f"{parsed.dialect}@{parsed.host or 'localhost'}:{parsed.port or ''}".rstrip(":")
        if any(t.label == label for t in targets):
            raise CannotCheck(f"{parsed.redacted()} is named twice")
        targets.append(_Target(url, label))
    return targets


def _code_findings(index: CodeIndex, catalogs: list[Catalog], analysed: set[Path],
                   labels: tuple[str, ...]) -> list[Finding]:
    findings = [
        Finding(_display(u.path), u.line, u.operation, labels, "usage",
                f"cannot tell {u.what}: pass a literal, a dict built in this module, or a module-level constant")
        for u in index.unresolved
    ]
    defined = {key for c in catalogs for key in c.queries("sqlite")}
    for usage in index.usages:
        if (usage.group, usage.query) not in defined:
            findings.append(Finding(_display(usage.path), usage.line, usage.operation, labels, "missing",
                                    f"runs {usage.group}.{usage.query}, which no query file defines"))
    used = {(u.group, u.query) for u in index.usages}
    if any(u.paged for u in index.usages):
        used |= {(PAGING_GROUP, name) for name in PAGING}
    for catalog in catalogs:
        if catalog.directory not in analysed:
            continue
        for key, source in catalog.queries("sqlite").items():
            if key not in used:
                findings.append(Finding(_display(source.path), source.line, ".".join(key), labels, "unused",
                                        f"no call in {', '.join(index.modules)} runs this query"))
    return findings


def _declared_structs(catalogs: list[Catalog], modules: list[str], labels: tuple[str, ...]
                      ) -> tuple[dict[tuple[Path, str], type[msgspec.Struct]], list[Finding]]:
    structs: dict[tuple[Path, str], type[msgspec.Struct]] = {}
    findings: list[Finding] = []
    for catalog in catalogs:
        for dialect_sources in catalog.by_dialect.values():
            for source in dialect_sources.values():
                if source.into is None or (source.path, source.into) in structs:
                    continue
                resolved = resolve_struct(source.into, modules)
                if isinstance(resolved, str):
                    findings.append(Finding(_display(source.path), source.line, f"{source.group}.{source.name}",
                                            labels, "struct", resolved))
                else:
                    structs[(source.path, source.into)] = resolved
    return structs, findings


def _file_finding(directory: Path, message: str, labels: tuple[str, ...]) -> Finding:
    match = _FILE_LINE.match(message)
    if match is None:
        return Finding(_display(directory), 0, "", labels, "file", message)
    line = int(match.group("line") or 0)
    return Finding(_display(Path(match.group("file"))), line, "", labels, "file", message[match.end():])


# -- one dialect ---------------------------------------------------------------------


async def _check_target(target: _Target, plan: _Plan, progress: Progress | None
                        ) -> tuple[DialectResult, list[Finding]]:
    started = time.monotonic()
    async with scratch_database(target.url) as scratch:
        findings = await _migrate(scratch, plan, target.label)
        if findings:
            return DialectResult(target.label, scratch.where, 0, 0, time.monotonic() - started), findings
        probe = await _open_probe(scratch)
        try:
            checker = _DialectCheck(target.label, scratch.dialect, probe, plan, progress)
            await checker.run()
        finally:
            await probe.close()
    elapsed = round(time.monotonic() - started, 3)
    result = DialectResult(target.label, scratch.where, checker.queries, checker.statements, elapsed,
                           updates=checker.updates)
    return result, checker.findings


async def _migrate(scratch: Scratch, plan: _Plan, label: str) -> list[Finding]:
    try:
        pool = await rawdb.create_pool(scratch.url, min_size=1, max_size=1, **scratch.options)
    except (RawDBError, OSError) as exc:
        raise CannotCheck(f"cannot connect to {scratch.parsed.redacted()}: {exc}") from exc
    source = plan.migrations
    if not isinstance(source, BundledSchema):
        per_dialect = Path(source) / scratch.dialect
        source = per_dialect if per_dialect.is_dir() else source
    try:
        await pool.migrate(source)
    except MigrationError as exc:
        folder = source.directory(scratch.dialect) if isinstance(source, BundledSchema) else Path(source)
        return [Finding(_display(folder), 0, "", (label,), "migration",
                        f"the scratch database could not be migrated, so no query was checked: {exc}")]
    except ConfigError as exc:
        raise CannotCheck(str(exc)) from exc
    finally:
        await pool.close()
    return []


async def _open_probe(scratch: Scratch) -> Probe:
    try:
        if scratch.dialect == "sqlite":
            from rawdb.checker.probe_sqlite import SQLiteProbe

            return SQLiteProbe(scratch.namespace)
        if scratch.dialect == "postgresql":
            from rawdb.checker.probe_postgresql import PostgresProbe

            return await PostgresProbe.open(scratch.parsed, scratch.namespace)
        from rawdb.checker.probe_mysql import MySQLProbe
        from rawdb.dialects.mysql import SQL_MODE

        return await MySQLProbe.open(scratch.parsed, scratch.namespace, SQL_MODE)
    except (OSError, ConnectionError) as exc:
        raise CannotCheck(f"cannot connect to {scratch.parsed.redacted()}: {exc}") from exc


class _DialectCheck:
    def __init__(self, label: str, dialect: str, probe: Probe, plan: _Plan, progress: Progress | None) -> None:
        self.label = label
        self.dialect = dialect
        self.probe = probe
        self.plan = plan
        self.progress = progress
        self.findings: list[Finding] = []
        self.queries = 0
        self.statements = 0
        self.updates = 0

    def add(self, source: QuerySource, line: int, kind: str, message: str) -> None:
        self.findings.append(Finding(_display(source.path), line, f"{source.group}.{source.name}",
                                     (self.label,), kind, message))

    async def run(self) -> None:
        todo = [(c, key) for c in self.plan.catalogs for key in c.queries(self.dialect)]
        fragments_used = False
        for done, (catalog, key) in enumerate(todo):
            if self.progress is not None:
                self.progress(self.label, done, len(todo), ".".join(key))
            sources = catalog.queries(self.dialect)
            usages = self.plan.usages.get(key, []) if catalog.directory in self.plan.analysed else []
            if key[0] == PAGING_GROUP and key[1] in PAGING and catalog.directory in self.plan.analysed:
                continue  # a fragment: checked where it is appended
            fragments_used |= await self.check_query(sources[key], usages, sources)
            self.queries += 1
        if fragments_used:
            self.queries += sum(
                1 for c in self.plan.catalogs if c.directory in self.plan.analysed
                for key in c.queries(self.dialect) if key[0] == PAGING_GROUP and key[1] in PAGING
            )
        await self.check_updates()
        if self.progress is not None:
            self.progress(self.label, len(todo), len(todo), "")

    async def check_updates(self) -> None:
        """Every UPDATE the analysed code builds at run time, as each operation can build it."""
        index = self.plan.code_index
        if index is None:
            return
        updates = UpdateProbe(self.probe, self.dialect)
        for usage in index.updates:
            for misfit in await updates.check(usage):
                path, line = (usage.path, usage.line) if misfit.at_call else (usage.built_at, usage.update.line)
                self.findings.append(Finding(_display(path), line, usage.operation, (self.label,),
                                             misfit.kind, misfit.message))
        self.statements += updates.statements
        self.updates = len(updates.updates)

    async def check_query(self, source: QuerySource, usages: list[Usage],
                          sources: dict[tuple[str, str], QuerySource]) -> bool:
        columns: tuple[ResultColumn, ...] | None = None
        prepared = False
        self.statements += 1
        try:
            columns = await self.probe.prepare(source.sql)
            prepared = True
        except PrepareFailed as exc:
            self.add(source, source.file_line(exc.line), "prepare", exc.message)
        paged = any(u.paged for u in usages)
        if paged and prepared:
            await self.check_paging(source, sources)
        if columns is not None:
            self.check_structs(source, usages, columns)
        self.check_parameters(source, usages, sources)
        return paged

    async def check_paging(self, source: QuerySource, sources: dict[tuple[str, str], QuerySource]) -> None:
        base_lines = source.sql.count("\n") + 1
        for name in PAGING:
            fragment = sources.get((PAGING_GROUP, name))
            if fragment is None:
                continue
            self.statements += 1
            try:
                await self.probe.prepare(f"{source.sql}\n{fragment.sql}")
            except PrepareFailed as exc:
                if exc.line is not None and exc.line > base_lines:
                    self.findings.append(Finding(
                        _display(fragment.path), fragment.file_line(exc.line - base_lines),
                        f"{PAGING_GROUP}.{name}", (self.label,), "prepare",
                        f"{exc.message} (appended to {source.group}.{source.name}, which is paged)",
                    ))
                else:
                    self.add(source, source.file_line(exc.line), "prepare",
                             f"{exc.message} (with {PAGING_GROUP}.{name} appended, as a paged call runs it)")

    def check_structs(self, source: QuerySource, usages: list[Usage], columns: tuple[ResultColumn, ...]) -> None:
        targets: dict[type[msgspec.Struct], list[str]] = {}
        for usage in usages:
            if usage.into is not None:
                targets.setdefault(usage.into, []).append(f"{_display(usage.path)}:{usage.line}")
        if source.into is not None and (source.path, source.into) in self.plan.structs:
            targets.setdefault(self.plan.structs[(source.path, source.into)], []).append("its -> declaration")
        for struct, where in sorted(targets.items(), key=lambda item: item[0].__qualname__):
            users = f" (rows mapped at {', '.join(sorted(set(where)))})"
            if not columns:
                self.add(source, source.line, "column", f"the statement returns no rows, but {struct.__name__} "
                         f"is filled from it{users}")
                continue
            for misfit in fit(struct, columns, self.dialect, source.sql):
                self.add(source, _line_of(source, misfit.message), misfit.kind, misfit.message + users)

    def check_parameters(self, source: QuerySource, usages: list[Usage],
                         sources: dict[tuple[str, str], QuerySource]) -> None:
        names = _names(source.sql)
        if names is None:
            return
        for usage in usages:
            variants: list[tuple[str, frozenset[str], frozenset[str]]] = [("", frozenset(), frozenset())]
            if usage.paged:
                for fragment, added in PAGING.items():
                    text = sources.get((PAGING_GROUP, fragment))
                    fragment_names = _names(text.sql) if text is not None else None
                    if fragment_names is not None:
                        variants.append((fragment, added, fragment_names))
            for fragment, added, fragment_names in variants:
                expected = names | fragment_names
                passed = {alternative | added for alternative in usage.params}
                if expected in passed:
                    continue
                closest = min(passed, key=lambda a: (len(a ^ expected), sorted(a)))
                self.add(source, _param_line(source, expected - closest), "parameter",
                         _parameter_message(usage, expected, closest, fragment))


def _names(sql: str) -> frozenset[str] | None:
    try:
        return compile_sql(sql, "qmark").name_set
    except QueryError:
        return None


def _parameter_message(usage: Usage, expected: frozenset[str], passed: frozenset[str], fragment: str) -> str:
    parts = []
    missing = sorted(expected - passed)
    unused = sorted(passed - expected)
    if missing:
        parts.append(f"{', '.join(':' + n for n in missing)} {'is' if len(missing) == 1 else 'are'} not passed")
    if unused:
        parts.append(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} passed but not in the SQL")
    where = f"{_display(usage.path)}:{usage.line} ({usage.operation})"
    paging = f" with {PAGING_GROUP}.{fragment} appended" if fragment else ""
    return f"{'; '.join(parts)}: {where} runs it{paging} with {', '.join(sorted(passed)) or 'no parameters'}"


def _param_line(source: QuerySource, missing: frozenset[str]) -> int:
    for name in sorted(missing):
        match = re.search(rf"(?<![:\w]):{re.escape(name)}(?![\w])", source.sql)
        if match:
            return source.file_line(source.sql.count("\n", 0, match.start()) + 1)
    return source.line


def _line_of(source: QuerySource, message: str) -> int:
    # "column 'x' …": the line where the statement names x, else the query's own line.
    match = re.match(r"column '([^']+)'", message)
    if match:
        found = re.search(rf"(?<![\w$]){re.escape(match.group(1))}(?![\w$])", source.sql)
        if found:
            return source.file_line(source.sql.count("\n", 0, found.start()) + 1)
    return source.line


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
