"""The usage ledger: one row of `api_usage` per request to the Messages API, by an api agent or through the
gateway, with its tokens by kind, latency, status and a cost estimate (api/prices.py); the summaries
`agentmux usage` prints, and what budgets are checked against (README: Rate limits and usage).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from agentmux.api.prices import Price, price_of
from agentmux.config.model import AgentSpec
from agentmux.store import Store

BY = ("agent", "model")


@dataclass(frozen=True)
class Usage:
    """One group of a summary: an agent's or a model's requests since a time."""

    name: str
    requests: int
    input: int
    output: int
    cache_write: int
    cache_read: int
    cost: float
    errors: int
    p95_latency: float | None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "requests": self.requests, "input_tokens": self.input,
                "output_tokens": self.output, "cache_write_tokens": self.cache_write,
                "cache_read_tokens": self.cache_read, "cost_usd": round(self.cost, 6), "errors": self.errors,
                "p95_latency": self.p95_latency}


def p95(values: list[float]) -> float | None:
    """The 95th percentile (nearest rank), None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class Ledger:
    def __init__(self, store: Store, prices: Mapping[str, Price] | None = None) -> None:
        self.store = store
        self.prices = dict(prices or {})

    def record(self, *, agent: str, key: str, model: str, input: int = 0, output: int = 0, cache_write: int = 0,
               cache_read: int = 0, latency: float = 0.0, first_token: float | None = None,
               status: int | str = 200, via: str = "agent", at: float | None = None) -> float:
        """One request; its cost estimate (USD) is returned and kept with it."""
        price = price_of(model, self.prices)
        cost = price.cost(input, output, cache_write, cache_read) if price is not None else 0.0
        with self.store.contended() as db:
            db.execute("INSERT INTO api_usage (at, agent, key, model, input, output, cache_write, cache_read, "
                       "latency, first_token, status, via, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (time.time() if at is None else at, agent, key, model, input, output, cache_write,
                        cache_read, latency, first_token, str(status), via, cost))
        return cost

    def summary(self, since: float = 0.0, by: str = "agent") -> list[Usage]:
        """Per agent or per model, since a time, by name."""
        if by not in BY:
            raise ValueError(f"by must be one of {BY}")
        rows = self.store.db.execute(
            f"SELECT {by} AS name, status, latency, input, output, cache_write, cache_read, cost FROM api_usage "
            "WHERE at >= ? ORDER BY name", (since,)).fetchall()
        groups: dict[str, list[object]] = {}
        for row in rows:
            groups.setdefault(row["name"], []).append(row)
        result = []
        for name, members in groups.items():
            group = [dict(member) for member in members]  # type: ignore[call-overload]
            result.append(Usage(
                name=name, requests=len(group), input=sum(r["input"] for r in group),
                output=sum(r["output"] for r in group), cache_write=sum(r["cache_write"] for r in group),
                cache_read=sum(r["cache_read"] for r in group), cost=sum(r["cost"] for r in group),
                errors=sum(1 for r in group if not str(r["status"]).startswith("2")),
                p95_latency=p95([r["latency"] for r in group])))
        return result

    def spent(self, agent: str) -> float:
        """USD an agent's requests cost, all told (its budget is checked against this)."""
        row = self.store.db.execute("SELECT coalesce(sum(cost), 0) FROM api_usage_total WHERE agent = ?",
                                    (agent,)).fetchone()  # the rollup: a row per model, not one per request
        return float(row[0])

    def over_budget(self, agent: str, spec: AgentSpec) -> tuple[float, float] | None:
        """(spent, budget) when the agent has a budget and spent it all, else None. What follows is the
        spec's `on_budget`: warn, or stop."""
        if spec.budget is None:
            return None
        spent = self.spent(agent)
        return (spent, spec.budget) if spent >= spec.budget else None
