"""What a person types to choose log entries, for the CLI (`agentmux logs`) and the TUI alike: times as a
duration ago (`30s`, `5m`, `2h`, `1d`, `1h30m`) or a moment (ISO 8601 `2026-12-02T10:00`, `10:00` today,
`today`, `yesterday`, `now`), and the `LogQuery` a set of filters makes (`user_query`).

Every refusal is a `FilterError` naming the filter, the value as typed and the reason, so each face words it
its own way (`--since '5x': ...` on the command line)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence

from agentmux.logs.model import Severity
from agentmux.logs.query import LogQuery

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""Seconds per unit of a duration: seconds, minutes, hours, days, weeks."""
PART_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
DURATION_RE = re.compile(rf"(?:{PART_RE.pattern})+")
MAX_AGO = 100 * 365 * 86400
"""The longest duration ago (about a century): anything longer is a typo."""
EXAMPLES = "a duration ago (30s, 5m, 2h, 1d, 1h30m), a time today (10:00), or a date and time (2026-12-02T10:00)"


class FilterError(ValueError):
    """A filter a person gave cannot be used: which one (`since`, `until`, `level`, `grep`, `limit`), the value
    as given, and why."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name} {value!r}: {reason}")


def parse_duration(text: str) -> float | None:
    """Seconds of a duration (`90s`, `5m`, `1.5h`, `1h30m`, `2d`, `1w`), None when the text is not one.
    Raises ValueError for one that is too long to mean anything."""
    compact = text.strip().lower().replace(" ", "")
    if not DURATION_RE.fullmatch(compact):
        return None
    seconds = sum(float(number) * UNITS[unit] for number, unit in PART_RE.findall(compact))
    if not math.isfinite(seconds) or seconds > MAX_AGO:
        raise ValueError("is longer ago than anything logged (at most about 100 years)")
    return seconds


def parse_time(text: str, now: float) -> float:
    """The moment a text names, in Unix seconds: a duration ago, `now`, `today` or `yesterday` (midnight,
    local time), an ISO 8601 date and time (`2026-12-02T10:00`, `2026-12-02 10:00:30.5`, `2026-12-02`, with
    or without an offset: without one it is local time), or a time today (`10:00`, `10:00:30`). Raises
    ValueError saying what it accepts."""
    word = text.strip()
    if not word:
        raise ValueError(f"is empty: give {EXAMPLES}")
    seconds = parse_duration(word)
    if seconds is not None:
        return now - seconds
    lowered = word.lower()
    midnight = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if lowered == "now":
        return now
    if lowered in ("today", "yesterday"):
        return (midnight - dt.timedelta(days=1 if lowered == "yesterday" else 0)).timestamp()
    if re.fullmatch(r"[+-]?\d+(?:\.\d+)?", word):
        raise ValueError(f"is a number without a unit: write {word}s, {word}m, {word}h or {word}d (ago)")
    try:
        if re.fullmatch(r"T?\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", word, re.IGNORECASE):
            clock = dt.time.fromisoformat(word)  # 10:00, 10:00:30.5, 10:00+02:00: today
            return dt.datetime.combine(midnight.date(), clock).timestamp()
        return dt.datetime.fromisoformat(word).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        detail = "" if "isoformat" in str(exc) else f" ({exc})"  # a field out of range: say which
        raise ValueError(f"is not a time{detail}: give {EXAMPLES}") from None


def parse_level(text: str) -> Severity:
    """A level by name (`error`, `warning` or `warn`, `info`, `debug`, any case); ValueError names them."""
    try:
        return Severity.parse(text)
    except ValueError:
        raise ValueError("is not a level: choose error, warning, info or debug") from None


def user_query(agents: Sequence[str] = (), grep: str | None = None, ignore_case: bool = False, search: str = "",
               level: str | None = None, since: str | None = None, until: str | None = None,
               limit: int = 1000, now: float = 0.0) -> LogQuery:
    """The query of filters as a person gives them (each optional): agents by name, a regular expression
    (`grep`, Python's `re`, case-sensitive unless `ignore_case`), words and "quoted phrases" (`search`, any
    case), a minimum level, a time range (`since`, `until`: see `parse_time`, relative to `now`), the newest
    `limit` entries. Raises FilterError for a filter that cannot be used."""
    severity = None
    if level is not None:
        try:
            severity = parse_level(level)
        except ValueError as exc:
            raise FilterError("level", level, str(exc)) from None
    times: dict[str, float | None] = {"since": None, "until": None}
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                times[name] = parse_time(value, now)
            except ValueError as exc:
                raise FilterError(name, value, str(exc)) from None
    start, end = times["since"], times["until"]
    if start is not None and end is not None and end <= start:
        raise FilterError("until", str(until), f"is not after since ({since}): no entry can be in between")
    if limit < 1:
        raise FilterError("limit", str(limit), "give a number of entries, 1 or more")
    try:
        query = LogQuery(agents=tuple(dict.fromkeys(agents)), text=search, regex=grep, ignore_case=ignore_case,
                         level=severity, since=start, until=end, limit=limit)
        query.pattern  # noqa: B018 - compiled now: some errors (a look-behind's width) only compiling finds
    except ValueError as exc:  # the expression does not parse (LogQuery checks it)
        raise FilterError("grep", str(grep), str(exc).removeprefix(f"{grep!r} ")) from None
    except re.error as exc:  # it parses but does not compile
        raise FilterError("grep", str(grep), f"is not a regular expression: {exc}") from None
    except (RecursionError, OverflowError) as exc:
        raise FilterError("grep", str(grep), f"is not a usable regular expression: {exc}") from None
    return query
