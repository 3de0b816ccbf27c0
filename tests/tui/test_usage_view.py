"""The usage view (U) and the tiles' cost and wait badges, live: real tmux, the real store, requests recorded by
another connection (as an api agent or the gateway records them) and a real wait for a permit of the shared
limiter (README: Rate limits and usage)."""

from __future__ import annotations

import contextlib
import io
import threading
import time

from rich.console import Console
from textual.css.query import NoMatches
from textual.widgets import Static

from agentmux.api.ledger import Ledger
from agentmux.api.limiter import KeyLimits, Limiter, LimitTimeout
from agentmux.store import Store
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.screens.usage import UsageScreen
from tests.conftest import Env
from tests.tui.conftest import SIZE, tile, until
from tests.tui.test_coord_view import bottom_edge


def tile_text(app: AgentmuxApp, name: str) -> str:
    try:
        return "\n".join(tile(app, name).lines)
    except NoMatches:
        return ""


def section_text(app: AgentmuxApp, key: str) -> str:
    """What a section of the usage view shows, as plain text."""
    body = app.screen.query_one(f"#usage-{key}").query_one(Static).content
    console = Console(width=140, color_system=None, file=io.StringIO())
    console.print(body)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def topbar(app: AgentmuxApp) -> str:
    dashboard = app.dashboard
    return "" if dashboard is None else dashboard._topbar


async def test_usage_shows_on_the_tile_in_the_top_bar_and_in_the_view(env: Env) -> None:
    env.write_config('[[agents]]\nname = "builder"\ncommand = "echo ready; exec sleep 600"\nbudget = 1.0\n')
    assert env.cli("up").returncode == 0
    config = env.load()
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "ready" in tile_text(app, "builder"), what="builder's tile")
        await until(pilot, lambda: "$0/$1.00" in bottom_edge(app, "builder"), what="the budget on the tile")

        await pilot.press("U")
        await until(pilot, lambda: isinstance(app.screen, UsageScreen) and app.screen.summary is not None,
                    what="the usage view with a summary")
        assert "no API requests in this period" in section_text(app, "agents")
        assert "nobody waits" in section_text(app, "waiting")
        assert app.screen.focused is app.screen.query_one("#usage-agents")

        store = Store(config.store_path)  # another process's connection, as an api agent's
        Ledger(store).record(agent="builder", key="default", model="claude-sonnet-4-5", input=100_000,
                             output=20_000, cache_read=100_000, latency=1.2, status=200)
        await until(pilot, lambda: "builder" in section_text(app, "agents"), what="the request in the view",
                    timeout=10)
        row = next(line for line in section_text(app, "agents").splitlines() if "builder" in line)
        assert row.split()[:8] == ["builder", "1", "0", "100.0k", "20.0k", "0", "100.0k", "$0.63"], row
        assert "$0.63 of $1.00 (63%)" in row
        assert "claude-sonnet-4-5" in section_text(app, "models")
        await pilot.press("3")
        assert "Agents · all" in str(app.screen.query_one("#usage-agents").border_title)

        limits = {"default": KeyLimits(requests_per_minute=1, window=60.0)}
        Limiter(store, env.state_dir, limits).reserve("default", "builder", 1, 1).settle(1, 1)

        def wait_in_vain() -> None:  # waits until it gives up: long enough for every check below
            with contextlib.suppress(LimitTimeout):
                Limiter(Store(config.store_path), env.state_dir, limits).reserve("default", "builder", 1, 1, wait=12)

        waiter = threading.Thread(target=wait_in_vain)
        waiter.start()
        await until(pilot, lambda: "builder" in section_text(app, "waiting"), what="the wait in the view",
                    timeout=10)

        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await until(pilot, lambda: "◷ api" in bottom_edge(app, "builder"), what="the wait on the tile")
        assert "$0.63/$1.00" in bottom_edge(app, "builder")
        assert "$0.63 today · 1 waits for the API (U)" in topbar(app)
        waiter.join(timeout=20)
        assert not waiter.is_alive()
        await until(pilot, lambda: "◷ api" not in bottom_edge(app, "builder"), what="the wait gone", timeout=10)

        Ledger(store).record(agent="builder", key="default", model="claude-sonnet-4-5", input=200_000,
                             status=200, at=time.time())
        await until(pilot, lambda: "$1.23/$1.00 spent" in bottom_edge(app, "builder"), what="the budget spent",
                    timeout=10)
        store.close()
