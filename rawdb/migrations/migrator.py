"""`Migrator`: discover, check, lock, apply, record, report.

The order of a run is the point of this module:

1. discover and split every script (a bad folder or an unterminated string
   fails here, before any connection is opened);
2. take the lock on a dedicated connection (closed afterwards, so a failed run
   never leaves it held);
3. read the state in one snapshot and refuse, with a message saying what to
   do, when the database is dirty, newer than the scripts, drifted, or holds
   tables its version does not account for (the old runner's leftovers);
4. apply each pending script (atomically where the dialect allows), re-reading
   the version under the lock each time so concurrent migrators apply each
   script exactly once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rawdb.errors import DirtyDatabase, MigrationDrift, MigrationError
from rawdb.migrations.base import HISTORY_TABLE, Backend, DbState, HistoryRow, progress_checksum
from rawdb.migrations.discovery import BundledSchema, MigrationSource, Script, discover, resolve_directory
from rawdb.migrations.errors import ForeignHistory
from rawdb.migrations.legacy import conflicts, created_objects, unrecognised_state
from rawdb.migrations.ownership import Owner, folder_owner, ownership_error
from rawdb.migrations.report import (
    AppliedScript,
    BaselineReport,
    MigrationReport,
    PlannedScript,
    ProgressEvent,
    RepairReport,
    ScriptState,
    ScriptStatus,
    StatusReport,
)
from rawdb.migrations.shape import compare
from rawdb.migrations.splitter import Statement
from rawdb.migrations.sqlite import foreign_keys_pragma

if TYPE_CHECKING:
    from rawdb.pool import Pool
    from rawdb.session import Connection

log = logging.getLogger("rawdb.migrations")

DEFAULT_LOCK_TIMEOUT = 60.0
Progress = Callable[[ProgressEvent], None]
_ACCEPT = re.compile(r"^v?(\d+)(?:_.*)?(?:\.sql)?$", re.IGNORECASE)


def make_backend(conn: Connection, *, lock_timeout: float, busy_timeout: float = 5.0) -> Backend:
    """The backend for the connection's dialect (imports only the one needed)."""
    name = conn.dialect.name
    backend: type[Backend]
    if name == "sqlite":
        from rawdb.migrations.sqlite import SQLiteBackend as backend
    elif name == "postgresql":
        from rawdb.migrations.postgresql import PostgresBackend as backend
    elif name == "mysql":
        from rawdb.migrations.mysql import MySQLBackend as backend
    else:  # pragma: no cover - the pool only builds these three
        raise MigrationError(f"no migration backend for dialect {name!r}")
    return backend(conn, lock_timeout=lock_timeout, busy_timeout=busy_timeout)


def parse_accept(accept: int | str | Iterable[int | str] | None) -> list[int]:
    """``5``, ``"v005"``, ``"005"``, ``"v005_name.sql"`` or a list of them -> versions."""
    if accept is None:
        return []
    items: Iterable[int | str] = [accept] if isinstance(accept, (int, str)) else accept
    versions: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise MigrationError(f"cannot accept {item!r}: name a version such as v005")
        if isinstance(item, int):
            versions.append(item)
            continue
        m = _ACCEPT.match(str(item).strip())
        if m is None:
            raise MigrationError(f"cannot accept {item!r}: name a version such as v005 or 5")
        versions.append(int(m.group(1)))
    return sorted(set(versions))


class Migrator:
    """Ordered SQL migrations for one pool.

    ``directory`` is the application's folder of ``vNNN_description.sql``
    scripts, or ``rawdb.store.MIGRATIONS`` for rawdb's bundled application
    schema (``sql/migrations/<dialect>`` in the package). It must be named:
    without it `ConfigError` says how. The history a folder writes belongs to
    it; other folders' scripts are refused (`ForeignHistory`). ``lock_timeout``
    (seconds) bounds the wait for another migrator (`MigrationLocked`).
    ``progress`` is called before and after each script (the CLI prints it).
    """

    def __init__(
        self,
        pool: Pool,
        directory: MigrationSource | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        progress: Progress | None = None,
    ) -> None:
        self.pool = pool
        self.dialect = pool.dialect.name
        self.source = directory
        self.directory = resolve_directory(directory, self.dialect)
        self.lock_timeout = lock_timeout
        self.progress = progress

    def __repr__(self) -> str:
        return f"<rawdb.Migrator {self.dialect} {self.directory}>"

    # -- helpers -------------------------------------------------------------------
    def scripts(self) -> tuple[list[Script], dict[int, list[Statement]]]:
        """Discover and split every script now: a broken folder fails before any SQL runs."""
        scripts = discover(self.directory)
        return scripts, {s.version: s.statements(self.dialect) for s in scripts}

    def _backend(self, conn: Connection) -> Backend:
        busy = float(getattr(self.pool.options, "busy_timeout", 5.0))
        return make_backend(conn, lock_timeout=self.lock_timeout, busy_timeout=busy)

    def _deadline(self) -> float:
        return time.monotonic() + self.lock_timeout

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def _foreign(
        self,
        state: DbState,
        scripts: Sequence[Script],
        statements: dict[int, list[Statement]],
        *,
        adopting: bool = False,
    ) -> ForeignHistory | None:
        """Why this folder may not act on the database's history (None: it may)."""
        by_version = {s.version: s for s in scripts}
        applied: list[tuple[int, str, str]] = []
        matched = False
        for row in state.history.values():
            if not row.success and row.statements_done == 0:
                continue  # nothing of it ran: it proves no ownership either way
            applied.append((row.version, row.name, row.checksum))
            script = by_version.get(row.version)
            if script is None:
                continue
            if script.checksum == row.checksum:
                matched = True
            elif not row.success:
                done = statements[script.version][: row.statements_done]
                matched = matched or (
                    len(done) == row.statements_done and progress_checksum(done) == row.progress_checksum
                )
        return ownership_error(
            recorded=state.owner,
            applied=applied,
            matched=matched,
            user_version_only=state.version if self.dialect == "sqlite" and not state.has_history else 0,
            scripts=scripts,
            directory=self.directory,
            dialect=self.dialect,
            adopting=adopting,
        )

    @staticmethod
    def _owner_to_record(state: DbState, scripts: Sequence[Script]) -> Owner | None:
        """The owner row to write with the next history row: when none is recorded, or
        when the owner's own first script was legitimately changed (see `_foreign`)."""
        mine = folder_owner(scripts)
        if mine is None or (state.owner is not None and state.owner.checksum == mine.checksum):
            return None
        return mine

    def _refusals(
        self, state: DbState, scripts: Sequence[Script], statements: dict[int, list[Statement]]
    ) -> list[MigrationError]:
        """Everything that makes ``migrate`` refuse, in the order it is reported."""
        foreign = self._foreign(state, scripts, statements)
        if foreign is not None:
            return [foreign]  # drift, dirt and versions mean nothing against another folder
        errors: list[MigrationError] = []
        by_version = {s.version: s for s in scripts}
        latest = scripts[-1] if scripts else None
        partial = state.partial
        if partial is not None and partial.dirty:
            d = partial.dirty_state()
            hint = (
                " (check that no other migrator is still running it, and whether it took effect)"
                if d.error is None
                else ""
            )
            errors.append(
                DirtyDatabase(
                    f"the database is dirty: {d.describe()}. migrate refuses to run until an "
                    "operator has "
                    f"fixed the schema{hint} and run `rawdb repair` (Migrator.repair()); "
                    "migrate then "
                    f"resumes {d.name} at statement {d.failed_statement}."
                )
            )
        if state.version > (latest.version if latest else 0):
            newest = f"{latest.name}" if latest else "none"
            errors.append(
                MigrationError(
                    f"the database is at version {state.version}, newer than the newest script in "
                    f"{self.directory} ({newest}): it was migrated by a newer release. Run that "
                    "release; "
                    "rawdb never migrates a database down."
                )
            )
        drift: list[str] = []
        accept: list[str] = []
        for row in state.history.values():
            if not row.success or (latest is not None and row.version > latest.version):
                continue
            script = by_version.get(row.version)
            if script is None:
                drift.append(f"{row.name} was applied (checksum {row.checksum}) but is gone from {self.directory}")
                accept.append(f"v{row.version:03d}")
            elif script.checksum != row.checksum:
                renamed = f" (recorded as {row.name})" if row.name != script.name else ""
                drift.append(
                    f"{script.name}{renamed} changed since it was applied: recorded "
                    f"checksum {row.checksum}, file now {script.checksum}"
                )
                accept.append(f"v{row.version:03d}")
        if drift:
            listing = "\n  - ".join(drift)
            flags = " ".join(f"--accept {v}" for v in accept)
            errors.append(
                MigrationDrift(
                    f"applied migration scripts changed:\n  - {listing}\nRestore the original "
                    "file, or "
                    f"if the edit is intentional accept it with `rawdb repair {flags}` "
                    f"(Migrator.repair(accept=[{', '.join(repr(v) for v in accept)}]))."
                )
            )
        if partial is not None and not partial.dirty:
            script = by_version.get(partial.version)
            if script is None:
                errors.append(
                    MigrationDrift(
                        f"{partial.name} was partly applied ({partial.statements_done} "
                        "statements) and "
                        f"its file is gone from {self.directory}; restore it to resume."
                    )
                )
            else:
                done = statements[script.version][: partial.statements_done]
                if progress_checksum(done) != partial.progress_checksum:
                    errors.append(
                        MigrationDrift(
                            f"the first {partial.statements_done} statements of {script.name} ran "
                            "before the repair, and they are no longer the same in the file; "
                            "restore "
                            "them (fix only statements after them) so the script can resume."
                        )
                    )
        return errors

    async def _legacy_error(
        self,
        backend: Backend,
        state: DbState,
        pending: Sequence[Script],
        statements: dict[int, list[Statement]],
    ) -> MigrationError | None:
        partial = state.partial
        items = []
        for script in pending:
            skip = partial.statements_done if partial is not None and partial.version == script.version else 0
            items.append((script, statements[script.version][skip:]))
        created, touched = created_objects(items)
        if not created:
            return None
        tables = await backend.tables()
        columns = await backend.columns(touched & tables)
        present = conflicts(created, tables, columns)
        if not present:
            return None
        return unrecognised_state(
            dialect=self.dialect,
            version=state.version,
            has_history=state.has_history,
            created=created,
            present=present,
            folder_flag="--store" if isinstance(self.source, BundledSchema) else "--dir DIR",
        )

    def _planned(self, backend: Backend, script: Script, statements: list[Statement], state: DbState) -> PlannedScript:
        partial = state.partial
        resume = partial.statements_done + 1 if partial is not None and partial.version == script.version else 1
        return PlannedScript(
            version=script.version,
            name=script.name,
            checksum=script.checksum,
            statements=len(statements),
            transactional=script.transactional and backend.atomic,
            resume_at=resume,
        )

    def _without_noop_pragmas(
        self, script: Script, statements: list[Statement], warnings: list[str]
    ) -> list[Statement]:
        """SQLite ignores ``PRAGMA foreign_keys`` inside a transaction: warn, skip, go on."""
        kept: list[Statement] = []
        for statement in statements:
            value = foreign_keys_pragma(statement)
            if value is None:
                kept.append(statement)
                continue
            if value in ("ON", "1", "TRUE", "YES"):
                note = (
                    f"{script.name} statement {statement.index} (line {statement.line}): "
                    "PRAGMA foreign_keys has no effect inside the migration transaction; "
                    "skipped (rawdb connections already enforce foreign keys)"
                )
                log.info("%s", note)
            else:
                note = (
                    f"{script.name} statement {statement.index} (line {statement.line}): "
                    f"PRAGMA foreign_keys = {value} has no effect inside the migration "
                    "transaction, so foreign keys stay enforced while this script runs; "
                    "mark the script `-- rawdb: no-transaction` if it must run without them"
                )
                log.warning("%s", note)
            warnings.append(note)
        return kept

    @staticmethod
    def _target(target: int | None, scripts: Sequence[Script], directory: Path) -> int:
        latest = scripts[-1].version if scripts else 0
        if target is None:
            return latest
        if isinstance(target, bool) or not isinstance(target, int):
            raise MigrationError(f"target must be a version number, got {target!r}")
        if target < 0:
            raise MigrationError(f"target must be >= 0, got {target}")
        if target > latest:
            raise MigrationError(f"target version {target} has no script in {directory}: the newest is {latest}")
        return target

    # -- public API ------------------------------------------------------------------
    async def version(self) -> int:
        """The current schema version (SQLite ``user_version``); read errors propagate.

        `ForeignHistory` if the history belongs to another folder.
        """
        return await schema_version(self.pool, self.source)

    async def plan(self, target: int | None = None) -> MigrationReport:
        """What `apply` would do, without writing anything (a dry run)."""
        return await self.apply(target, dry_run=True)

    async def apply(self, target: int | None = None, *, dry_run: bool = False) -> MigrationReport:
        """Apply pending scripts up to ``target`` (default: the newest).

        Raises `DirtyDatabase`, `MigrationDrift`, `MigrationLocked`, or
        `MigrationError` (failed statement: `MigrationScriptError`; unrecognised
        old database: `UnrecognisedState`; a target below the current version; a
        database newer than the scripts).
        """
        scripts, statements = self.scripts()
        target_version = self._target(target, scripts, self.directory)
        warnings: list[str] = []
        applied: list[AppliedScript] = []
        planned: list[PlannedScript] = []
        before: int | None = None
        after = 0
        deadline = self._deadline()
        async with self.pool.dedicated_connection() as conn:
            backend = self._backend(conn)
            async with backend.session_lock(deadline):
                if not dry_run:
                    await backend.ensure_history()
                while True:
                    next_script: tuple[Script, HistoryRow | None, int] | None = None
                    done_here: tuple[Script, float] | None = None
                    async with backend.snapshot(deadline, write=not dry_run):
                        state = await backend.read_state()
                        refusals = self._refusals(state, scripts, statements)
                        if refusals:
                            raise refusals[0]
                        backend.pending_owner = self._owner_to_record(state, scripts)
                        if target_version < state.version:
                            raise MigrationError(
                                f"target version {target_version} is below the current version "
                                f"{state.version}: migrations only move forward (restore a backup "
                                "to go back)"
                            )
                        pending = [s for s in scripts if state.version < s.version <= target_version]
                        if before is None:
                            before = state.version
                            planned = [self._planned(backend, s, statements[s.version], state) for s in pending]
                            if pending:
                                legacy = await self._legacy_error(backend, state, pending, statements)
                                if legacy is not None:
                                    raise legacy
                        after = state.version
                        if dry_run or not pending:
                            break
                        script = pending[0]
                        partial = state.partial
                        resume = partial if partial is not None and partial.version == script.version else None
                        if script.transactional and backend.atomic_in_snapshot and resume is None:
                            self._emit(
                                ProgressEvent(
                                    "start",
                                    script.version,
                                    script.name,
                                    len(statements[script.version]),
                                )
                            )
                            run = self._without_noop_pragmas(script, statements[script.version], warnings)
                            duration = await backend.apply_in_snapshot(script, run, state.version)
                            done_here = (script, duration)
                        else:
                            next_script = (script, resume, state.version)
                    if done_here is not None:
                        self._done(done_here[0], statements, done_here[1], backend, applied)
                        continue
                    assert next_script is not None
                    script, resume, version_before = next_script
                    count = len(statements[script.version])
                    self._emit(ProgressEvent("start", script.version, script.name, count))
                    if script.transactional and backend.atomic and resume is None:
                        duration_ms: float | None = await backend.apply_atomic(
                            script, statements[script.version], version_before
                        )
                    else:
                        duration_ms = await backend.apply_tracked(
                            script,
                            statements[script.version],
                            version_before=version_before,
                            resume=resume,
                            deadline=deadline,
                        )
                    if duration_ms is not None:
                        self._done(script, statements, duration_ms, backend, applied)
        return MigrationReport(
            dialect=self.dialect,
            directory=str(self.directory),
            before=before or 0,
            after=after,
            target=target_version,
            dry_run=dry_run,
            planned=planned,
            applied=applied,
            warnings=warnings,
        )

    def _done(
        self,
        script: Script,
        statements: dict[int, list[Statement]],
        duration_ms: float,
        backend: Backend,
        applied: list[AppliedScript],
    ) -> None:
        count = len(statements[script.version])
        log.info("applied %s (%d statements) in %.1f ms", script.name, count, duration_ms)
        applied.append(
            AppliedScript(
                version=script.version,
                name=script.name,
                checksum=script.checksum,
                statements=count,
                duration_ms=round(duration_ms, 3),
                transactional=script.transactional and backend.atomic,
            )
        )
        self._emit(ProgressEvent("done", script.version, script.name, count, round(duration_ms, 3)))

    async def status(self) -> StatusReport:
        """Version, every script's state, and every reason ``migrate`` would refuse.

        Reads only (a snapshot, no lock): safe on a live database, and it never
        creates the history table.
        """
        scripts, statements = self.scripts()
        by_version = {s.version: s for s in scripts}
        async with self.pool.dedicated_connection() as conn:
            backend = self._backend(conn)
            async with backend.snapshot(self._deadline(), write=False):
                state = await backend.read_state()
                problems = [str(e) for e in self._refusals(state, scripts, statements)]
                pending = [s for s in scripts if s.version > state.version]
                if pending and not problems:
                    legacy = await self._legacy_error(backend, state, pending, statements)
                    if legacy is not None:
                        problems.append(str(legacy))
        entries: list[ScriptStatus] = []
        for script in scripts:
            row = state.history.get(script.version)
            if row is not None and row.success:
                state_name: ScriptState = "applied" if row.checksum == script.checksum else "drifted"
                entries.append(
                    ScriptStatus(
                        script.version,
                        script.name,
                        state_name,
                        script.checksum,
                        row.checksum,
                        row.applied_at,
                        row.duration_ms,
                    )
                )
            elif row is not None:
                entries.append(
                    ScriptStatus(
                        script.version,
                        script.name,
                        "partial",
                        script.checksum,
                        row.checksum,
                        row.applied_at,
                        None,
                    )
                )
            elif script.version <= state.version:
                entries.append(ScriptStatus(script.version, script.name, "applied-untracked", script.checksum))
            else:
                entries.append(ScriptStatus(script.version, script.name, "pending", script.checksum))
        for version, row in sorted(state.history.items()):
            if version not in by_version:
                entries.append(
                    ScriptStatus(
                        version,
                        row.name,
                        "missing",
                        None,
                        row.checksum,
                        row.applied_at,
                        row.duration_ms,
                    )
                )
        partial = state.partial
        return StatusReport(
            dialect=self.dialect,
            directory=str(self.directory),
            version=state.version,
            latest=scripts[-1].version if scripts else 0,
            scripts=entries,
            dirty=partial.dirty_state() if partial is not None else None,
            problems=problems,
        )

    async def repair(self, accept: int | str | Iterable[int | str] | None = None) -> RepairReport:
        """Clear a dirty mark (after the operator fixed the schema) and/or accept edits.

        ``accept`` names applied scripts whose changed file is intentional: the
        recorded checksum is replaced by the file's. Nothing else is touched.
        """
        scripts, statements = self.scripts()
        by_version = {s.version: s for s in scripts}
        versions = parse_accept(accept)
        deadline = self._deadline()
        accepted: list[ScriptStatus] = []
        async with self.pool.dedicated_connection() as conn:
            backend = self._backend(conn)
            async with backend.session_lock(deadline), backend.snapshot(deadline, write=True):
                state = await backend.read_state()
                foreign = self._foreign(state, scripts, statements)
                if foreign is not None:
                    raise foreign
                for version in versions:
                    row = state.history.get(version)
                    script = by_version.get(version)
                    if row is None or not row.success:
                        raise MigrationError(
                            f"cannot accept v{version:03d}: it has no recorded checksum (not "
                            "applied "
                            "by rawdb, or not applied at all); nothing was changed"
                        )
                    if script is None:
                        raise MigrationError(
                            f"cannot accept v{version:03d}: no file has that version in "
                            f"{self.directory}; restore {row.name}; nothing was changed"
                        )
                    if row.checksum != script.checksum or row.name != script.name:
                        await conn.execute(
                            f"UPDATE {HISTORY_TABLE} SET checksum = :checksum, name = :name WHERE version = :version",
                            {"checksum": script.checksum, "name": script.name, "version": version},
                        )
                    accepted.append(
                        ScriptStatus(
                            version,
                            script.name,
                            "applied",
                            script.checksum,
                            row.checksum,
                            row.applied_at,
                            row.duration_ms,
                        )
                    )
                owner = self._owner_to_record(state, scripts) if accepted else None
                if owner is not None:
                    await backend.write_owner(conn, owner)
                cleared = None
                partial = state.partial
                if partial is not None and partial.dirty:
                    await conn.execute(
                        f"UPDATE {HISTORY_TABLE} SET dirty = :no WHERE version = :version",
                        {"no": False, "version": partial.version},
                    )
                    cleared = partial.dirty_state()
                    log.warning("repair: cleared the dirty mark of %s", partial.name)
        return RepairReport(dirty_cleared=cleared, accepted=accepted)

    async def baseline(self, version: int) -> BaselineReport:
        """Adopt a database whose schema is at ``version`` but whose record says otherwise.

        Checks that every table and column of ``version`` (as the scripts build
        it on a scratch database) exists, then records ``version`` (SQLite:
        ``user_version`` too). Never drops data.

        On SQLite it also makes the schema what it records, in the same
        transaction (`rawdb.migrations.sqlite_conform`): the data fixes
        (``UPDATE``/``DELETE``) of the scripts it records without running them
        are run, tables whose columns, defaults or CHECKs differ from the
        scripts' are rebuilt with every row (and every extra column) kept, and
        missing indexes and triggers are created, so that a file the old
        system's fallback made is writable and correct afterwards. On
        PostgreSQL and MySQL it checks and records only. The report lists what
        was repaired and the differences that remain (on SQLite: what the
        scripts do not define, kept on purpose).
        """
        scripts, statements = self.scripts()
        latest = scripts[-1].version if scripts else 0
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= latest:
            raise MigrationError(f"baseline version must be between 1 and {latest}, got {version!r}")
        deadline = self._deadline()
        async with self.pool.dedicated_connection() as conn:
            backend = self._backend(conn)
            async with backend.session_lock(deadline):
                expected = await backend.expected_shape([(s, statements[s.version]) for s in scripts[:version]])
                await backend.ensure_history()
                async with backend.conforming(), backend.snapshot(deadline, write=True):
                    state = await backend.read_state()
                    partial = state.partial
                    if partial is not None:
                        raise DirtyDatabase(
                            f"cannot baseline: {partial.dirty_state().describe()}; finish or repair that first"
                        )
                    foreign = self._foreign(state, scripts, statements, adopting=True)
                    if foreign is not None:
                        raise foreign
                    if state.version > version:
                        raise MigrationError(
                            f"cannot baseline to {version}: the database is already at version {state.version}"
                        )
                    actual = await backend.actual_shape()
                    blocking, differences = compare(expected, actual, version)
                    if blocking:
                        raise MigrationError(
                            f"cannot baseline to v{version:03d}: the database lacks what that "
                            "version "
                            f"has: {'; '.join(blocking)}. Nothing was recorded."
                        )
                    chosen = [(s, statements[s.version]) for s in scripts[:version]]
                    skipped = [
                        (s, run) for s, run in chosen if s.version > state.version and s.version not in state.history
                    ]
                    repaired = await backend.conform(
                        chosen, skipped, version=version, expected=expected, actual=actual
                    )
                    if repaired:
                        _, differences = compare(expected, await backend.actual_shape(), version)
                    await backend.ensure_history_in_snapshot()
                    backend.pending_owner = self._owner_to_record(state, scripts)
                    for script in scripts[:version]:
                        if script.version in state.history:
                            continue
                        await backend.record(
                            conn,
                            script,
                            success=True,
                            duration_ms=0.0,
                            statements_done=len(statements[script.version]),
                            method="baseline",
                        )
                    await backend.set_version(conn, version)
        log.warning(
            "baseline: recorded version %d (was %d); %d repair(s); %d difference(s) from the scripts' schema remain",
            version,
            state.version,
            len(repaired),
            len(differences),
        )
        return BaselineReport(before=state.version, version=version, differences=differences, repaired=repaired)


async def schema_version(pool: Pool, directory: MigrationSource | None = None) -> int:
    """``pool.schema_version()``: the recorded schema version; errors reading it propagate
    (an unreadable file is an error, never "version 0").

    With ``directory``, also checks that the history belongs to that folder
    (`ForeignHistory` otherwise): a health check that the version means what
    the application's scripts say it means.
    """
    if directory is None:
        async with pool.connection() as conn:
            backend = make_backend(conn, lock_timeout=DEFAULT_LOCK_TIMEOUT)
            return await backend.read_version()
    migrator = Migrator(pool, directory)
    scripts, statements = migrator.scripts()
    async with pool.connection() as conn:
        backend = make_backend(conn, lock_timeout=DEFAULT_LOCK_TIMEOUT)
        state = await backend.read_state()
    foreign = migrator._foreign(state, scripts, statements)
    if foreign is not None:
        raise foreign
    return state.version


async def migrate_pool(
    pool: Pool,
    directory: MigrationSource | None = None,
    *,
    target: int | None = None,
    dry_run: bool = False,
    lock_timeout: float | None = None,
) -> MigrationReport:
    """``pool.migrate(directory)``: apply the scripts of ``directory`` (see `Migrator`)."""
    timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    return await Migrator(pool, directory, lock_timeout=timeout).apply(target, dry_run=dry_run)
