"""UTC time: now, ISO 8601 text, and the days `costs` and `digest` accept."""

import re
from datetime import UTC, date, datetime, timedelta

from .errors import UsageError

RELATIVE_DAYS = re.compile(r"^(\d{1,4})d$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text) -> datetime | None:
    """Return an aware datetime from ISO 8601 text, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(text: str, today: date) -> date:
    """Understand today, yesterday, 7d (seven days ago) and YYYY-MM-DD (UTC days)."""
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
        raise UsageError(
            f"{text!r} is not a date; use today, yesterday, 7d or YYYY-MM-DD"
        ) from None
