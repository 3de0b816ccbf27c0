"""What a person types to choose log entries (agentmux/logs/timespec.py): durations ago, moments, levels,
and the query they make; every refusal names the filter, the value and the reason."""

from __future__ import annotations

import datetime as dt

import pytest

from agentmux.logs import Severity
from agentmux.logs.timespec import FilterError, parse_duration, parse_time, user_query

NOW = dt.datetime(2026, 12, 2, 15, 30, 0).timestamp()  # local time
MIDNIGHT = dt.datetime(2026, 12, 2).timestamp()


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), ("1.5h", 5400),
    ("2D", 172800), ("1h 30m", 5400), ("0s", 0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_time(text, NOW) == NOW - seconds


@pytest.mark.parametrize(("text", "moment"), [
    ("2026-12-02T10:00", dt.datetime(2026, 12, 2, 10, 0)),
    ("2026-12-02 10:00:30", dt.datetime(2026, 12, 2, 10, 0, 30)),
    ("2026-12-02T10:00:30.250", dt.datetime(2026, 12, 2, 10, 0, 30, 250000)),
    ("2026-12-01", dt.datetime(2026, 12, 1)),
    ("10:00", dt.datetime(2026, 12, 2, 10, 0)),
    ("09:15:30", dt.datetime(2026, 12, 2, 9, 15, 30)),
    ("today", dt.datetime(2026, 12, 2)),
    ("yesterday", dt.datetime(2026, 12, 1)),
])
def test_moments_in_local_time(text: str, moment: dt.datetime) -> None:
    assert parse_time(text, NOW) == pytest.approx(moment.timestamp())


def test_moments_with_an_offset_and_now() -> None:
    utc = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC).timestamp()
    assert parse_time("2026-12-02T10:00Z", NOW) == utc
    assert parse_time("2026-12-02T12:00+02:00", NOW) == utc
    today_at_ten_utc = dt.datetime.combine(dt.date(2026, 12, 2), dt.time(10, 0, tzinfo=dt.UTC))
    assert parse_time("10:00Z", NOW) == today_at_ten_utc.timestamp()
    assert parse_time("now", NOW) == NOW


@pytest.mark.parametrize(("text", "reason"), [
    ("5x", "is not a time: give a duration ago (30s, 5m, 2h, 1d, 1h30m), a time today (10:00)"),
    ("30", "is a number without a unit: write 30s, 30m, 30h or 30d"),
    ("", "is empty"),
    ("25:00", "is not a time (hour must be in 0..23)"),
    ("2026-13-01", "is not a time (month must be in 1..12)"),
    ("-5m", "is not a time"),
    ("99999999999d", "is longer ago than anything logged"),
    ("0001-01-01", "is not a time"),
])
def test_what_is_not_a_time_says_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_time(text, NOW)
    assert reason in str(refused.value) and "\n" not in str(refused.value)


def test_user_query_makes_the_query() -> None:
    query = user_query(["b", "a", "b"], grep=r"err\w+", ignore_case=True, search='build "conn refused"',
                       level="warn", since="1h", until="10m", limit=7, now=NOW)
    assert query.agents == ("b", "a")
    assert (query.regex, query.ignore_case, query.terms) == (r"err\w+", True, ("build", "conn refused"))
    assert query.level is Severity.WARNING
    assert (query.since, query.until, query.limit) == (NOW - 3600, NOW - 600, 7)
    assert user_query(now=NOW) == user_query()  # nothing asked: every entry (the newest)
    assert user_query(level="ERROR").level is Severity.ERROR


@pytest.mark.parametrize(("filters", "name", "reason"), [
    ({"level": "loud"}, "level", "is not a level: choose error, warning, info or debug"),
    ({"since": "soon"}, "since", "is not a time"),
    ({"until": "x"}, "until", "is not a time"),
    ({"since": "1h", "until": "2h"}, "until", "is not after since (1h)"),
    ({"since": "10:00", "until": "10:00"}, "until", "is not after since"),
    ({"grep": "("}, "grep", "is not a regular expression: missing ), unterminated subpattern at position 0"),
    ({"grep": "(?<=a+)b"}, "grep", "is not a regular expression: look-behind requires fixed-width pattern"),
    ({"grep": "x{2,1}"}, "grep", "is not a regular expression: min repeat greater than max repeat"),
    ({"limit": 0}, "limit", "1 or more"),
])
def test_a_filter_that_cannot_be_used_is_named_with_its_value_and_reason(
        filters: dict[str, object], name: str, reason: str) -> None:
    with pytest.raises(FilterError) as refused:
        user_query(now=NOW, **filters)  # type: ignore[arg-type]
    assert refused.value.name == name and reason in refused.value.reason
    assert refused.value.value == str(filters.get(name, ""))


def test_midnight_is_local() -> None:
    assert parse_time("today", NOW) == MIDNIGHT
