"""What the TUI tests share: waiting on a running app with a deadline, and finding its parts."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

from agentmux.tui.app import AgentmuxApp
from agentmux.tui.widgets.tile import AgentTile

SIZE = (160, 48)


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 20.0,
                what: str | Callable[[], str] = "it") -> None:
    """Let the app run until predicate() holds, or fail after the deadline (saying what was awaited)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        await pilot.pause(0.05)


def tile(app: AgentmuxApp, name: str) -> AgentTile:
    """The agent's tile on the dashboard."""
    return app.screen.query_one(f"#tile-{name}", AgentTile)


def holding(app: AgentmuxApp) -> bool:
    """This TUI holds the dispatch lease."""
    return app.pipeline is not None and app.pipeline.lease.holding
