"""The usage summary the TUI shows (api/summary.py): the ledger's daily rollup (store migration 10, a trigger)
against the ledger's own rows, today / 7 days / all told, per agent and per model, who waits for a permit (the
real limiter), the migration filling the rollup from an older store, and the TUI's buffer carrying it
(README: Rate limits and usage)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from agentmux.api.ledger import Ledger
from agentmux.api.limiter import STALE, KeyLimits, Limiter
from agentmux.api.summary import PERIODS, money, read_usage, tokens, utc_day
from agentmux.config import Config
from agentmux.config.model import Settings
from agentmux.store import MIGRATIONS, Store, split_sql
from agentmux.supervisor.look import Look
from agentmux.supervisor.ui import USAGE_EVERY, UiBuffer
from tests.conftest import wait_until

DAY = 86400.0


def record(book: Ledger, agent: str, model: str, at: float, status: int = 200, scale: int = 1) -> None:
    book.record(agent=agent, key="default", model=model, input=1000 * scale, output=100 * scale,
                cache_write=10 * scale, cache_read=500 * scale, latency=0.5, status=status, at=at)


def test_the_rollup_adds_up_to_the_ledger_per_period(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    book = Ledger(store)
    now = time.time()
    record(book, "ada", "claude-sonnet-4-5", now)
    record(book, "ada", "claude-sonnet-4-5", now, status=429)
    record(book, "ada", "claude-haiku-4-5", now - 3 * DAY)
    record(book, "bob", "claude-sonnet-4-5", now - 10 * DAY, scale=100)
    summary = read_usage(store.db, now)
    assert PERIODS == ("today", "7 days", "all") and summary.day == utc_day(now)
    today, week, everything = summary.of("ada")
    assert (today.requests, today.errors, today.input, today.output, today.cache_write, today.cache_read) == \
        (2, 1, 2000, 200, 20, 1000)
    assert week.requests == 3 and everything.requests == 3
    assert summary.of("bob")[0].requests == 0 and summary.of("bob")[1].requests == 0
    assert summary.of("bob")[2].input == 100_000 and summary.of("nobody")[2].requests == 0
    # the rollup's costs are the ledger's, request by request
    for agent in ("ada", "bob"):
        assert summary.of(agent)[2].cost == pytest.approx(book.spent(agent))
        ledger_row = next(u for u in book.summary(0.0) if u.name == agent)
        rolled = summary.of(agent)[2]
        assert (rolled.requests, rolled.errors, rolled.input, rolled.output, rolled.cache_write,
                rolled.cache_read) == (ledger_row.requests, ledger_row.errors, ledger_row.input, ledger_row.output,
                                       ledger_row.cache_write, ledger_row.cache_read)
    # per agent and per model, costliest first, only names with requests in the period
    assert [name for name, _ in summary.by("agent", 2)] == ["bob", "ada"]
    assert [name for name, _ in summary.by("agent", 0)] == ["ada"]
    assert [name for name, _ in summary.by("model", 1)] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert summary.total(2).requests == 4 and summary.total(0).cost == pytest.approx(today.cost)


def test_the_migration_rolls_up_what_an_older_store_recorded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, migration in enumerate(MIGRATIONS[:9]):  # a store of schema 9: the ledger without its rollup
        for statement in split_sql(migration):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number + 1}")
    now = time.time()
    for n in range(5):
        db.execute("INSERT INTO api_usage (at, agent, key, model, input, output, status, via, cost) "
                   "VALUES (?, 'ada', 'default', 'claude-sonnet-4-5', 100, 10, ?, 'agent', 0.01)",
                   (now - n * DAY, "200" if n else "500"))
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    summary = read_usage(store.db, now)
    assert [t.requests for t in summary.of("ada")] == [1, 5, 5]
    assert summary.of("ada")[0].errors == 1 and summary.of("ada")[2].input == 500
    assert summary.of("ada")[2].cost == pytest.approx(0.05)
    Ledger(store).record(agent="ada", key="default", model="claude-sonnet-4-5", input=1, at=now)  # the trigger
    assert read_usage(store.db, now).of("ada")[0].requests == 2


def test_who_waits_for_a_permit(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    limits = {"default": KeyLimits(requests_per_minute=1, window=1.5)}
    Limiter(store, tmp_path, limits).reserve("default", "ada", 1, 1).settle(1, 1)
    assert read_usage(store.db, time.time()).waiting == ()
    waited = threading.Thread(target=lambda: Limiter(Store(store.path), tmp_path, limits).reserve(
        "default", "bob", 1, 1).settle(1, 1))
    started = time.time()
    waited.start()
    wait_until(lambda: read_usage(store.db, time.time()).waiting != (), message="bob waits")
    waiting = read_usage(store.db, time.time()).waits("bob")
    assert waiting is not None and waiting.key == "default" and started - 0.1 <= waiting.since <= time.time()
    assert read_usage(store.db, time.time()).waits("ada") is None
    waited.join(timeout=10)
    assert read_usage(store.db, time.time()).waiting == ()


def test_the_tuis_buffer_carries_the_summary_when_it_changed(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    clock = [1_000_000.0]
    buffer = UiBuffer(store, clock=lambda: clock[0])
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="s", state_dir=tmp_path))

    def look() -> Look:
        return Look(at=clock[0], config=config, config_change=None, statuses=(), panes=MappingProxyType({}),
                    screens=MappingProxyType({}), changes=(), holding=False, dispatcher=None, queue=None)

    buffer.consume(look())
    first = buffer.take().usage
    assert first is not None and first.rows == ()
    other = Store(store.path)  # another process: an api agent recording a request
    Ledger(other).record(agent="ada", key="default", model="claude-sonnet-4-5", input=10, at=clock[0])
    clock[0] += USAGE_EVERY / 2
    buffer.consume(look())
    assert buffer.take().usage is None  # read at most every USAGE_EVERY seconds
    clock[0] += USAGE_EVERY
    buffer.consume(look())
    taken = buffer.take().usage
    assert taken is not None and taken.of("ada")[2].input == 10 and buffer.usage == taken
    clock[0] += USAGE_EVERY * 2
    buffer.consume(look())
    assert buffer.take().usage is None  # nobody wrote: not read, not sent

    # a waiter whose process died: nobody writes again, yet it goes from the summary once it is stale
    with other.contended() as db:
        db.execute("INSERT INTO api_waiters (key, agent, share, since, seen, pid) VALUES ('default', 'bob', 1, ?, ?, "
                   "999999)", (clock[0], clock[0]))
    clock[0] += USAGE_EVERY
    buffer.consume(look())
    shown = buffer.take().usage
    assert shown is not None and shown.waits("bob") is not None
    clock[0] += STALE + USAGE_EVERY
    buffer.consume(look())
    gone = buffer.take().usage
    assert gone is not None and gone.waiting == ()
    other.close()


def test_money_and_tokens_read_short() -> None:
    assert [money(c) for c in (0, 0.000141, 0.0042, 0.42, 12.3, 1234.5)] == [
        "$0", "$0.00014", "$0.0042", "$0.42", "$12.30", "$1,234"]
    assert [tokens(n) for n in (812, 12_345, 4_560_000)] == ["812", "12.3k", "4.56M"]
