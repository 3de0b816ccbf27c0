"""A tile's self-drawn frame follows focus, selection, state and size on every row (no tmux needed: the
dashboard is fed the updates its capture worker would post)."""

from __future__ import annotations

from dataclasses import replace

from textual.geometry import Region

from agentmux.state import AgentState
from agentmux.supervisor.ui import UiUpdate
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.widgets.tile import AgentTile
from tests.snapshots.fixtures import STATUSES, fleet_config, make_app


def frame(tile: AgentTile) -> tuple[str, str, str]:
    """(left edge of a body row, bottom-left corner, the body row's edge colour) as the screen gets them."""
    width, height = tile.size
    rows = tile.render_lines(Region(0, 0, width, height))
    assert all(row.cell_length == width for row in rows), "every row is as wide as the tile"
    body, bottom = list(rows[tile.BODY_TOP]), list(rows[height - 1])
    colour = body[0].style.color if body[0].style is not None else None
    return body[0].text, bottom[0].text[0], str(colour)


async def test_frame_follows_focus_selection_state_and_size() -> None:
    app = make_app(fleet_config())
    async with app.run_test(size=(160, 48)) as pilot:
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        dashboard.apply(UiUpdate(statuses=STATUSES, screens={s.name: s.screen for s in STATUSES}))
        await pilot.pause()
        architect = dashboard.query_one("#tile-architect", AgentTile)
        frontend = dashboard.query_one("#tile-frontend", AgentTile)
        dashboard.focus_tile(architect)
        await pilot.pause()
        focused = frame(architect)
        assert focused[:2] == ("│", "╰")
        dashboard.focus_tile(frontend)
        await pilot.pause()
        unfocused = frame(architect)
        assert unfocused[:2] == ("│", "╰") and unfocused[2] != focused[2], "focus shows in the frame's colour"
        dashboard.focus_tile(architect)
        await pilot.pause()
        assert frame(architect) == focused

        # waiting while focused: the colour stays the focus colour, the line kind says it, on every row
        # (the whole tile is repainted, not only the header that says the new state)
        repaints: list[tuple[object, ...]] = []
        original = architect.refresh
        architect.refresh = lambda *regions, **kw: (repaints.append(regions), original(*regions, **kw))[1]  # type: ignore[method-assign]
        waiting = replace(STATUSES[0], state=AgentState.WAITING, reason="asks")
        dashboard.apply(UiUpdate(statuses=[waiting, *STATUSES[1:]]))
        await pilot.pause()
        assert frame(architect)[:2] == ("┃", "┗") and () in repaints
        repaints.clear()
        dashboard.apply(UiUpdate(statuses=STATUSES))
        await pilot.pause()
        assert frame(architect) == focused and () in repaints, "back to busy: every row round again"

        await pilot.press("space")
        assert frame(architect)[:2] == ("║", "╚")
        await pilot.press("space")
        assert frame(architect) == focused

        for size in ((100, 30), (200, 60)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            frame(architect)  # rows match the new width
