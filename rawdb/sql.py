"""`:name` placeholders compiled once into each driver's parameter style.

SQL is written once for every dialect. The compiler walks the text a single time,
skipping string literals, quoted identifiers, comments, ``::`` casts and ``$tag$``
bodies, and records which names bind to which positions. Results are cached per
(sql, style), so a hot query costs one dict lookup. While walking, it also notes
whether the statement can leave session state behind (``SET``, temporary tables,
session locks, ``LISTEN``…): the pool uses that to reset or replace exactly the
connections that need it, instead of paying a reset round trip on every release.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

from rawdb.errors import QueryError

ParamStyle = Literal["qmark", "dollar", "format"]

# Values every driver takes as they are; checked inline on hot paths to skip a call.
PASSTHROUGH = frozenset({str, int, float, bytes, type(None), bool, tuple})
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")

# Statements whose effects outlive the transaction on the connection (checked on the
# SQL text outside literals and comments, lower-cased).
_STATEFUL = re.compile(
    r"(?:^|;)\s*(?:set\s+(?!local\b|transaction\b|constraints\b)|use\s|listen\b|prepare\b"
    r"|declare\b|pragma\b|attach\b|detach\b|lock\s+tables?\b)"
    r"|\bcreate\s+(?:(?:global|local)\s+)?temp(?:orary)?\b"
    r"|\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\("
    r"|\bget_lock\s*\(|\bset_config\s*\(|:=|\bdiscard\b|\bcursor\s+with\s+hold\b"
)


class CompiledSQL:
    """One statement in a driver's style, with the parameter names in bind order."""

    __slots__ = ("name_set", "names", "source", "stateful", "text")

    def __init__(self, text: str, names: tuple[str, ...], stateful: bool, source: str = "") -> None:
        self.source = source
        self.text = text
        self.names = names
        self.name_set = frozenset(names)
        self.stateful = stateful

    def bind(self, params: Mapping[str, Any] | None, adapt: Callable[[Any], Any]) -> list[Any]:
        """Arguments in bind order; a missing or unknown name fails before anything is sent."""
        names = self.names
        if params is None:
            if names:
                raise QueryError(f"missing parameter(s) {', '.join(sorted(self.name_set))}{self._where()}")
            return []
        if not isinstance(params, Mapping):
            raise QueryError(f"parameters must be a mapping of names, got {type(params).__name__}{self._where()}")
        if len(params) != len(self.name_set):
            self._check_names(params)
        try:
            return [v if type(v) in PASSTHROUGH else adapt(v) for v in map(params.__getitem__, names)]
        except KeyError:
            self._check_names(params)
            raise  # pragma: no cover - _check_names always raises here

    def _check_names(self, params: Mapping[str, Any]) -> None:
        missing = self.name_set.difference(params)
        if missing:
            raise QueryError(f"missing parameter(s) {', '.join(sorted(missing))}{self._where()}")
        unknown = set(params).difference(self.name_set)
        if unknown:
            raise QueryError(
                f"unknown parameter(s) {', '.join(sorted(map(str, unknown)))} "
                f"(the statement uses: {', '.join(sorted(self.name_set)) or 'none'}){self._where()}"
            )

    def _where(self) -> str:
        one_line = " ".join(self.source.split())
        return f" in: {one_line[:120]}{'…' if len(one_line) > 120 else ''}"


_cache: dict[tuple[str, ParamStyle], CompiledSQL] = {}
_CACHE_LIMIT: Final = 4096


def compile_sql(sql: str, style: ParamStyle) -> CompiledSQL:
    """Compile (cached). Unbounded distinct SQL texts are capped to protect memory."""
    key = (sql, style)
    compiled = _cache.get(key)
    if compiled is None:
        compiled = _compile(sql, style)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[key] = compiled
    return compiled


def _compile(sql: str, style: ParamStyle) -> CompiledSQL:
    if not isinstance(sql, str):
        raise QueryError(f"SQL must be a str, got {type(sql).__name__}")
    out: list[str] = []
    code: list[str] = []  # SQL outside literals/comments, for the state check
    names: list[str] = []
    positions: dict[str, int] = {}
    mysql = style == "format"
    n = len(sql)
    i = 0
    start = 0  # start of the pending verbatim run

    def flush(upto: int, is_code: bool) -> None:
        chunk = sql[start:upto]
        if mysql:
            chunk = chunk.replace("%", "%%")
        out.append(chunk)
        if is_code:
            code.append(sql[start:upto])

    while i < n:
        ch = sql[i]
        if ch == "'" or ch == '"' or ch == "`":
            flush(i, True)
            start = i
            backslash = (mysql and ch != "`") or (ch == "'" and i > 0 and sql[i - 1] in "eE"
                                                  and (i < 2 or sql[i - 2] not in _IDENT_CHARS))
            i = _end(skip_quoted(sql, i, ch, backslash), n)
            flush(i, False)
            start = i
            continue
        if (ch == "-" and sql.startswith("--", i)) or (ch == "#" and mysql):
            flush(i, True)
            start = i
            end = sql.find("\n", i)
            i = n if end < 0 else end
            flush(i, False)
            start = i
            continue
        if ch == "/" and sql.startswith("/*", i):
            flush(i, True)
            start = i
            i = _end(skip_block_comment(sql, i, nested=not mysql), n)
            flush(i, False)
            start = i
            continue
        if ch == "$" and not mysql and (i == 0 or sql[i - 1] not in _IDENT_CHARS):
            m = _DOLLAR_TAG.match(sql, i)
            if m:
                end = sql.find(m.group(0), m.end())
                flush(i, True)
                start = i
                i = n if end < 0 else end + len(m.group(0))
                flush(i, False)
                start = i
                continue
        if ch == ":":
            if i + 1 < n and sql[i + 1] == ":":
                i += 2
                continue
            if i + 1 < n and sql[i + 1] in _IDENT_START and (i == 0 or sql[i - 1] != ":"):
                j = i + 2
                while j < n and sql[j] in _IDENT_CHARS:
                    j += 1
                name = sql[i + 1:j]
                flush(i, True)
                out.append(_placeholder(style, name, names, positions))
                code.append("?")
                start = i = j
                continue
        i += 1
    flush(n, True)
    stateful = bool(_STATEFUL.search("".join(code).lower()))
    return CompiledSQL("".join(out), tuple(names), stateful, sql)


def _end(index: int, n: int) -> int:
    """An unterminated literal or comment runs to the end of the text (the server will say so)."""
    return n if index < 0 else index


def skip_block_comment(sql: str, i: int, nested: bool) -> int:
    """Index just past the ``/* … */`` at ``i`` (PostgreSQL nests them), or -1 if unterminated.

    Shared with the migration splitter, which reports the -1 as an error."""
    n = len(sql)
    depth = 0
    j = i
    while j < n:
        if sql.startswith("/*", j) and (nested or depth == 0):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return -1


def skip_quoted(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal starting at ``i`` (doubled quotes escape; so may ``\\``),
    or -1 if it never closes."""
    n = len(sql)
    j = i + 1
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def _placeholder(style: ParamStyle, name: str, names: list[str], positions: dict[str, int]) -> str:
    if style == "dollar":
        # PostgreSQL can refer to one argument many times.
        if name not in positions:
            names.append(name)
            positions[name] = len(names)
        return f"${positions[name]}"
    names.append(name)
    return "?" if style == "qmark" else "%s"


def bind_many(
    compiled: CompiledSQL, seq: Sequence[Mapping[str, Any]], adapt: Callable[[Any], Any]
) -> list[list[Any]]:
    return [compiled.bind(params, adapt) for params in seq]
