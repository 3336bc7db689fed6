"""The data every contender reads and writes, and the SQL text of the workloads.

Rows are `rawdb.store.models.Task` (SCHEMA.md column order, ``agent_mode`` last),
generated deterministically: 10,000 tasks in 10 sessions, nine in ten with
``TaskMetadata``. Each contender gets the same Structs in and must give equal
Structs back.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import time
import uuid
from collections.abc import Sequence

import msgspec

from rawdb.store.models import Task, TaskMetadata

__all__ = [
    "COLUMNS",
    "INSERT_COLUMNS",
    "UTC",
    "Task",
    "TaskMetadata",
    "WrittenTask",
    "dataset",
    "named_sql",
    "new_task",
    "positional_sql",
]

UTC = dt.UTC
COLUMNS: tuple[str, ...] = Task.__struct_fields__
# W2 inserts what an application inserts; the database fills created_at/updated_at.
INSERT_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMNS if c not in ("created_at", "updated_at", "started_at", "completed_at")
)
TOTAL_ROWS = 10_000
SESSIONS = 10
_BASE = dt.datetime(2025, 1, 1, tzinfo=UTC)
_STATUSES = ("completed", "completed", "completed", "failed", "stopped", "running", "pending")
_MODES = ("thinking", "no-thinking", "flash")


def uuid7(rng: random.Random, millis: int) -> str:
    """A time-ordered id shaped like the application's uuid7 strings."""
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64
    value |= 0b10 << 62 | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def _metadata(rng: random.Random, i: int) -> TaskMetadata | None:
    if i % 10 == 9:
        return None
    return TaskMetadata(
        execution_duration_seconds=round(rng.uniform(1, 900), 3),
        total_actions=rng.randint(1, 120),
        generated_report_path=f"/workspace/reports/{i}/report.md",
        final_summary="Visited the pages, compared the offers and wrote the report. " * 2,
        control_history=[
            {"action": "pause", "at": "2025-01-01T10:00:00Z", "by": "user"},
            {"action": "resume", "at": "2025-01-01T10:02:30Z", "by": "user"},
        ],
        last_error=None if i % 7 else "Timeout while waiting for the page",
        error_recovery_attempts=i % 3,
        created_via="api",
    )


def _task(rng: random.Random, i: int, session_id: str, created: dt.datetime) -> Task:
    status = _STATUSES[i % len(_STATUSES)]
    done = status in ("completed", "failed", "stopped")
    return Task(
        task_id=uuid7(rng, int(created.timestamp() * 1000)),
        session_id=session_id,
        task_description=f"Task {i}: find three laptops under 1000 EUR and compare battery life. "
        + "Use the shops the user prefers. " * (i % 4),
        status=status,
        llm_profile_name=f"profile-{i % 5}",
        upload_files_path=None if i % 3 else f"/uploads/{session_id}",
        workspace_dir=f"/workspace/{session_id}",
        mcp_server_config=None if i % 4 else '{"mcpServers": {"fs": {"command": "npx", "args": []}}}',
        task_result=("# Result\n\n" + "| laptop | hours |\n|---|---|\n| A | 14 |\n" * 8) if done else None,
        error_message="Page did not load" if status == "failed" else None,
        report_path=f"/workspace/{session_id}/report-{i}.md" if done else None,
        created_at=created,
        updated_at=created + dt.timedelta(seconds=30),
        started_at=created + dt.timedelta(seconds=1) if status != "pending" else None,
        completed_at=created + dt.timedelta(seconds=29) if done else None,
        task_metadata=_metadata(rng, i),
        agent_mode=_MODES[i % len(_MODES)],
    )


def dataset(rows: int = TOTAL_ROWS, sessions: int = SESSIONS, seed: int = 20250101) -> list[Task]:
    """``rows`` tasks spread evenly over ``sessions`` sessions (session i holds tasks i, i+n, …)."""
    rng = random.Random(seed)
    session_ids = [uuid7(rng, int(_BASE.timestamp() * 1000) + s) for s in range(sessions)]
    out = []
    for i in range(rows):
        created = _BASE + dt.timedelta(seconds=i, microseconds=rng.randrange(1_000_000))
        out.append(_task(rng, i, session_ids[i % sessions], created))
    return out


def bulk_dataset(session_id: str, rows: int = TOTAL_ROWS, seed: int = 7) -> list[Task]:
    """W4's input: ``rows`` fresh tasks of one session (ids unique per call)."""
    rng = random.Random(f"{seed}-{session_id}")
    out = []
    for i in range(rows):
        created = _BASE + dt.timedelta(days=1, seconds=i, microseconds=rng.randrange(1_000_000))
        out.append(_task(rng, i, session_id, created))
    return out


_counter = itertools.count()
_write_rng = random.Random(99)


class WrittenTask(msgspec.Struct, frozen=True):
    """What W2 writes: the INSERT values, then status ``running`` with ``started_at``."""

    task: Task
    started_at: dt.datetime


def new_task(session_id: str) -> WrittenTask:
    """A fresh task for W2/W5 (unique id; status pending until the UPDATE)."""
    n = next(_counter)
    now = dt.datetime.now(UTC)
    task = Task(
        task_id=uuid7(_write_rng, int(time.time() * 1000)),
        session_id=session_id,
        task_description=f"Request {n}: book a table for two tonight near the office.",
        status="pending",
        llm_profile_name="profile-0",
        upload_files_path=None,
        workspace_dir=f"/workspace/{session_id}",
        mcp_server_config=None,
        task_result=None,
        error_message=None,
        report_path=None,
        created_at=now,
        updated_at=now,
        started_at=None,
        completed_at=None,
        task_metadata=TaskMetadata(total_actions=0, created_via="benchmark"),
        agent_mode="thinking",
    )
    return WrittenTask(task=task, started_at=now)


# -- SQL -------------------------------------------------------------------------------
_COLS = ", ".join(COLUMNS)
_NAMED = {
    "select_one": f"SELECT {_COLS} FROM tasks WHERE task_id = :task_id",
    "list_session": (f"SELECT {_COLS} FROM tasks WHERE session_id = :session_id "
                     "ORDER BY created_at DESC, task_id DESC"),
    "insert": (f"INSERT INTO tasks ({', '.join(INSERT_COLUMNS)}) "
               f"VALUES ({', '.join(':' + c for c in INSERT_COLUMNS)})"),
    "update_status": ("UPDATE tasks SET status = :status, started_at = :started_at "
                      "WHERE task_id = :task_id"),
    "insert_all": f"INSERT INTO tasks ({_COLS}) VALUES ({', '.join(':' + c for c in COLUMNS)})",
}
# Parameter order of each statement, for the positional (bare driver) spellings.
ORDER: dict[str, tuple[str, ...]] = {
    "select_one": ("task_id",),
    "list_session": ("session_id",),
    "insert": INSERT_COLUMNS,
    "update_status": ("status", "started_at", "task_id"),
    "insert_all": COLUMNS,
}


def named_sql(name: str) -> str:
    """The statement with ``:name`` placeholders (rawdb, SQLAlchemy ``text()``)."""
    return _NAMED[name]


def positional_sql(name: str, style: str) -> str:
    """The statement as a bare-driver user writes it: ``?``, ``$n`` or ``%s``."""
    order = ORDER[name]
    seen: list[str] = []

    def mark(m: re.Match[str]) -> str:
        seen.append(m.group(1))
        return {"qmark": "?", "dollar": f"${len(seen)}", "format": "%s"}[style]

    sql = re.sub(r":(\w+)", mark, _NAMED[name])
    assert tuple(seen) == order, (name, seen)
    return sql


def task_values(task: Task, names: Sequence[str]) -> list[object]:
    return [getattr(task, n) for n in names]
