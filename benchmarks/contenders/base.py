"""What every contender implements: the four operations the workloads are made of."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from benchmarks.data import Task, WrittenTask
from benchmarks.databases import Target

ALL_WORKLOADS = frozenset({"W1", "W2", "W3", "W4", "W5"})
# W5 on the servers: this many connections for the pools the benchmark sizes itself.
SERVER_POOL_SIZE = 16
# SQLite readers for the bare aiosqlite set-up (rawdb's default pool: 1 writer + 9 readers).
SQLITE_READERS = 9


class Contender(ABC):
    """One way of doing the work. ``open(concurrent=True)`` is the W5 set-up."""

    key: ClassVar[str]
    workloads: ClassVar[frozenset[str]] = ALL_WORKLOADS

    def __init__(self, target: Target) -> None:
        self.target = target

    @property
    @abstractmethod
    def label(self) -> str:
        """What this contender is on this dialect, for the report."""

    @property
    def setup(self) -> str:
        """How it is configured (pool sizes, topology), for the report."""
        return ""

    @abstractmethod
    async def open(self, *, concurrent: bool) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def read_one(self, task_id: str) -> Any:
        """W1: acquire, begin, SELECT by primary key into a typed object, commit, release."""

    @abstractmethod
    async def write_one(self, written: WrittenTask) -> None:
        """W2: acquire, begin, INSERT the task, UPDATE it to running, commit, release."""

    @abstractmethod
    async def list_session(self, session_id: str) -> list[Any]:
        """W3: every task of one session, newest first, in a read-only transaction."""

    @abstractmethod
    async def bulk_insert(self, tasks: Sequence[Task]) -> None:
        """W4: all ``tasks`` in one transaction, by the contender's fastest path."""

    def as_task(self, obj: Any) -> Task:
        """The `Task` a result stands for (identity except for ORM objects)."""
        assert isinstance(obj, Task)
        return obj
