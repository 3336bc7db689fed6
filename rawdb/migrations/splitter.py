"""Split a migration script into statements, per dialect.

Why a splitter at all: SQLite's and MySQL's drivers run one statement per call
(``executescript`` would commit behind our back), and error reports must name
the statement number and the line it starts on in the file. The rules follow
each database's own lexer closely enough for schema scripts:

* all dialects: ``'...'`` strings (``''`` doubles a quote), ``"..."`` quoted
  identifiers, ``--`` and ``/* */`` comments, ``CASE ... END`` and
  ``BEGIN ... END`` bodies of ``CREATE TRIGGER/FUNCTION/PROCEDURE/EVENT``;
* SQLite: ``[identifiers]`` and backticks; a statement boundary is confirmed
  with ``sqlite3.complete_statement``, i.e. SQLite's own tokenizer, so trigger
  bodies split exactly as SQLite would;
* PostgreSQL: ``$$``/``$tag$`` bodies, ``E'...'`` strings with backslash
  escapes, nested ``/* /* */ */`` comments, ``BEGIN ATOMIC ... END`` bodies;
* MySQL/MariaDB: backslash escapes in ``'...'`` and ``"..."``, backtick
  identifiers, ``#`` comments, ``--`` only when followed by a space, ``/*! */``
  executable comments kept as statement text, and the ``DELIMITER`` directive
  of the ``mysql`` client (its lines are not statements).

The splitter never changes statement text; it only cuts it.
"""

from __future__ import annotations

import bisect
import re
import sqlite3

import msgspec

from rawdb.sql import skip_block_comment, skip_quoted

DIALECTS = ("sqlite", "postgresql", "mysql")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_NEXT_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)")
_DELIMITER_LINE = re.compile(r"[Dd][Ee][Ll][Ii][Mm][Ii][Tt][Ee][Rr][ \t]+(\S+)[^\n]*")
_ROUTINE_WORDS = frozenset({"TRIGGER", "FUNCTION", "PROCEDURE", "EVENT"})
# Words after END that close a block we do not count (we only count BEGIN and CASE).
_END_UNCOUNTED = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "FOR"})


class SplitError(ValueError):
    """The script cannot be lexed (an unterminated string, comment or body)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class Statement(msgspec.Struct, frozen=True):
    """One statement of a script, as sent to the database."""

    index: int
    """1-based position in the script."""
    text: str
    """From its first significant character to its end, without the delimiter."""
    line: int
    """1-based line in the script where the statement starts (after comments)."""

    @property
    def first_line(self) -> str:
        """The statement's first line, for error messages and progress output."""
        return self.text.split("\n", 1)[0].strip()


class _Lexer:
    """One pass over the text; state lives here so helper methods stay small."""

    def __init__(self, text: str, dialect: str) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (expected one of {', '.join(DIALECTS)})")
        self.text = text
        self.dialect = dialect
        self.n = len(text)
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self.statements: list[Statement] = []
        self.delimiter = ";"
        self._reset(0)

    # -- bookkeeping -------------------------------------------------------------
    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1

    def _reset(self, start: int) -> None:
        self.start = start
        self.sig_start: int | None = None
        self.words: list[str] = []
        self.routine = False
        self.depth = 0
        self.skip_word = False
        self.prev_dot = False
        self.paren_seen = False

    def _significant(self, offset: int) -> None:
        if self.sig_start is None:
            self.sig_start = offset

    def _emit(self, end: int, resume: int) -> None:
        if self.sig_start is not None:
            body = self.text[self.sig_start : end].rstrip()
            if body:
                self.statements.append(
                    Statement(index=len(self.statements) + 1, text=body, line=self.line_of(self.sig_start))
                )
        self._reset(resume)

    # -- skipping tokens ---------------------------------------------------------
    def _skip_quoted(self, i: int, quote: str, backslash: bool) -> int:
        """Return the offset after the closing quote that matches ``text[i]``."""
        end = skip_quoted(self.text, i, quote, backslash)
        if end < 0:
            is_string = quote == "'" or (quote == '"' and self.dialect == "mysql")
            kind = "string literal" if is_string else "quoted identifier"
            raise SplitError(f"unterminated {kind} starting here", self.line_of(i))
        return end

    def _skip_block_comment(self, i: int) -> int:
        end = skip_block_comment(self.text, i, nested=self.dialect == "postgresql")
        if end < 0:
            raise SplitError("unterminated /* comment starting here", self.line_of(i))
        return end

    def _skip_line(self, i: int) -> int:
        end = self.text.find("\n", i)
        return self.n if end < 0 else end

    def _is_line_comment(self, i: int) -> bool:
        text = self.text
        if self.dialect == "mysql" and text[i] == "#":
            return True
        if not text.startswith("--", i):
            return False
        if self.dialect != "mysql":
            return True
        # MySQL: "--" starts a comment only when followed by whitespace/control or the end.
        return i + 2 >= self.n or text[i + 2] <= " "

    # -- words and blocks --------------------------------------------------------
    def _word(self, i: int) -> int:
        m = _WORD.match(self.text, i)
        assert m is not None
        end = m.end()
        if self.delimiter != ";":
            # MySQL identifiers may contain "$": do not swallow a "$$" delimiter (END$$).
            cut = self.text.find(self.delimiter, i, end)
            if cut > i:
                end = cut
        word = self.text[i:end].upper()
        self._significant(i)
        after_dot = self.prev_dot
        self.prev_dot = False
        if self.dialect == "postgresql" and word == "E" and end < self.n and self.text[end] == "'":
            return self._skip_quoted(end, "'", backslash=True)
        if self.skip_word:
            self.skip_word = False
            return end
        if len(self.words) < 12 and not self.paren_seen:
            # Only the head of the statement decides whether it defines a routine.
            self.words.append(word)
            if self.words[0] == "CREATE" and word in _ROUTINE_WORDS:
                self.routine = True
        if not self.routine or after_dot:
            return end
        if word in ("BEGIN", "CASE"):
            self.depth += 1
        elif word == "END" and self.depth > 0:
            nxt = _NEXT_WORD.match(self.text, end)
            follower = nxt.group(1).upper() if nxt else ""
            if follower in _END_UNCOUNTED:
                self.skip_word = True
            else:
                self.depth -= 1
                if follower == "CASE":
                    self.skip_word = True
        return end

    def _delimiter_directive(self, i: int) -> int | None:
        """MySQL client ``DELIMITER xx`` at the start of a statement: switch, skip the line."""
        if self.dialect != "mysql" or self.sig_start is not None:
            return None
        m = _DELIMITER_LINE.match(self.text, i)
        if m is None or (i > 0 and self.text[i - 1] not in " \t\n"):
            return None
        self.delimiter = m.group(1)
        self._reset(m.end())
        return m.end()

    # -- main loop ---------------------------------------------------------------
    def run(self) -> list[Statement]:
        text, n = self.text, self.n
        i = 0
        while i < n:
            c = text[i]
            if self.delimiter != ";" and text.startswith(self.delimiter, i):
                self._emit(i, i + len(self.delimiter))
                i += len(self.delimiter)
                continue
            if c in " \t\n\r\f\v":
                i += 1
                continue
            if self._is_line_comment(i):
                i = self._skip_line(i)
                continue
            if text.startswith("/*", i):
                if self.dialect == "mysql" and text.startswith("/*!", i):
                    self._significant(i)
                i = self._skip_block_comment(i)
                continue
            if c == "'":
                self._significant(i)
                i = self._skip_quoted(i, "'", backslash=self.dialect == "mysql")
                continue
            if c == '"':
                self._significant(i)
                i = self._skip_quoted(i, '"', backslash=self.dialect == "mysql")
                continue
            if c == "`" and self.dialect != "postgresql":
                self._significant(i)
                i = self._skip_quoted(i, "`", backslash=False)
                continue
            if c == "[" and self.dialect == "sqlite":
                self._significant(i)
                close = text.find("]", i + 1)
                if close < 0:
                    raise SplitError("unterminated [identifier starting here", self.line_of(i))
                i = close + 1
                continue
            if c == "$" and self.dialect == "postgresql":
                nxt = self._dollar(i)
                if nxt is not None:
                    i = nxt
                    continue
            if c == ";" and self.delimiter == ";":
                if self._boundary(i):
                    self._emit(i, i + 1)
                i += 1
                continue
            if c.isalpha() or c == "_":
                prev = text[i - 1] if i > 0 else " "
                if not (prev.isalnum() or prev in "_$"):
                    directive_end = self._delimiter_directive(i)
                    if directive_end is not None:
                        i = directive_end
                        continue
                    i = self._word(i)
                    continue
            self._significant(i)
            self.prev_dot = c == "."
            if c == "(":
                self.paren_seen = True
            i += 1
        self._emit(n, n)
        return self.statements

    def _dollar(self, i: int) -> int | None:
        prev = self.text[i - 1] if i > 0 else " "
        if prev.isalnum() or prev == "_":
            return None  # part of an identifier such as a$b
        m = _DOLLAR_TAG.match(self.text, i)
        if m is None:
            return None  # $1 parameter or stray dollar
        tag = m.group()
        close = self.text.find(tag, m.end())
        if close < 0:
            raise SplitError(f"unterminated {tag} body starting here", self.line_of(i))
        self._significant(i)
        return close + len(tag)

    def _boundary(self, i: int) -> bool:
        """Is this ``;`` the end of a statement?"""
        if self.dialect == "sqlite":
            # SQLite's own tokenizer decides (trigger bodies, CASE ... END).
            return sqlite3.complete_statement(self.text[self.start : i + 1])
        return self.depth == 0


def split_statements(text: str, dialect: str) -> list[Statement]:
    """Cut ``text`` into statements for ``dialect`` ("sqlite", "postgresql", "mysql").

    Statements that hold only comments and whitespace are dropped. Raises
    `SplitError` (a ``ValueError``) for an unterminated string, quoted
    identifier, comment or dollar-quoted body, naming the line it starts on.
    """
    return _Lexer(text, dialect).run()
