"""``rawdb`` command line: migrate, status, repair, baseline, reencrypt; check and new
(`rawdb.checker.command`).

A thin adapter over `rawdb.Migrator` for deploy scripts and operators: each
command opens a small pool, runs one Migrator call, prints what happened and
exits 0 on success, 1 with a readable message on a database or migration
error (no traceback), 2 on a usage error. ``status`` also exits 1 when
``migrate`` would refuse (drift, dirty, unrecognised state), so it can gate a
deployment.

The database URL comes from ``--url``, else ``$RAWDB_URL``, else
``sqlite:///rawdb.db`` in the working directory. The scripts are always named:
``--dir DIR`` for an application's own folder, ``--store`` for rawdb's bundled
application schema; a command given neither is a usage error, because a default
folder would give any database the bundled nine tables (or "repair" an
application's history with them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from rawdb.checker.command import COMMANDS as CHECK_COMMANDS
from rawdb.checker.command import add_commands as add_check_commands
from rawdb.checker.command import run_command as run_check_command
from rawdb.config import default_url
from rawdb.errors import RawDBError

if TYPE_CHECKING:
    from rawdb.migrations import Migrator, ProgressEvent


_MIGRATION_COMMANDS = frozenset({"migrate", "status", "repair", "baseline"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rawdb",
        description="Apply and inspect rawdb's ordered SQL migrations.",
        epilog=(
            "Every command names its scripts: --dir DIR (your application's folder) or --store "
            "(rawdb's bundled application schema). The URL defaults to $RAWDB_URL, else "
            "sqlite:///rawdb.db in the current directory."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--url", help="database URL (default: $RAWDB_URL or sqlite:///rawdb.db)")
        scripts = sub.add_mutually_exclusive_group()
        scripts.add_argument(
            "--dir",
            dest="directory",
            metavar="DIR",
            help="your application's folder of vNNN_description.sql scripts",
        )
        scripts.add_argument(
            "--store",
            action="store_true",
            help="rawdb's bundled application schema (the nine tables of rawdb.store)",
        )
        sub.add_argument(
            "--lock-timeout",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="how long to wait for another migrator (default: 60)",
        )
        return sub

    migrate = command("migrate", "apply pending migrations, script by script")
    migrate.add_argument("--to", type=int, dest="target", metavar="N", help="stop at version N")
    migrate.add_argument("--dry-run", action="store_true", help="show what would run; change nothing")
    command("status", "show the schema version, each script's state and any problem")
    repair = command("repair", "clear a dirty mark after fixing the schema; accept intentional script edits")
    repair.add_argument(
        "--accept",
        action="append",
        default=[],
        metavar="vNNN",
        help="accept the current file of an applied script whose checksum changed (repeatable)",
    )
    baseline = command("baseline", "adopt an existing database at version N after checking its tables and columns")
    baseline.add_argument("--to", type=int, dest="target", metavar="N", required=True)
    _add_reencrypt(commands)
    add_check_commands(commands)
    return parser


class _ProgressPrinter:
    """Prints "name ... ok in N ms" per script; remembers an unfinished line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.open_line = False

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            print(f"  {event.name} ({event.statements} statements) ...", end="", file=self.out)
            self.open_line = True
        else:
            print(f" ok in {event.duration_ms or 0:.1f} ms", file=self.out)
            self.open_line = False
        self.out.flush()

    def close_line(self) -> None:
        if self.open_line:
            print(" failed", file=self.out, flush=True)
            self.open_line = False


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    import rawdb
    from rawdb.migrations import STORE_MIGRATIONS, Migrator

    if args.command == "reencrypt":
        return await _reencrypt(args, out)
    url = args.url or default_url()
    pool = await rawdb.create_pool(url, min_size=1, max_size=2)
    try:
        progress = _ProgressPrinter(out)
        source = STORE_MIGRATIONS if args.store else args.directory
        migrator = Migrator(pool, source, lock_timeout=args.lock_timeout, progress=progress)
        where = pool.dialect.describe()
        if args.command == "migrate":
            return await _migrate(migrator, args, where, out, progress)
        if args.command == "status":
            return await _status(migrator, where, out)
        if args.command == "repair":
            return await _repair(migrator, args, where, out)
        return await _baseline(migrator, args, where, out)
    finally:
        await pool.close()


async def _migrate(
    migrator: Migrator,
    args: argparse.Namespace,
    where: str,
    out: TextIO,
    progress: _ProgressPrinter,
) -> int:
    print(f"rawdb migrate: {where} with {migrator.directory}", file=out, flush=True)
    try:
        report = await migrator.apply(args.target, dry_run=args.dry_run)
    finally:
        progress.close_line()
    for warning in report.warnings:
        print(f"  warning: {warning}", file=out)
    if report.dry_run:
        if not report.planned:
            print(f"version {report.before}: up to date, nothing would run", file=out)
        else:
            print(f"version {report.before}; a migrate would apply:", file=out)
            for p in report.planned:
                resume = f", resuming at statement {p.resume_at}" if p.resume_at > 1 else ""
                mode = "one transaction" if p.transactional else "statement by statement"
                print(f"  {p.name} ({p.statements} statements, {mode}{resume})", file=out)
        return 0
    if not report.applied:
        print(f"version {report.after}: up to date", file=out)
    else:
        total = sum(a.duration_ms for a in report.applied)
        print(
            f"version {report.before} -> {report.after}: applied {len(report.applied)} script(s) in {total:.1f} ms",
            file=out,
        )
    return 0


async def _status(migrator: Migrator, where: str, out: TextIO) -> int:
    status = await migrator.status()
    print(f"database: {where}", file=out)
    print(f"scripts:  {status.directory} (newest v{status.latest:03d})", file=out)
    print(f"version:  {status.version}", file=out)
    for s in status.scripts:
        when = f"  {s.applied_at:%Y-%m-%d %H:%M:%S}Z" if s.applied_at else ""
        print(f"  {s.name:<50} {s.state}{when}", file=out)
        if s.state == "drifted":
            print(f"      recorded {s.recorded_checksum}", file=out)
            print(f"      file now {s.file_checksum}", file=out)
    if status.dirty is not None:
        print(f"dirty: {status.dirty.describe()}", file=out)
    if status.problems:
        print("migrate would refuse:", file=out)
        for problem in status.problems:
            print("  - " + problem.replace("\n", "\n    "), file=out)
        return 1
    pending = len(status.pending)
    print(f"{pending} pending" if pending else "up to date", file=out)
    return 0


async def _repair(migrator: Migrator, args: argparse.Namespace, where: str, out: TextIO) -> int:
    report = await migrator.repair(accept=args.accept or None)
    if report.dirty_cleared is None and not report.accepted:
        print(f"rawdb repair: {where}: nothing to repair", file=out)
        return 0
    if report.dirty_cleared is not None:
        d = report.dirty_cleared
        print(
            f"cleared the dirty mark of {d.name}; `rawdb migrate` resumes it at statement {d.failed_statement}",
            file=out,
        )
    for s in report.accepted:
        if s.recorded_checksum == s.file_checksum:
            print(f"{s.name}: checksum already matches", file=out)
        else:
            print(f"accepted {s.name}: {s.recorded_checksum} -> {s.file_checksum}", file=out)
    return 0


async def _baseline(migrator: Migrator, args: argparse.Namespace, where: str, out: TextIO) -> int:
    report = await migrator.baseline(args.target)
    print(f"rawdb baseline: {where}: recorded version {report.version} (was {report.before})", file=out)
    if report.repaired:
        print(f"repaired to match v{report.version:03d} (rows kept):", file=out)
        for line in report.repaired:
            print(f"  - {line}", file=out)
    if report.differences:
        print("differences from the scripts' schema (left as they are):", file=out)
        for line in report.differences:
            print(f"  - {line}", file=out)
    else:
        print(f"the schema matches v{report.version:03d}", file=out)
    return 0


# --- reencrypt: the stored secrets, not the schema ----------------------------------


def _add_reencrypt(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "re-encrypt the stored secrets with the configured key (rotation, or --from-legacy import)"
    sub = commands.add_parser(
        "reencrypt",
        help=help_text,
        description=help_text,
        epilog="Keys come from --key-file, else $RAWDB_SECRET_KEYS (comma-separated Fernet keys, newest "
        "first). Everything runs in one transaction: a secret that cannot be decrypted stops the "
        "command with nothing changed. Stop the application first.",
    )
    sub.add_argument("--url", help="database URL (default: $RAWDB_URL or sqlite:///rawdb.db)")
    sub.add_argument("--key-file", metavar="PATH", help="Fernet keys, one per line, newest first")
    sub.add_argument("--dry-run", action="store_true", help="decrypt everything and report counts; change nothing")
    sub.add_argument(
        "--from-legacy",
        action="store_true",
        help="import the secrets the old system encrypted with a key derived from the machine's MAC address",
    )
    legacy = sub.add_argument_group(
        "--from-legacy inputs", "default: this machine's MAC addresses and the user id of the old workspace"
    )
    legacy.add_argument(
        "--mac",
        action="append",
        metavar="AA:BB:CC:DD:EE:FF",
        help="a MAC address of the machine that wrote the secrets (repeatable; replaces this machine's)",
    )
    user = legacy.add_mutually_exclusive_group()
    user.add_argument("--legacy-user-id", metavar="ID", help="the old workspace's user id (telemetry/userid)")
    user.add_argument(
        "--legacy-workspace",
        metavar="DIR",
        help="the old workspace folder (default: $VIBESURF_WORKSPACE or ./vibesurf_workspace, if present)",
    )
    legacy.add_argument("--no-fallbacks", action="store_true", help="do not try the old code's fixed machine ids")


class _RollBack(Exception):
    """Ends a dry run's transaction with a rollback."""


async def _reencrypt(args: argparse.Namespace, out: TextIO) -> int:
    import rawdb
    from rawdb.errors import ConfigError
    from rawdb.store.crypto import FernetCipher, ReencryptReport, reencrypt_secrets
    from rawdb.store.legacy_crypto import LegacyCipher, LegacyImportReport, reencrypt_legacy

    # Keys and legacy inputs are checked before connecting: a typo costs no database round trip.
    legacy_inputs = (args.mac, args.legacy_user_id, args.legacy_workspace, args.no_fallbacks or None)
    if not args.from_legacy and any(value is not None for value in legacy_inputs):
        raise ConfigError("--mac, --legacy-user-id, --legacy-workspace and --no-fallbacks need --from-legacy")
    try:
        cipher = FernetCipher.from_file(args.key_file) if args.key_file else FernetCipher.from_env()
    except OSError as exc:
        raise ConfigError(f"cannot read the key file: {exc}") from exc
    legacy = None
    if args.from_legacy:
        legacy = LegacyCipher.discover(
            macs=args.mac,
            user_id=args.legacy_user_id,
            workspace=args.legacy_workspace,
            fallbacks=not args.no_fallbacks,
        )
    kid = cipher.primary_key_id
    pool = await rawdb.create_pool(args.url or default_url(), min_size=1, max_size=1)
    try:
        where = pool.dialect.describe()
        if legacy is not None:
            print(f"rawdb reencrypt: {where}: secrets of the old system -> key {kid}", file=out)
            print("candidate keys: " + ", ".join(legacy.candidates), file=out, flush=True)
            async with pool.transaction() as tx:
                imported: LegacyImportReport = await reencrypt_legacy(
                    tx, legacy=legacy, cipher=cipher, dry_run=args.dry_run
                )
            left = f"{imported.already_current} already current, {imported.blank} blank"
            tables = _per_table(imported.llm_profiles, imported.voice_profiles, imported.credentials)
            if not imported.total:
                print(f"nothing to re-encrypt ({left})", file=out)
            elif imported.dry_run:
                print(f"dry run: would re-encrypt {imported.total} legacy secret(s) ({tables}); {left}", file=out)
            else:
                print(f"re-encrypted {imported.total} legacy secret(s) with key {kid} ({tables}); {left}", file=out)
            for label, count in imported.keys_used.items():
                print(f"  opened with {label}: {count}", file=out)
            return 0
        print(f"rawdb reencrypt: {where}: rotating to key {kid}", file=out, flush=True)
        rotated = ReencryptReport()
        try:
            async with pool.transaction() as tx:
                rotated = await reencrypt_secrets(tx, cipher)
                if args.dry_run:
                    raise _RollBack
        except _RollBack:
            pass
        tables = _per_table(rotated.llm_profiles, rotated.voice_profiles, rotated.credentials)
        if not rotated.total:
            print(f"nothing to re-encrypt: every secret is under key {kid}", file=out)
        elif args.dry_run:
            print(f"dry run: would re-encrypt {rotated.total} secret(s) ({tables})", file=out)
        else:
            print(f"re-encrypted {rotated.total} secret(s) with key {kid} ({tables})", file=out)
        return 0
    finally:
        await pool.close()


def _per_table(llm_profiles: int, voice_profiles: int, credentials: int) -> str:
    return f"llm_profiles {llm_profiles}, voice_profiles {voice_profiles}, credentials {credentials}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rawdb`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in CHECK_COMMANDS:
        return run_check_command(args)
    if args.command in _MIGRATION_COMMANDS and args.directory is None and not args.store:
        parser.error(
            f"{args.command}: name the migration scripts: --dir DIR (your application's folder) "
            "or --store (rawdb's bundled application schema)"
        )
    try:
        return asyncio.run(_run(args, sys.stdout))
    except RawDBError as exc:
        print(f"rawdb {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rawdb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
