"""SQLite's durability level and the per-connection pragmas a pool may set.

Both are pool options, applied by the SQLite dialect to every connection it opens
(the writer, each reader, every replacement), never through a session: a pragma a
user runs in a transaction marks that connection as changed and gets it replaced,
while these are part of what a fresh connection is.

``synchronous`` stays FULL by default: every COMMIT waits until the WAL is on disk.
NORMAL is the usual choice with WAL: the database cannot be corrupted, but a power
loss or OS crash (not an application crash) may lose the last transactions that
reported success. OFF is not offered: there a power loss can corrupt the database.

``sqlite_pragmas`` takes only pragmas that tune one connection's performance or
disk behaviour. Those that change what rawdb relies on (journal mode, foreign keys,
query_only, locking mode), that live in the database file (page_size, user_version),
or that weaken integrity checks are refused with the reason. Values are checked
against each pragma's type and range and written by rawdb as integers or fixed
keywords: no text from the option reaches SQL as it was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rawdb.errors import ConfigError

PragmaValue = int | str

SYNCHRONOUS_LEVELS = ("full", "normal", "extra")

_FLAG_WORDS = {"1": 1, "on": 1, "true": 1, "yes": 1, "0": 0, "off": 0, "false": 0, "no": 0}
_NAME = re.compile(r"^[a-z_]+$")


def check_synchronous(value: Any) -> str:
    """The level, lower case: ``full`` (default), ``normal`` or ``extra``."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text in SYNCHRONOUS_LEVELS:
        return text
    if text in ("off", "0"):
        raise ConfigError(
            "option 'synchronous' cannot be 'off': a power loss or OS crash can corrupt the database. "
            "With WAL, 'normal' syncs only at checkpoints and never corrupts (it may lose the last commits)")
    raise ConfigError(f"option 'synchronous' must be 'full', 'normal' or 'extra', got {value!r}")


def _integer(low: int | None = None) -> Callable[[str, Any], PragmaValue]:
    def check(name: str, value: Any) -> PragmaValue:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            number = int(value)
        if number is None:
            raise ConfigError(f"sqlite_pragmas: {name} must be a whole number, got {value!r}")
        if low is not None and number < low:
            raise ConfigError(f"sqlite_pragmas: {name} must be >= {low}, got {number}")
        if not -(2**63) <= number < 2**63:
            raise ConfigError(f"sqlite_pragmas: {name} is out of SQLite's integer range: {number}")
        return number

    return check


def _flag(name: str, value: Any) -> PragmaValue:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    raise ConfigError(f"sqlite_pragmas: {name} must be on or off (true/false, 1/0), got {value!r}")


def _keyword(*words: str, numbers: int = 0, flag: bool = False) -> Callable[[str, Any], PragmaValue]:
    """One of ``words`` (written upper case), an integer below ``numbers``, or a flag."""

    def check(name: str, value: Any) -> PragmaValue:
        if isinstance(value, str) and value.strip().lower() in words:
            return value.strip().upper()
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < numbers:
            return value
        if flag:
            try:
                return _flag(name, value)
            except ConfigError:
                pass
        choices = ", ".join(repr(w) for w in words)
        extra = f", or 0-{numbers - 1}" if numbers else (", or on/off" if flag else "")
        raise ConfigError(f"sqlite_pragmas: {name} must be one of {choices}{extra}, got {value!r}")

    return check


# Per-connection settings that change speed, memory or disk behaviour, not what
# statements mean or what the file holds.
ALLOWED: dict[str, Callable[[str, Any], PragmaValue]] = {
    "cache_size": _integer(),  # pages, or KiB when negative
    "mmap_size": _integer(0),
    "temp_store": _keyword("default", "file", "memory", numbers=3),
    "cache_spill": _integer(0),  # 0 turns spilling off; N spills once the cache holds N pages
    "wal_autocheckpoint": _integer(0),
    "journal_size_limit": _integer(-1),
    "automatic_index": _flag,
    "analysis_limit": _integer(0),
    "threads": _integer(0),
    "secure_delete": _keyword("fast", flag=True),
    "cell_size_check": _flag,
    "fullfsync": _flag,
    "checkpoint_fullfsync": _flag,
}

_IN_THE_FILE = "it is stored in the database file, not a per-connection setting"
REFUSED: dict[str, str] = {
    "journal_mode": "rawdb runs file databases in WAL mode, which its readers and BEGIN IMMEDIATE rely on",
    "query_only": "rawdb sets it itself: on for readers and for read-only transactions on the writer",
    "foreign_keys": "rawdb turns foreign key enforcement on for every connection; turning it off "
                    "would let writes break the schema's references",
    "locking_mode": "EXCLUSIVE locking would shut the readers out of the file",
    "busy_timeout": "use the pool option busy_timeout",
    "synchronous": "use the pool option synchronous ('full', 'normal' or 'extra')",
    "ignore_check_constraints": "it turns CHECK constraints off",
    "defer_foreign_keys": "it lasts one transaction only; set it inside the transaction that needs it",
    "writable_schema": "it lets statements write the schema table directly and can corrupt the database",
    "schema_version": "writing it can corrupt the database",
    "read_uncommitted": "it applies to shared-cache mode, which rawdb does not use",
    "soft_heap_limit": "it applies to the whole process, not one connection",
    "hard_heap_limit": "it applies to the whole process, not one connection",
    "user_version": "migrations keep the schema version there",
    "application_id": _IN_THE_FILE,
    "page_size": _IN_THE_FILE,
    "auto_vacuum": _IN_THE_FILE,
    "encoding": _IN_THE_FILE,
}


def check_sqlite_pragmas(value: Any) -> dict[str, PragmaValue]:
    """``{"cache_size": -20000, "mmap_size": 268435456}``, or the URL query form
    ``cache_size:-20000,mmap_size:268435456``: names checked against `ALLOWED`,
    values against each pragma's type. Returns name → integer or keyword."""
    if isinstance(value, str):
        value = _parse(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"option 'sqlite_pragmas' must be a mapping of pragma names to values, "
                          f"got {type(value).__name__}")
    checked: dict[str, PragmaValue] = {}
    for raw_name, raw_value in value.items():
        name = raw_name.strip().lower() if isinstance(raw_name, str) else None
        if name is None or not _NAME.match(name):
            raise ConfigError(f"sqlite_pragmas: {raw_name!r} is not a pragma name")
        if name in REFUSED:
            raise ConfigError(f"sqlite_pragmas: {name} cannot be set: {REFUSED[name]}")
        check = ALLOWED.get(name)
        if check is None:
            raise ConfigError(f"sqlite_pragmas: {name} is not a per-connection pragma rawdb sets "
                              f"(allowed: {', '.join(sorted(ALLOWED))})")
        checked[name] = check(name, raw_value)
    return checked


def _parse(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, raw = item.replace("=", ":", 1).partition(":")
        if not sep:
            raise ConfigError(f"sqlite_pragmas: {item.strip()!r} must be written name:value")
        pairs[name.strip()] = raw.strip()
    return pairs


def pragma_statements(synchronous: str, pragmas: Mapping[str, Any]) -> list[str]:
    """The statements that give a fresh connection these settings.

    Checked again here, not only when the options were parsed: a `PoolOptions` can
    be built directly, and these strings become SQL."""
    statements = [f"PRAGMA synchronous = {check_synchronous(synchronous).upper()}"]
    statements.extend(f"PRAGMA {name} = {value}" for name, value in check_sqlite_pragmas(pragmas).items())
    return statements
