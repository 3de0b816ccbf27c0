"""The coordination view and the tiles' badges, live, with real tmux and the real `agentmux` command taking and
giving back a lock in another process."""

from __future__ import annotations

import io

from rich.console import Console
from textual.css.query import NoMatches
from textual.geometry import Region
from textual.widgets import Static

from agentmux.coord.summary import CoordSummary, OwnerCoord
from agentmux.supervisor.ui import UiUpdate
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.coord import CoordScreen, CoordSection
from agentmux.tui.screens.dashboard import DashboardScreen
from tests.conftest import Env
from tests.snapshots.fixtures import CLAUDE_STATUSES, FIXED_TIME, claude_config, make_app
from tests.tui.conftest import SIZE, tile, until


def section_text(app: AgentmuxApp, key: str) -> str:
    """What a section of the coordination view shows, as plain text."""
    body = app.screen.query_one(f"#coord-{key}", CoordSection).query_one(Static).content
    console = Console(width=100, color_system=None, file=io.StringIO())
    console.print(body)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def tile_text(app: AgentmuxApp, name: str) -> str:
    try:
        return "\n".join(tile(app, name).lines)
    except NoMatches:  # not mounted yet
        return ""


def bottom_edge(app: AgentmuxApp, name: str) -> str:
    shown = tile(app, name)
    return "".join(segment.text for segment in shown.render_line(shown.size.height - 1))


async def test_a_lock_taken_with_the_cli_shows_in_the_view_and_on_the_holders_tile(env: Env) -> None:
    env.write_config('[[agents]]\nname = "builder"\ncommand = "echo ready; exec sleep 600"\n')
    assert env.cli("up").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "ready" in tile_text(app, "builder"), what="builder's tile")
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


async def test_badges_fit_the_bottom_edge_at_any_width() -> None:
    """Beside a claude agent's last turn when both fit, else alone, cut with an ellipsis when the tile is narrow;
    never wider than the tile; redrawn only when what they say changes."""
    app = make_app(claude_config())
    async with app.run_test(size=(160, 48)) as pilot:
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        dashboard.apply(UiUpdate(statuses=CLAUDE_STATUSES, screens={s.name: s.screen for s in CLAUDE_STATUSES}))
        await pilot.pause()
        owners = {"api": OwnerCoord(holds=("build", "deploy-staging"), waits=("migrations",), unread=12),
                  "web": OwnerCoord(barriers=("release",))}
        dashboard.apply(UiUpdate(coord=CoordSummary(at=FIXED_TIME, owners=owners)))
        await pilot.pause()
        api = tile(app, "api")
        edge = bottom_edge(app, "api")
        assert "⚷ build,deploy-staging ◷ lock migrations ✉ 12" in edge and "last turn" not in edge, edge
        assert "◷ barrier release" in bottom_edge(app, "web") and "last turn 12s ago" in bottom_edge(app, "web")
        assert "⚷" not in bottom_edge(app, "docs")

        repaints: list[tuple[object, ...]] = []
        original = api.refresh
        api.refresh = lambda *regions, **kw: (repaints.append(regions), original(*regions, **kw))[1]  # type: ignore[method-assign]
        dashboard.apply(UiUpdate(coord=CoordSummary(at=FIXED_TIME + 1, owners=dict(owners))))
        await pilot.pause()
        assert not repaints, "the same badges: nothing redrawn"
        api.refresh = original  # type: ignore[method-assign]

        for width in (120, 80, 60):
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            rows = api.render_lines(Region(0, 0, *api.size))
            edge = "".join(segment.text for segment in rows[-1])
            assert rows[-1].cell_length == api.size.width, width
            assert edge[0] == "╰" and edge[-1] == "╯", edge
            assert "last turn" not in edge
            if api.size.width >= 10:  # a badge's first cells and the ellipsis, at least
                assert "⚷" in edge, (width, edge)
                if "⚷ build,deploy-staging ◷ lock migrations ✉ 12" not in edge:
                    assert "…" in edge, edge
