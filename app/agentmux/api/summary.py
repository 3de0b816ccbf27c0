"""What the TUI shows of the API: each agent's and model's usage today, in the last 7 days and all told, and who
waits for a permit now (README: Rate limits and usage).

Read from the ledger's rollups (`api_usage_total` per agent and model, `api_usage_daily` per day too, kept by a
trigger on `api_usage`: store.py, migration 10), so a read costs a few rows per agent and model (the last 7 days'
of the daily one), however long the ledger. Days are UTC days. The supervisor's UI
consumer reads it (supervisor/ui.py) when the store changed, at most every `USAGE_EVERY` seconds.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from agentmux.api.limiter import STALE
from agentmux.store import ROLLUP_COLUMNS, snapshot

PERIODS = ("today", "7 days", "all")
"""The periods a summary adds up: since today's UTC midnight, over the last 7 UTC days (today included), all told."""
WEEK_DAYS = 7


@dataclass(frozen=True)
class Totals:
    """Requests and their tokens by kind and cost estimate (USD), over some period."""

    requests: int = 0
    errors: int = 0
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0
    cost: float = 0.0

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.requests + other.requests, self.errors + other.errors, self.input + other.input,
                      self.output + other.output, self.cache_write + other.cache_write,
                      self.cache_read + other.cache_read, self.cost + other.cost)

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read


NONE = (Totals(), Totals(), Totals())


@dataclass(frozen=True)
class Waiting:
    """An agent waiting for a permit on an API key (the oldest of its waiters)."""

    agent: str
    key: str
    since: float


@dataclass(frozen=True)
class UsageSummary:
    """Usage per (agent, model) for each of `PERIODS`, and who waits for a permit."""

    rows: tuple[tuple[str, str, tuple[Totals, Totals, Totals]], ...] = ()
    """(agent, model, (today, 7 days, all)), by agent then model."""
    waiting: tuple[Waiting, ...] = ()
    """Who waits, oldest first (one entry per agent)."""
    day: str = ""
    """The UTC day `today` is."""
    _agents: Mapping[str, tuple[Totals, Totals, Totals]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        agents: dict[str, tuple[Totals, Totals, Totals]] = {}
        for agent, _model, periods in self.rows:
            had = agents.get(agent, NONE)
            agents[agent] = (had[0] + periods[0], had[1] + periods[1], had[2] + periods[2])
        object.__setattr__(self, "_agents", MappingProxyType(agents))

    def of(self, agent: str) -> tuple[Totals, Totals, Totals]:
        """An agent's (today, 7 days, all)."""
        return self._agents.get(agent, NONE)

    def waits(self, agent: str) -> Waiting | None:
        return next((waiting for waiting in self.waiting if waiting.agent == agent), None)

    def by(self, what: str, period: int) -> list[tuple[str, Totals]]:
        """Per agent or per model ("agent" | "model") over one of `PERIODS` (its index), costliest first; only
        names with requests in the period."""
        groups: dict[str, Totals] = {}
        for agent, model, periods in self.rows:
            name = agent if what == "agent" else model
            groups[name] = groups.get(name, Totals()) + periods[period]
        return sorted(((name, totals) for name, totals in groups.items() if totals.requests),
                      key=lambda item: (-item[1].cost, -item[1].tokens, item[0]))

    def total(self, period: int) -> Totals:
        result = Totals()
        for _agent, _model, periods in self.rows:
            result = result + periods[period]
        return result


def utc_day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def read_usage(db: sqlite3.Connection, now: float) -> UsageSummary:
    """The summary as the store has it now, in one read transaction: the last 7 days of the daily rollup, the
    totals, the waiters."""
    today, week = utc_day(now), utc_day(now - (WEEK_DAYS - 1) * 86400)
    columns = ", ".join(ROLLUP_COLUMNS)
    sums = ", ".join(f"sum({column})" for column in ROLLUP_COLUMNS)
    with snapshot(db):
        daily = db.execute(f"SELECT agent, model, day = ? AS today, {sums} FROM api_usage_daily WHERE day >= ? "
                           "GROUP BY agent, model, today", (today, week)).fetchall()
        totals_rows = db.execute(f"SELECT agent, model, {columns} FROM api_usage_total "
                                 "ORDER BY agent, model").fetchall()
        waiters = db.execute("SELECT agent, key, min(since) FROM api_waiters WHERE seen > ? GROUP BY agent, key "
                             "ORDER BY 3", (now - STALE,)).fetchall()
    recent: dict[tuple[str, str], list[Totals]] = {}
    for row in daily:
        periods = recent.setdefault((str(row[0]), str(row[1])), [Totals(), Totals()])
        totals = totals_of(tuple(row)[3:])
        periods[1] = periods[1] + totals
        if row[2]:
            periods[0] = totals
    summary_rows = []
    for row in totals_rows:
        name = (str(row[0]), str(row[1]))
        today_, week_ = recent.get(name, (Totals(), Totals()))
        summary_rows.append((*name, (today_, week_, totals_of(tuple(row)[2:]))))
    seen: set[str] = set()
    waiting = []
    for agent, key, since in waiters:
        if agent not in seen:
            seen.add(agent)
            waiting.append(Waiting(str(agent), str(key), float(since)))
    return UsageSummary(rows=tuple(summary_rows), waiting=tuple(waiting), day=today)


def totals_of(values: Sequence[float | None]) -> Totals:
    """Totals from the rollup's columns (ROLLUP_COLUMNS, in their order)."""
    requests, errors, input_, output, cache_write, cache_read, cost = (value or 0 for value in values)
    return Totals(int(requests), int(errors), int(input_), int(output), int(cache_write), int(cache_read),
                  float(cost))


def money(cost: float) -> str:
    """$0.00014, $0.0042, $0.42, $12.30, $1,234: below a cent two significant digits, so small costs and budgets
    are told apart (a tiny budget spent reads `$0.00014 of $0.0001`, not `$0.00 of $0.00`)."""
    if cost == 0:
        return "$0"
    if cost < 0.01:
        digits = 1 - math.floor(math.log10(cost))
        return f"${cost:.{digits}f}"
    if cost < 1000:
        return f"${cost:.2f}"
    return f"${cost:,.0f}"


def tokens(count: int) -> str:
    """812, 12.3k, 4.56M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"
