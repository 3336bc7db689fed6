"""`:name` placeholders compiled once into each driver's parameter style.

SQL is written once for every dialect. The compiler walks the text a single time,
skipping string literals, quoted identifiers, comments, ``::`` casts and ``$tag$``
bodies, and records which names bind to which positions. Results are cached per
(sql, style), so a hot query costs one dict lookup. From the same walk it also
classifies the statement: whether it can leave session state behind (the pool then
resets or replaces exactly the connections that need it, instead of paying a reset
round trip on every release), and whether it would begin or end a transaction
behind the pool's back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

from rawdb.errors import QueryError

ParamStyle = Literal["qmark", "dollar", "format"]

# Values every driver takes as they are; checked inline on hot paths to skip a call.
# Not float (NaN and infinities are not storable everywhere) nor tuple (an array on
# PostgreSQL only): the dialect's adapter decides those. The drivers themselves
# reject what else they cannot encode in these types (a lone surrogate in a str, an
# int out of range), before anything is sent.
PASSTHROUGH = frozenset({str, int, bytes, type(None), bool})
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS = _IDENT_START | frozenset("0123456789")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")

# -- statement classification --------------------------------------------------------
# The classifier reads only the statement's code, as the walk hands it over: a
# comment becomes a space (a comment separates tokens, it never glues or hides
# them: "SET/**/role"), a literal or $$ body a neutral "0", a placeholder "?", and a
# quoted identifier its lower-cased name behind _QUOTED, so that a quoted name still
# matches a function ("set_config"(…)) but never reads as a keyword (an alias
# "insert" is no INSERT).
_QUOTED = "\x00"
_TOKEN = re.compile(r"\x00[\w$]*|[^\W\d][\w$]*|\d[\w$.]*|:=|\S")
_NOT_NAME = re.compile(r"[^\w$]")

# Calls that change the session for good, wherever they appear (schema-qualified or
# quoted names included). U&"…" identifiers spell names in escapes, so any of those
# counts as well.
_SESSION_CALLS = re.compile(
    r"(?<![\w$])(?:set_config|pg_(?:try_)?advisory_lock(?:_shared)?|dblink_[\w$]*|get_lock"
    r"|load_extension)\s*\("
    r"|(?<![\w$])last_insert_id\s*\(\s*[^\s)]"
    r"|u&\s*\x00"
)

# An allowlist: a statement leaves nothing on the connection only when it opens with
# one of these and holds none of the constructs checked below. Everything else (SET,
# CREATE, PRAGMA, ATTACH, DO, CALL, PREPARE, DECLARE, LISTEN, LOCK, a word rawdb
# does not know…) counts as stateful: a needless reset costs a round trip, a missed
# one hands the next user someone else's session.
_STATELESS_VERBS: Final[dict[str, frozenset[str]]] = {
    "qmark": frozenset({"select", "insert", "update", "delete", "with", "values", "replace"}),
    "dollar": frozenset({"select", "insert", "update", "delete", "with", "values", "table", "merge",
                         "show"}),
    "format": frozenset({"select", "insert", "update", "delete", "with", "values", "table", "replace",
                         "show"}),
}
# PostgreSQL's SET LOCAL / SET TRANSACTION / SET CONSTRAINTS end with the transaction
# (MySQL's SET LOCAL is the session's SET).
_PG_TRANSACTION_SET = frozenset({"local", "transaction", "constraints"})
_EXPLAIN = frozenset({"explain", "describe", "desc"})
_EXPLAIN_OPTIONS = frozenset({"analyze", "analyse", "verbose", "extended", "partitions", "format", "=",
                              "json", "traditional", "tree", "query", "plan"})
# INTO is harmless only right after INSERT/REPLACE/MERGE (and their modifiers) in
# the position of a statement's verb; anywhere else it is SELECT … INTO, which
# creates a table (PostgreSQL) or sets variables / writes a file (MySQL).
_INTO_VERBS = frozenset({"insert", "replace", "merge"})
_INSERT_MODIFIERS = frozenset({"low_priority", "delayed", "high_priority", "ignore", "or", "replace",
                               "abort", "fail", "rollback"})
_DML_VERBS = frozenset({"select", "insert", "update", "delete", "merge", "values", "table"})
# Objects whose CREATE carries a body of statements (BEGIN … END, BEGIN ATOMIC …):
# the ';' inside the body ends no statement.
_PROGRAMS = frozenset({"trigger", "function", "procedure", "event", "package"})
_END_OF_NAMED_BLOCK = frozenset({"if", "loop", "while", "repeat", "for"})
# MySQL commits the open transaction before (and after) these.
_MYSQL_IMPLICIT_COMMIT = frozenset({
    "create", "alter", "drop", "rename", "truncate", "grant", "revoke", "lock", "unlock", "load",
    "analyze", "optimize", "repair", "check", "cache", "flush", "reset", "install", "uninstall",
    "change", "start", "stop"})
_OBJECT_NOUNS = frozenset({
    "table", "tables", "database", "schema", "index", "view", "procedure", "function", "trigger", "event",
    "user", "role", "server", "tablespace", "sequence", "package", "data", "xml", "plugin", "master",
    "slave", "replica", "instance", "logfile"})


class CompiledSQL:
    """One statement in a driver's style, with the parameter names in bind order."""

    __slots__ = ("ends_transaction", "name_set", "names", "source", "stateful", "text")

    def __init__(self, text: str, names: tuple[str, ...], stateful: bool, source: str = "",
                 ends_transaction: str | None = None) -> None:
        self.source = source
        self.text = text
        self.names = names
        self.name_set = frozenset(names)
        # May leave state on the connection (settings, roles, temporary objects, locks,
        # prepared statements, variables): the pool resets or replaces it on release.
        self.stateful = stateful
        # Why the statement would begin or end a transaction or savepoint behind the
        # pool's back ("COMMIT ends the transaction"), or None.
        self.ends_transaction = ends_transaction

    def bind(self, params: Mapping[str, Any] | None, adapt: Callable[[Any], Any]) -> list[Any]:
        """Arguments in bind order; a missing or unknown name fails before anything is sent."""
        names = self.names
        if params is None:
            if names:
                raise QueryError(f"missing parameter(s) {', '.join(sorted(self.name_set))}{self._where()}")
            return []
        if type(params) is not dict and not isinstance(params, Mapping):  # the ABC check costs a call
            raise QueryError(f"parameters must be a mapping of names, got {type(params).__name__}{self._where()}")
        if len(params) != len(self.name_set):
            self._check_names(params)
        try:
            return [v if type(v) in PASSTHROUGH else adapt(v) for v in map(params.__getitem__, names)]
        except KeyError:
            self._check_names(params)
            raise  # pragma: no cover - _check_names always raises here
        except QueryError as exc:
            raise self._refused(params, adapt, exc) from exc.__cause__

    def _refused(self, params: Mapping[str, Any], adapt: Callable[[Any], Any], exc: QueryError) -> QueryError:
        """The adapter refused a value without knowing its name: find the parameter and
        name it (the adapter's message never holds the value, which may be a secret)."""
        for name in dict.fromkeys(self.names):
            value = params[name]
            if type(value) in PASSTHROUGH:
                continue
            try:
                adapt(value)
            except QueryError:
                return type(exc)(f"parameter :{name}: {exc}{self._where()}")
        return exc  # pragma: no cover - the refusal repeats for the same value

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
    code: list[str] = []  # what the classifier reads (see _QUOTED)
    executable: list[str] = []  # MySQL /*! … */ bodies: comments the server runs
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
            if ch == "`" or (ch == '"' and not mysql):
                name = sql[start + 1:i - 1 if i - start > 1 and sql[i - 1] == ch else i]
                code.append(f" {_QUOTED}{_NOT_NAME.sub('_', name.lower())} ")
            else:
                code.append(" 0 ")
            flush(i, False)
            start = i
            continue
        if (ch == "-" and sql.startswith("--", i)
                # MySQL: "--" opens a comment only before a space or control character
                # ("1--1" is arithmetic).
                and (not mysql or i + 2 >= n or sql[i + 2] <= " ")) or (ch == "#" and mysql):
            flush(i, True)
            start = i
            end = sql.find("\n", i)
            i = n if end < 0 else end
            code.append(" ")
            flush(i, False)
            start = i
            continue
        if ch == "/" and sql.startswith("/*", i):
            flush(i, True)
            start = i
            i = _end(skip_block_comment(sql, i, nested=not mysql), n)
            if mysql and sql.startswith(("/*!", "/*M!"), start):
                body = sql[start + (3 if sql[start + 2] == "!" else 4):i]
                executable.append(body[:-2] if body.endswith("*/") else body)
            code.append(" ")
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
                code.append(" 0 ")
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
                code.append(" ? ")
                start = i = j
                continue
        i += 1
    flush(n, True)
    stateful, ends = _classify("".join(code).lower(), style)
    if executable:
        # The server runs what the comment holds: never trust the connection after it.
        stateful = True
        for body in executable:
            ends = ends or _compile(body.lstrip("0123456789"), style).ends_transaction
    return CompiledSQL("".join(out), tuple(names), stateful, sql, ends)


def _classify(code: str, style: ParamStyle) -> tuple[bool, str | None]:
    """(stateful, ends_transaction) of the code of one text, which may hold several
    statements (PostgreSQL's simple-query protocol runs them all)."""
    stateful = _SESSION_CALLS.search(code) is not None
    ends: str | None = None
    for head, body in _statements(_TOKEN.findall(code)):
        if not stateful:
            stateful = bool(body) or _is_stateful(head, style)
        if ends is None:
            ends = _transaction_control(head, style)
            if ends is None and head[0] == "begin":
                # A compound statement (MariaDB's BEGIN NOT ATOMIC) runs its body now;
                # a stored program's body runs only when called.
                for statement in body:
                    if statement and statement[0] not in ("begin", "end"):
                        ends = ends or _transaction_control(statement, style)
    return stateful, ends


def _statements(tokens: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    """Each non-empty statement, split at ';', with the body a stored program or a
    compound statement carries (``CREATE TRIGGER … BEGIN …; …; END``, ``BEGIN
    ATOMIC``, ``BEGIN NOT ATOMIC``) kept with it rather than read as statements."""
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token == ";":
            segments.append([])
        else:
            segments[-1].append(token)
    statements: list[tuple[list[str], list[list[str]]]] = []
    k = 0
    while k < len(segments):
        head = segments[k]
        k += 1
        if not head:
            continue
        body: list[list[str]] = []
        if (head[0] == "create" and not _PROGRAMS.isdisjoint(head)) or head[:3] == ["begin", "not", "atomic"]:
            depth = _block_depth(head)
            while depth > 0 and k < len(segments):
                body.append(segments[k])
                depth += _block_depth(segments[k])
                k += 1
        statements.append((head, body))
    return statements


def _block_depth(tokens: list[str]) -> int:
    """BEGIN/CASE blocks opened minus those closed by END (END IF, END LOOP… close
    blocks that opened without a counted word)."""
    depth = 0
    k = 0
    n = len(tokens)
    while k < n:
        token = tokens[k]
        if token == "begin" or token == "case":
            depth += 1
        elif token == "end":
            after = tokens[k + 1] if k + 1 < n else ""
            if after in _END_OF_NAMED_BLOCK:
                k += 2
                continue
            depth -= 1
            if after == "case":
                k += 1
        k += 1
    return depth


def _is_stateful(tokens: list[str], style: ParamStyle) -> bool:
    n = len(tokens)
    k = 0
    while k < n and tokens[k] == "(":
        k += 1
    if k < n and tokens[k] in _EXPLAIN:
        # EXPLAIN ANALYZE runs its statement: judge that one.
        k += 1
        if k < n and tokens[k] == "(":
            depth = 0
            while k < n:
                depth += (tokens[k] == "(") - (tokens[k] == ")")
                k += 1
                if depth == 0:
                    break
        while k < n and tokens[k] in _EXPLAIN_OPTIONS:
            k += 1
    if k >= n:
        return True
    verb = tokens[k]
    if verb not in _STATELESS_VERBS[style]:
        return not (style == "dollar" and verb == "set" and k + 1 < n and tokens[k + 1] in _PG_TRANSACTION_SET)
    if style == "format" and ":=" in tokens:
        return True  # MySQL user variable assignment (SELECT @v := …)
    if "into" in tokens:
        verbs = _verb_positions(tokens, k)
        for j, token in enumerate(tokens):
            if token == "into":
                m = j - 1
                while m >= 0 and m not in verbs and tokens[m] in _INSERT_MODIFIERS:
                    m -= 1
                if m not in verbs or tokens[m] not in _INTO_VERBS:
                    return True
    return False


def _verb_positions(tokens: list[str], first: int) -> set[int]:
    """Where a statement's verb may stand: its first word, the first word inside a
    parenthesis (a subquery, a data-modifying CTE) and, after WITH's list, the main verb."""
    verbs = {first}
    verbs.update(j + 1 for j, token in enumerate(tokens) if token == "(")
    if tokens[first] == "with":
        depth = 0
        for j in range(first + 1, len(tokens)):
            token = tokens[j]
            if token == "(":
                depth += 1
            elif token == ")":
                depth -= 1
            elif depth == 0 and token in _DML_VERBS and tokens[j - 1] == ")":
                verbs.add(j)
                break
    return verbs


def _transaction_control(tokens: list[str], style: ParamStyle) -> str | None:
    """Why the statement would open or end a transaction or savepoint, or None."""
    first = tokens[0]
    second = tokens[1] if len(tokens) > 1 else ""
    if first == "begin":
        if style == "format" and second == "not":
            return None  # MariaDB's BEGIN NOT ATOMIC: a compound statement
        return "BEGIN starts a transaction"
    if first == "start" and second == "transaction":
        return "START TRANSACTION starts a transaction"
    if first == "commit" or (first == "end" and style != "format") or (first == "abort" and style == "dollar"):
        return f"{first.upper()} ends the transaction"
    if first == "rollback":
        return "ROLLBACK TO returns to a savepoint" if "to" in tokens[1:4] else "ROLLBACK ends the transaction"
    if first == "savepoint":
        return "SAVEPOINT opens a savepoint"
    if first == "release":
        return "RELEASE ends a savepoint"
    if first == "xa":
        return f"XA {second.upper()} controls a distributed transaction".replace("  ", " ")
    if style == "dollar" and first == "prepare" and second == "transaction":
        return "PREPARE TRANSACTION ends the transaction"
    if style == "format":
        return _mysql_implicit_commit(tokens)
    return None


def _mysql_implicit_commit(tokens: list[str]) -> str | None:
    first = tokens[0]
    second = tokens[1] if len(tokens) > 1 else ""
    if first == "set":
        if second == "password":
            return "SET PASSWORD commits implicitly on MySQL"
        for j, token in enumerate(tokens):
            # @@autocommit and autocommit are the variable; @autocommit is a user's.
            if token.lstrip(_QUOTED) == "autocommit" and not (
                    j and tokens[j - 1] == "@" and (j < 2 or tokens[j - 2] != "@")):
                return "SET autocommit commits implicitly on MySQL"
        return None
    if first not in _MYSQL_IMPLICIT_COMMIT:
        return None
    if first in ("create", "drop") and "temporary" in tokens[1:4]:
        return None  # CREATE/DROP TEMPORARY TABLE: the one DDL that does not commit
    if first == "analyze" and second not in ("table", "tables", "local", "no_write_to_binlog"):
        return None  # MariaDB's ANALYZE SELECT: a query, run and profiled
    noun = next((t for t in tokens[1:6] if t in _OBJECT_NOUNS), None)
    what = first.upper() + (f" {noun.upper()}" if noun else "")
    return f"{what} commits implicitly on MySQL"


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
