"""The coordination view and the tiles' badges, live, with real tmux and the real `agentmux` command taking and
giving back a lock in another process."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Static

from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.coord import CoordScreen, CoordSection
from agentmux.tui.screens.dashboard import DashboardScreen
from tests.conftest import Env
from tests.tui.conftest import SIZE, tile, until


def section_text(app: AgentmuxApp, key: str) -> str:
    """What a section of the coordination view shows, as plain text."""
    body = app.screen.query_one(f"#coord-{key}", CoordSection).query_one(Static).content
    console = Console(width=100, color_system=None, file=io.StringIO())
    console.print(body)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def bottom_edge(app: AgentmuxApp, name: str) -> str:
    shown = tile(app, name)
    return "".join(segment.text for segment in shown.render_line(shown.size.height - 1))


async def test_a_lock_taken_with_the_cli_shows_in_the_view_and_on_the_holders_tile(env: Env) -> None:
    env.write_config('[[agents]]\nname = "builder"\ncommand = "echo ready; exec sleep 600"\n')
    assert env.cli("up").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "ready" in "\n".join(tile(app, "builder").lines), what="builder's tile")
        await until(pilot, lambda: app.screen.focused is not None, what="the dashboard's first focus")

        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, CoordScreen) and app.screen.summary is not None,
                    what="the coordination view with a summary")
        assert "no locks — agents take them with `agentmux lock acquire NAME`" in section_text(app, "locks")
        assert app.screen.focused is app.screen.query_one("#coord-locks")
        await pilot.press("tab")
        assert app.screen.focused is app.screen.query_one("#coord-reservations")

        taken = env.cli("lock", "acquire", "build", "--as", "builder", "--ttl", "300")
        assert taken.returncode == 0, taken.stderr
        await until(pilot, lambda: "builder" in section_text(app, "locks"), what="the lock in the view",
                    timeout=10)
        row = next(line for line in section_text(app, "locks").splitlines() if "builder" in line)
        assert row.split()[:4] == ["build", "builder", "exclusive", taken.stdout.split()[0]], row  # the token
        assert "Locks · 1" in str(app.screen.query_one("#coord-locks").border_title)

        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        assert tile(app, "builder").coord.holds == ("build",)
        await until(pilot, lambda: "⚷ build" in bottom_edge(app, "builder"), what="the badge on the tile")

        given = env.cli("lock", "release", "build", "--as", "builder")
        assert given.returncode == 0, given.stderr
        await until(pilot, lambda: "⚷" not in bottom_edge(app, "builder"), what="the badge gone", timeout=10)

        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, CoordScreen) and "no locks" in section_text(app, "locks"),
                    what="no locks in the view")
        await pilot.press("q")  # q goes back here; it quits only the dashboard
        assert isinstance(app.screen, DashboardScreen) and app.is_running
