"""Queue depth that is right at any size (issue: with 600 open tasks for one agent and 5 for another, the
second agent's tile showed no depth and its panel was empty: both came from a board capped at 500 open
tasks). Depths come from a count per agent, the panel's tasks from a read of its agent's alone."""

from __future__ import annotations

from agentmux.queue import Queue
from agentmux.store import Store
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.widgets.queue import QueuePanel
from agentmux.tui.widgets.tile import AgentTile
from tests.conftest import Env
from tests.tui.conftest import SIZE, tile, until


async def test_a_short_queue_is_seen_beside_a_long_one(env: Env) -> None:
    env.write_config('[[agents]]\nname = "busy"\ncommand = "true"\n\n[[agents]]\nname = "quiet"\ncommand = "true"\n')
    store = Store(env.load().store_path)
    queue = Queue(store)
    for n in range(600):
        queue.add("busy", f"long job {n}")
    shorts = [queue.add("quiet", f"short job {n}") for n in range(5)]
    store.close()
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.screen.query(AgentTile)) == 2, what="both tiles")
        await until(pilot, lambda: tile(app, "busy").queue_depth == 600 and tile(app, "quiet").queue_depth == 5,
                    what="both depths")
        await until(pilot, lambda: isinstance(app.screen.focused, AgentTile), what="the grid's first focus")
        tile(app, "quiet").focus()  # after the dashboard's own first focus, which would override it
        panel = app.screen.query_one(QueuePanel)
        await until(pilot, lambda: [t.id for t in panel.tasks] == [t.id for t in shorts], what="quiet's tasks")
        # and every agent's: each agent's tasks are listed, the short queue too
        await pilot.press("O")
        await until(pilot, lambda: {t.agent for t in panel.tasks} == {"busy", "quiet"}, what="both in the list")
