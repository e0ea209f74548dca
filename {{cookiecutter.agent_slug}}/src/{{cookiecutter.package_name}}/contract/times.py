"""Times and days as the agent writes them and the operator types them (all in UTC).

utc_now() -> datetime, today_utc() -> date
iso(moment) -> str                 2026-03-01T12:00:00+00:00
parse_time(text) -> datetime|None  ISO 8601; one without a zone is UTC; None for anything else
age_seconds(text, now) -> float|None
parse_day(text, today=None) -> date   today, yesterday, 7d (seven days ago), YYYY-MM-DD
day_bounds(first, last=None) -> (start, end)   [00:00 of first, 00:00 after last)
check_day_range(since, until, max_days=MAX_RANGE_DAYS)   DateError when reversed or too long
human_duration(seconds) -> str     45s, 12m, 3h05m, 2d4h
"""

import re
from datetime import UTC, date, datetime, time, timedelta

RELATIVE_DAYS = re.compile(r"^(\d{1,4})d$")
# About ten years: a typo ("20260d") is reported rather than read as hours of empty days.
MAX_RANGE_DAYS = 3660
DAY_FORMS = "today, yesterday, 7d or YYYY-MM-DD"


class DateError(ValueError):
    """A date or range given by the user cannot be understood; the message says what to type."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def today_utc() -> date:
    return utc_now().date()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text) -> datetime | None:
    """Return an aware datetime from ISO 8601 text (UTC when it names no zone), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age_seconds(text, now: datetime) -> float | None:
    """Return how many seconds before now the ISO time text was, or None when unreadable."""
    moment = parse_time(text)
    return None if moment is None else (now - moment).total_seconds()


def parse_day(text: str, today: date | None = None) -> date:
    """Understand today, yesterday, Nd (N days ago) and YYYY-MM-DD; DateError otherwise."""
    today = today or today_utc()
    value = text.strip().lower()
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    if match := RELATIVE_DAYS.match(value):
        return today - timedelta(days=int(match.group(1)))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DateError(f"{text!r} is not a date; use {DAY_FORMS}") from None


def check_day_range(since: date, until: date, max_days: int = MAX_RANGE_DAYS) -> None:
    """Raise DateError when since is after until, or the range is longer than max_days."""
    if since > until:
        raise DateError(f"--since {since} is after --until {until}; swap them")
    if (until - since).days + 1 > max_days:
        raise DateError(f"{since} .. {until} is more than {max_days} days; ask for less")


def day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """Return [start, end): 00:00 UTC of first and 00:00 UTC of the day after last (or first)."""
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(last or first, time.min, UTC) + timedelta(days=1)
    return start, end


def human_duration(seconds: float | None) -> str:
    """Say a duration the short way a phone screen has room for: 45s, 12m, 3h05m, 2d4h."""
    if seconds is None:
        return "-"
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"
