"""Times and days: ISO timestamps as the agent writes them, days as an operator types them."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from {{ cookiecutter.package_name }}.contract.times import (
    DateError,
    age_seconds,
    check_day_range,
    day_bounds,
    human_duration,
    iso,
    parse_day,
    parse_time,
)

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-10T12:00:00+00:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("2026-03-10T12:00:00.123+00:00", datetime(2026, 3, 10, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-10T12:00:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),  # no zone: UTC
        ("2026-03-10T14:00:00+02:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("2026-03-10T12:00:00Z", datetime(2026, 3, 10, 12, tzinfo=UTC)),
    ],
)
def test_iso_times_are_read_as_aware_moments(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-13-01T00:00:00", 1700000000, []])
def test_anything_else_is_no_time(text):
    assert parse_time(text) is None


def test_iso_writes_utc_seconds():
    moment = datetime(2026, 3, 10, 14, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))

    assert iso(moment) == "2026-03-10T12:00:00+00:00"


def test_age_of_a_time_and_of_no_time():
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)

    assert age_seconds("2026-03-10T11:58:00+00:00", now) == 120
    assert age_seconds("not a time", now) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", TODAY),
        (" Today ", TODAY),
        ("yesterday", date(2026, 3, 9)),
        ("7d", date(2026, 3, 3)),
        ("0d", TODAY),
        ("30d", date(2026, 2, 8)),
        ("2024-02-29", date(2024, 2, 29)),
    ],
)
def test_days_in_every_documented_form(text, expected):
    assert parse_day(text, TODAY) == expected


def test_today_is_the_utc_day_by_default():
    before = datetime.now(UTC).date()
    day = parse_day("today")
    assert day in {before, datetime.now(UTC).date()}


@pytest.mark.parametrize(
    "text",
    ["", "tomorrow", "last week", "7", "7 days", "-1d", "12345d", "2023-02-29", "10/03/2026"],
)
def test_other_days_are_refused_with_the_forms_to_use(text):
    with pytest.raises(DateError, match=r"is not a date; use today, yesterday, 7d or YYYY-MM-DD"):
        parse_day(text, TODAY)


def test_day_ranges_are_checked():
    check_day_range(date(2026, 3, 1), date(2026, 3, 1))
    with pytest.raises(
        DateError, match="--since 2026-03-02 is after --until 2026-03-01; swap them"
    ):
        check_day_range(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(DateError, match="is more than 10 days; ask for less"):
        check_day_range(date(2026, 3, 1), date(2026, 3, 11), max_days=10)
    check_day_range(date(2026, 3, 1), date(2026, 3, 10), max_days=10)


def test_day_bounds_are_utc_midnights_end_excluded():
    start, end = day_bounds(date(2026, 3, 9))
    assert (start, end) == (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))

    start, end = day_bounds(date(2026, 3, 1), date(2026, 3, 9))
    assert end - start == timedelta(days=9)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (-5, "0s"),
        (45, "45s"),
        (12 * 60 + 59, "12m"),
        (3 * 3600 + 5 * 60, "3h05m"),
        (47 * 3600, "47h00m"),
        (2 * 86400 + 4 * 3600, "2d4h"),
    ],
)
def test_durations_fit_a_phone_screen(seconds, text):
    assert human_duration(seconds) == text
