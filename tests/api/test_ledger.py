"""The usage ledger (api/ledger.py): records, summaries by agent and by model, cost estimates from the prices,
budgets, and `agentmux usage` (the real command, in a subprocess)."""

from __future__ import annotations

import json
import time

import pytest

from agentmux.api.ledger import Ledger, p95
from agentmux.api.prices import DEFAULT_PRICES, Price, price_of
from agentmux.config.model import AgentSpec
from agentmux.store import Store
from tests.conftest import Env


def ledger(env: Env) -> Ledger:
    return Ledger(Store(env.config_path.parent / "state" / "agentmux-test.db"))


def test_prices_match_by_the_longest_prefix() -> None:
    assert price_of("claude-sonnet-4-5-20250929") == DEFAULT_PRICES["claude-sonnet"]
    assert price_of("claude-opus-4-5") == DEFAULT_PRICES["claude-opus-4-5"]
    assert price_of("claude-opus-4-1") == DEFAULT_PRICES["claude-opus"]
    assert price_of("gpt-4") is None
    mine = {"claude-sonnet-4-5": Price(1.0, 2.0, 0.0, 0.0)}
    assert price_of("claude-sonnet-4-5-x", mine) == mine["claude-sonnet-4-5"]
    assert Price(3.0, 15.0, 3.75, 0.30).cost(1_000_000, 100_000, 10_000, 1_000_000) == pytest.approx(
        3.0 + 1.5 + 0.0375 + 0.30)


def test_records_summary_cost_and_budgets(env: Env) -> None:
    book = ledger(env)
    now = time.time()
    cost = book.record(agent="a", key="default", model="claude-sonnet-4-5", input=1000, output=200, cache_write=100,
                       cache_read=5000, latency=1.5, first_token=0.4, status=200, at=now - 7200)
    assert cost == pytest.approx((1000 * 3.0 + 200 * 15.0 + 100 * 3.75 + 5000 * 0.30) / 1e6)
    book.record(agent="a", key="default", model="claude-haiku-4-5", input=10, output=5, latency=0.5, status=200)
    book.record(agent="b", key="default", model="claude-sonnet-4-5", input=10, latency=3.0, status=429, via="gateway")
    book.record(agent="b", key="default", model="unknown-model", input=10, status="error")
    by_agent = {u.name: u for u in book.summary()}
    assert by_agent["a"].requests == 2 and by_agent["a"].input == 1010 and by_agent["a"].cache_read == 5000
    assert by_agent["a"].cache_write == 100 and by_agent["a"].errors == 0 and by_agent["a"].p95_latency == 1.5
    assert by_agent["b"].errors == 2 and by_agent["b"].p95_latency == 3.0
    recent = {u.name: u for u in book.summary(since=now - 60)}
    assert recent["a"].requests == 1
    by_model = {u.name: u for u in book.summary(by="model")}
    assert set(by_model) == {"claude-sonnet-4-5", "claude-haiku-4-5", "unknown-model"}
    assert by_model["unknown-model"].cost == 0.0
    assert book.spent("a") == pytest.approx(cost + (10 * 1.0 + 5 * 5.0) / 1e6)
    spec = AgentSpec(name="a", budget=0.005, on_budget="stop")
    over = book.over_budget("a", spec)
    assert over is not None and over[1] == 0.005 and over[0] == pytest.approx(book.spent("a"))
    assert book.over_budget("a", AgentSpec(name="a", budget=1.0)) is None
    assert book.over_budget("a", AgentSpec(name="a")) is None
    with pytest.raises(ValueError):
        book.summary(by="key; DROP TABLE api_usage")
    assert p95([]) is None and p95([float(i) for i in range(1, 101)]) == 95.0


def test_usage_command(env: Env) -> None:
    env.write_config()
    empty = env.cli("usage")
    assert empty.returncode == 0 and "no API requests recorded" in empty.stdout
    book = Ledger(Store(env.state_dir / f"{env.socket}.db"), {"claude-sonnet-4-5": Price(1.0, 1.0, 0.0, 0.0)})
    book.record(agent="writer", key="default", model="claude-sonnet-4-5", input=1_000_000, output=1_000_000,
                latency=2.0)
    book.record(agent="writer", key="default", model="claude-sonnet-4-5", input=10, output=10, status=500,
                latency=4.0, at=time.time() - 7200)
    book.record(agent="reviewer", key="default", model="claude-haiku-4-5", input=100, output=20, latency=0.5)
    out = env.cli("usage")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "REQUESTS", "INPUT"]
    writer = next(line for line in lines if line.startswith("writer")).split()
    assert writer[1] == "2" and writer[2] == "1,000,010" and "$2.0000" in writer and writer[-2:] == ["1", "4.00s"]
    assert any(line.startswith("total") for line in lines)
    recent = json.loads(env.cli("usage", "--since", "1h", "--json").stdout)
    rows = {row["name"]: row for row in recent["rows"]}
    assert rows["writer"]["requests"] == 1 and rows["writer"]["cost_usd"] == 2.0 and rows["writer"]["errors"] == 0
    models = json.loads(env.cli("usage", "--by", "model", "--json").stdout)
    assert {row["name"] for row in models["rows"]} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    bad = env.cli("usage", "--since", "5x")
    assert bad.returncode == 2 and "--since '5x': is not a time" in bad.stderr
