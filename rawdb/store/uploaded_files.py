"""Uploaded files: 8 operations. Deleting is soft unless said otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rawdb.errors import ValidationError
from rawdb.store._common import Columns, QuerySet, integer, page, resolve_now, text
from rawdb.store.models import UploadedFile

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "cleanup_deleted_files",
    "count_files",
    "create_file_record",
    "delete_file",
    "get_file",
    "get_files_by_session",
    "hard_delete_file",
    "list_files",
]

_Q = QuerySet(
    "uploaded_files",
    (
        "insert_file", "get_file", "list_files", "list_session_files", "count_files",
        "count_session_files", "delete_file", "hard_delete_file", "cleanup_deleted_files",
    ),
)

_COLUMNS = Columns(
    "uploaded_files",
    {
        "file_id": text(),
        "original_filename": text(),
        "stored_filename": text(),
        "file_path": text(),
        "session_id": text(nullable=True),
        "file_size": integer(),
        "mime_type": text(),
        "relative_path": text(),
    },
)


async def create_file_record(
    tx: Transaction,
    file_id: str,
    original_filename: str,
    stored_filename: str,
    file_path: str,
    session_id: str | None,
    file_size: int,
    mime_type: str,
    relative_path: str,
) -> UploadedFile:
    """Record an upload; the caller supplies ``file_id`` (uuid7); a duplicate: UniqueViolation."""
    params = _COLUMNS.bind(
        {
            "file_id": file_id,
            "original_filename": original_filename,
            "stored_filename": stored_filename,
            "file_path": file_path,
            "session_id": session_id,
            "file_size": file_size,
            "mime_type": mime_type,
            "relative_path": relative_path,
        }
    )
    await _Q.execute(tx, "insert_file", params)
    row = await get_file(tx, file_id)
    assert row is not None, "a file inserted in this transaction must be readable"
    return row


async def get_file(tx: Transaction, file_id: str) -> UploadedFile | None:
    """The file, or None when it does not exist or is soft-deleted."""
    return await _Q.fetch_one(tx, "get_file", {"file_id": file_id}, UploadedFile)


def _filter(
    session_id: str | None, active_only: bool
) -> tuple[tuple[str, str], dict[str, object]]:
    """The (list, count) queries and parameters serving a (session, active) filter.

    A session filter is a separate query rather than ``:sid IS NULL OR ...`` so
    that it can use the ``(session_id, upload_time)`` index.
    """
    if session_id is None:
        return ("list_files", "count_files"), {"include_deleted": not active_only}
    return (
        ("list_session_files", "count_session_files"),
        {"include_deleted": not active_only, "session_id": session_id},
    )


async def list_files(
    tx: Transaction,
    session_id: str | None = None,
    limit: int | None = -1,
    offset: int = 0,
    active_only: bool = True,
) -> list[UploadedFile]:
    """Newest upload first; ``session_id`` None means every session."""
    limit, offset = page(limit, offset)
    (list_query, _), params = _filter(session_id, active_only)
    return await _Q.fetch_all(tx, list_query, params, UploadedFile, limit=limit, offset=offset)


async def count_files(
    tx: Transaction, session_id: str | None = None, active_only: bool = True
) -> int:
    """Counted in SQL with the same filters as ``list_files``."""
    (_, count_query), params = _filter(session_id, active_only)
    return int(await _Q.fetch_val(tx, count_query, params) or 0)


async def delete_file(tx: Transaction, file_id: str, *, now: datetime | None = None) -> bool:
    """Soft delete; False when missing or already deleted, whose ``deleted_at`` stays."""
    return await _Q.execute(tx, "delete_file", {"file_id": file_id, "now": resolve_now(now)}) > 0


async def hard_delete_file(tx: Transaction, file_id: str) -> bool:
    """Remove the row whatever its state."""
    return await _Q.execute(tx, "hard_delete_file", {"file_id": file_id}) > 0


async def get_files_by_session(
    tx: Transaction, session_id: str, limit: int | None = -1, offset: int = 0
) -> list[UploadedFile]:
    """Live files of one session, newest first."""
    return await list_files(tx, session_id, limit, offset, active_only=True)


async def cleanup_deleted_files(
    tx: Transaction, days_old: int = 30, *, now: datetime | None = None
) -> int:
    """Permanently remove files soft-deleted more than ``days_old`` days before ``now``.

    The cutoff is computed here and bound, so no dialect's interval syntax is
    involved. Returns the number of rows removed.
    """
    if isinstance(days_old, bool) or not isinstance(days_old, int) or days_old < 0:
        raise ValidationError(f"days_old: expected a non-negative int, got {days_old!r}")
    cutoff = resolve_now(now) - timedelta(days=days_old)
    return await _Q.execute(tx, "cleanup_deleted_files", {"cutoff": cutoff})
