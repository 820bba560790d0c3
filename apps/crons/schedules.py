"""Cron expressions: checked when a cron is written, stepped when it fires."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from apps.core.errors import Unprocessable


def check_schedule(schedule: str) -> str:
    """``schedule`` if it is a standard 5-field cron expression; else a 422 naming the
    problem."""
    fields = schedule.split()
    if len(fields) != 5:
        raise Unprocessable(
            f"Invalid cron schedule {schedule!r}: expected 5 fields (minute hour day-of-month "
            f"month day-of-week), got {len(fields)}"
        )
    try:
        croniter(schedule).get_next(datetime)
    except CroniterBadDateError:
        raise Unprocessable(f"Invalid cron schedule {schedule!r}: it matches no date") from None
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise Unprocessable(f"Invalid cron schedule {schedule!r}: {exc}") from None
    return schedule


def check_timezone(name: str | None) -> str | None:
    """``name`` if it is an IANA time zone (or None: UTC); else a 422."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"Invalid timezone {name!r}: not an IANA time zone name") from None
    return name


def next_slot(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``schedule`` matches in ``timezone``
    (UTC when None), as an aware UTC datetime. Wall-clock rules (DST) follow the zone."""
    zone = ZoneInfo(timezone) if timezone else UTC
    local = croniter(schedule, after.astimezone(zone)).get_next(datetime)
    return local.astimezone(UTC)
