"""What tokens cost, in USD per million, for the ledger's estimates (README: Rate limits and usage).

The defaults are estimates of Anthropic's list prices for the current model families, matched by the
longest prefix of the model's name; `[api.prices."MODEL"]` in the config overrides or adds one (matched the
same way). A model no entry matches costs 0: the ledger still counts its tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentmux.config.model import ApiSettings

MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, input: int, output: int, cache_write: int = 0, cache_read: int = 0) -> float:
        return (input * self.input + output * self.output + cache_write * self.cache_write
                + cache_read * self.cache_read) / MILLION


DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0, 6.25, 0.50),
    "claude-opus": Price(15.0, 75.0, 18.75, 1.50),
    "claude-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4-5": Price(1.0, 5.0, 1.25, 0.10),
    "claude-haiku": Price(0.80, 4.0, 1.0, 0.08),
    "claude-3-opus": Price(15.0, 75.0, 18.75, 1.50),
    "claude-3-5-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 3.75, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.0, 1.0, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.30, 0.03),
}
"""Estimates (USD per million tokens), by model-name prefix: the longest matching prefix wins."""


def price_of(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The price of a model: the config's entries first, then the defaults, each by longest prefix."""
    for table in (prices or {}, DEFAULT_PRICES):
        matches = [prefix for prefix in table if model.startswith(prefix)]
        if matches:
            return table[max(matches, key=len)]
    return None


def configured(api: ApiSettings) -> dict[str, Price]:
    """The config's `[api.prices]` entries as prices (the ledger takes them: `Ledger(store, configured(api))`)."""
    return {model: Price(p.input, p.output, p.cache_write, p.cache_read) for model, p in api.prices.items()}
