"""Replication positions: how far a primary has written and a replica has replayed.

A position only ever grows on one server, so "this replica has replayed past that
commit" is a comparison: PostgreSQL's WAL location (an LSN, one number) or
MariaDB's GTID position (one sequence number per replication domain; a replica
has caught up when it has reached every domain's number). Commit tokens carry a
position between processes as text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from rawdb.errors import InterfaceError

TOKEN_PREFIX = "rawdb1:"
# A token that asks for nothing: the transaction wrote nothing a replica must replay.
NOTHING_TOKEN = TOKEN_PREFIX + "none"
# A token that asks for the primary: the position of the write is not known (it was
# committed on a pool without replicas, or learning the position failed).
PRIMARY_TOKEN = TOKEN_PREFIX + "primary"


class Position(ABC):
    """A point in one primary's history of commits."""

    __slots__ = ()

    tag: str

    @abstractmethod
    def covers(self, other: Position) -> bool:
        """Has a server at this position replayed everything up to ``other``?"""

    @abstractmethod
    def merge(self, other: Position) -> Position:
        """The smallest position that covers both."""

    @abstractmethod
    def text(self) -> str:
        """The server's own spelling (``0/3001178``, ``0-1-42,1-2-7``)."""

    def token(self) -> str:
        return f"{TOKEN_PREFIX}{self.tag}:{self.text()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text()!r})"


class LSN(Position):
    """A PostgreSQL write-ahead-log location."""

    __slots__ = ("value",)
    tag = "lsn"

    def __init__(self, value: int) -> None:
        self.value = value

    @classmethod
    def parse(cls, text: str) -> LSN:
        high, sep, low = text.partition("/")
        if not sep:
            raise ValueError(f"not an LSN: {text!r}")
        return cls((int(high, 16) << 32) + int(low, 16))

    def covers(self, other: Position) -> bool:
        return isinstance(other, LSN) and self.value >= other.value

    def merge(self, other: Position) -> Position:
        if not isinstance(other, LSN):
            raise InterfaceError("cannot compare replication positions of different databases")
        return self if self.value >= other.value else other

    def text(self) -> str:
        return f"{self.value >> 32:X}/{self.value & 0xFFFFFFFF:X}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LSN) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


class GTIDPosition(Position):
    """A MariaDB GTID position: per replication domain, the last (server, sequence)."""

    __slots__ = ("domains",)
    tag = "gtid"

    def __init__(self, domains: dict[int, tuple[int, int]]) -> None:
        self.domains = domains  # domain id -> (server id, sequence number)

    @classmethod
    def parse(cls, text: str) -> GTIDPosition:
        domains: dict[int, tuple[int, int]] = {}
        for item in text.replace(" ", "").split(","):
            if not item:
                continue
            parts = item.split("-")
            if len(parts) != 3:
                raise ValueError(f"not a GTID: {item!r}")
            domain, server, seq = (int(p) for p in parts)
            if domain not in domains or domains[domain][1] < seq:
                domains[domain] = (server, seq)
        return cls(domains)

    @property
    def empty(self) -> bool:
        return not self.domains

    def covers(self, other: Position) -> bool:
        if not isinstance(other, GTIDPosition):
            return False
        mine = self.domains
        return all(domain in mine and mine[domain][1] >= seq for domain, (_, seq) in other.domains.items())

    def merge(self, other: Position) -> Position:
        if not isinstance(other, GTIDPosition):
            raise InterfaceError("cannot compare replication positions of different databases")
        if self.covers(other):
            return self
        if other.covers(self):
            return other
        merged = dict(self.domains)
        for domain, (server, seq) in other.domains.items():
            if domain not in merged or merged[domain][1] < seq:
                merged[domain] = (server, seq)
        return GTIDPosition(merged)

    def text(self) -> str:
        return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(self.domains.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GTIDPosition) and other.domains == self.domains

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.domains.items())))


class Primary:
    """What a token asks for when the write's position is unknown: read on the primary."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PRIMARY"


PRIMARY = Primary()
Requirement = Position | Primary | None  # None: nothing to wait for


def parse_token(token: str) -> Requirement:
    """The requirement a commit token carries; `InterfaceError` for anything else."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise InterfaceError("after= takes a string from tx.commit_token()")
    if token == NOTHING_TOKEN:
        return None
    if token == PRIMARY_TOKEN:
        return PRIMARY
    tag, _, text = token[len(TOKEN_PREFIX):].partition(":")
    try:
        if tag == LSN.tag:
            return LSN.parse(text)
        if tag == GTIDPosition.tag:
            return GTIDPosition.parse(text)
    except ValueError:
        pass
    raise InterfaceError("after= got a malformed commit token")


def token_for(requirement: Requirement) -> str:
    if requirement is None:
        return NOTHING_TOKEN
    if isinstance(requirement, Primary):
        return PRIMARY_TOKEN
    return requirement.token()


def combine(a: Requirement, b: Requirement) -> Requirement:
    """Both requirements at once: the primary if either needs it, else the later position."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, Primary) or isinstance(b, Primary):
        return PRIMARY
    return a.merge(b)
