"""Cron evaluation for schedules: one rule, one zone, UTC storage.

``croniter`` is imported on first use so that rawdb installs without the
``rawdb[cron]`` extra; only schedule operations that parse a cron need it.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from rawdb.errors import ConfigError, ValidationError


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "cron schedules need the 'croniter' package: pip install 'rawdb[cron]'"
        ) from exc
    return croniter


def next_fire_time(expression: str, now: datetime, tz: tzinfo) -> datetime:
    """The first fire time of a standard 5-field cron strictly after ``now``, as aware UTC.

    The expression is evaluated on the wall clock of ``tz`` (so ``0 9 * * *`` in
    Europe/Berlin is 08:00 UTC in winter and 07:00 UTC in summer), then
    converted to UTC for storage.
    """
    croniter = _croniter()
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValidationError(
            f"cron_expression: {expression!r} is not a valid 5-field cron expression"
        )
    local_now = now.astimezone(tz)
    fire: datetime = croniter(expression, local_now).get_next(datetime)
    return fire.astimezone(UTC)
