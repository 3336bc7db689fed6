"""``rawdb check`` and ``rawdb new``: argument parsing and exit statuses.

``check`` exits 0 when every query passes, 1 with findings (each printed once,
grouped by file, with its dialects) and 2 when it cannot run (a database that
cannot be reached, bad options). On a terminal it keeps a progress line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from rawdb.errors import ConfigError, MigrationError

__all__ = ["COMMANDS", "add_commands", "run_command"]

COMMANDS = frozenset({"check", "new"})


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "prove every named query against the newest schema and the Structs it fills"
    check = commands.add_parser(
        "check",
        help=help_text,
        description=help_text,
        epilog="SQLite is always checked on a temporary file. Each --url adds its dialect: on PostgreSQL "
        "in a scratch schema, on MySQL/MariaDB in a scratch database, both dropped afterwards; nothing "
        "else is read or written. Without --queries, rawdb's own store queries are checked against its "
        "bundled schema. Exit status: 0 clean, 1 findings, 2 cannot run.",
    )
    check.add_argument("--url", action="append", default=[], metavar="URL",
                       help="a PostgreSQL or MySQL/MariaDB server to check on as well (repeatable)")
    check.add_argument("--queries", action="append", default=[], metavar="DIR",
                       help="a directory of named-query files (repeatable; default: the store's)")
    scripts = check.add_mutually_exclusive_group()
    scripts.add_argument("--dir", dest="directory", metavar="DIR",
                         help="the migration scripts that build the schema (with sqlite/, postgresql/, mysql/ "
                         "subfolders when they differ)")
    scripts.add_argument("--store", action="store_true",
                         help="rawdb's bundled application schema, and the store's queries with it")
    check.add_argument("--models", action="append", default=[], metavar="MODULE",
                       help="where '-- name: q -> Struct' declarations are looked up (repeatable)")
    check.add_argument("--code", action="append", default=[], metavar="MODULE",
                       help="a module whose calls of named queries are checked like the store's (repeatable)")
    check.add_argument("--format", choices=("text", "json"), default="text")

    new_help = "create the next vNNN_NAME.sql in each dialect's migrations folder"
    new = commands.add_parser("new", help=new_help, description=new_help)
    new.add_argument("name", metavar="NAME", help="what the script does, e.g. add_task_priority")
    folders = new.add_mutually_exclusive_group(required=True)
    folders.add_argument("--dir", dest="directory", metavar="DIR",
                         help="your migrations folder (its sqlite/, postgresql/, mysql/ subfolders if it has them)")
    folders.add_argument("--store", action="store_true", help="rawdb's bundled application schema")


def run_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out  # looked up now: tests and callers swap sys.stdout
    err = sys.stderr if err is None else err
    if args.command == "new":
        return _new(args, out, err)
    return _check(args, out, err)


def _new(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from rawdb.checker.newscript import new_migration
    from rawdb.migrations.discovery import STORE_MIGRATIONS

    try:
        made = new_migration(args.name, STORE_MIGRATIONS if args.store else args.directory)
    except ConfigError as exc:
        print(f"rawdb new: {exc}", file=err)
        return 2
    except MigrationError as exc:
        print(f"rawdb new: {exc}", file=err)
        return 1
    for path in made:
        print(f"created {path}", file=out)
    return 0


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from rawdb.checker.render import render_json, render_text
    from rawdb.checker.report import CannotCheck
    from rawdb.checker.runner import check
    from rawdb.migrations.discovery import STORE_MIGRATIONS

    progress = _ProgressLine(out) if args.format == "text" and out.isatty() else None
    migrations = STORE_MIGRATIONS if args.store else args.directory
    try:
        report = asyncio.run(check(args.url, queries=args.queries or None, migrations=migrations,
                                   models=args.models, code=args.code, progress=progress))
    except (CannotCheck, ConfigError) as exc:
        if progress is not None:
            progress.clear()
        print(f"rawdb check: cannot run: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        print("rawdb check: interrupted", file=err)
        return 130
    if progress is not None:
        progress.clear()
    print(render_json(report) if args.format == "json" else render_text(report), file=out)
    return report.exit_code


class _ProgressLine:
    """One line, rewritten in place: where each dialect has got to."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.state: dict[str, str] = {}

    def __call__(self, dialect: str, done: int, total: int, query: str) -> None:
        self.state[dialect] = f"{dialect} {done}/{total}"
        line = "checking: " + ", ".join(self.state.values()) + (f"  {query}" if query else "")
        self.out.write("\r\x1b[K" + line[:120])
        self.out.flush()

    def clear(self) -> None:
        self.out.write("\r\x1b[K")
        self.out.flush()
