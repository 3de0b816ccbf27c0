"""The queue panel against a real tmux server and demo agents: queue a task from the form and watch it run,
act on tasks from the panel (priority, cancel, retry, pause), see who dispatches from a second TUI."""

from __future__ import annotations

import re
from pathlib import Path

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, Static

from agentmux.config import AgentSpec, Config, Settings
from agentmux.queue import Queue, Task, TaskState
from agentmux.store import Store
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.screens.dialogs import HelpScreen
from agentmux.tui.screens.tasks import AddTaskScreen, AfterScreen, TaskScreen
from agentmux.tui.widgets.queue import QueuePanel, TaskList
from agentmux.tui.widgets.tile import AgentTile
from tests.conftest import DemoFleets, Env
from tests.tui.conftest import SIZE, holding, until


def panel(app: AgentmuxApp) -> QueuePanel:
    return app.screen.query_one(QueuePanel)


def row(app: AgentmuxApp, task: Task) -> str:
    """The panel's row for the task as the user reads it ('' when it is not listed)."""
    listing = app.screen.query_one(TaskList)
    try:
        prompt = listing.get_option(str(task.id)).prompt
    except Exception:  # noqa: BLE001 - not listed (yet)
        return ""
    return str(prompt)


def status_line(app: AgentmuxApp) -> str:
    return str(app.screen.query_one("#queue-status", Static).content)


def header(app: AgentmuxApp, name: str) -> str:
    return app.screen.query_one(f"#tile-{name}", AgentTile).header_text().plain


async def focus_agent(pilot: Pilot[None], name: str) -> None:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen.focused, AgentTile), what="the grid's first focus")
    tile = app.screen.query_one(f"#tile-{name}", AgentTile)
    tile.focus()
    await until(pilot, lambda: app.screen.focused is tile, what=f"focus on {name}")


async def test_a_task_queued_in_the_form_runs_and_shows_succeeded(env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a"])
    assert env.cli("up", "--no-serve").returncode == 0
    app = AgentmuxApp(env.load())
    queue = Queue(Store(env.load().store_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: holding(app), what="the TUI to dispatch")
            await focus_agent(pilot, "a")
            await until(pilot, lambda: "this TUI dispatches" in status_line(app), what="the dispatcher line")
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, AddTaskScreen), what="the form")
            form = app.screen
            await pilot.press(*"echo from-the-form")
            # Refused by the store (no task 99): said in the form, everything typed still there.
            form.query_one("#task-after", Input).value = "99"
            await pilot.press("enter")
            error = form.query_one("#form-error", Static)
            await until(pilot, lambda: "no task 99" in str(error.content), what="the refusal in the form")
            assert app.screen is form
            assert form.query_one("#task-text", Input).value == "echo from-the-form"
            assert form.focused is form.query_one("#task-after", Input)
            # Refused on the spot: a regular expression that does not compile.
            form.query_one("#task-if-output", Input).value = "from ("
            await pilot.press("enter")
            await until(pilot, lambda: "if output: not a valid regular expression" in str(error.content),
                        what="the regex refusal")
            form.query_one("#task-if-output", Input).value = ""
            form.query_one("#task-after", Input).value = ""
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is not form, what="the form to close")
            [task] = queue.tasks("a")
            assert (task.text, task.agent) == ("echo from-the-form", "a")
            await until(pilot, lambda: queue.get(task.id).state == TaskState.SUCCEEDED, what="the task to succeed")
            assert fleet.typed("a") == ["echo from-the-form"]
            await until(pilot, lambda: "✓ succeeded" in row(app, task),
                        what=lambda: f"the panel to show it succeeded (row: {row(app, task)!r})")
            # View it: its history and its result, from the store.
            await pilot.press("tab")
            await until(pilot, lambda: isinstance(app.screen.focused, TaskList), what="focus in the panel")
            await pilot.press("v")
            await until(pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.details is not None,
                        what="the task view")
            view = app.screen
            assert isinstance(view, TaskScreen) and view.details is not None
            assert any("typed into a" in event.message for event in view.details.events)
            assert "from-the-form" in view.details.task.result
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TaskScreen), what="the view to close")
            await pilot.press("tab")
            await until(pilot, lambda: isinstance(app.screen.focused, AgentTile), what="focus back on the grid")
    finally:
        queue.store.close()


async def test_priority_cancel_retry_and_pause_from_the_panel_change_the_store(
        env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a"])
    assert env.cli("up", "--no-serve").returncode == 0
    app = AgentmuxApp(env.load())
    queue = Queue(Store(env.load().store_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: holding(app), what="the TUI to dispatch")
            await focus_agent(pilot, "a")
            await pilot.press("p")
            await until(pilot, lambda: queue.paused("a"), what="the queue paused")
            await until(pilot, lambda: "‖" in header(app, "a") and "queue paused" in status_line(app),
                        what="the pause on the tile and in the panel")
            first, second, third = (queue.add("a", f"echo job-{n}") for n in (1, 2, 3))
            await until(pilot, lambda: "q3‖" in header(app, "a"), what=lambda: f"q3 on the tile: {header(app, 'a')}")
            await until(pilot, lambda: len(panel(app).tasks) == 3, what="three tasks listed")
            await pilot.press("tab")
            await until(pilot, lambda: isinstance(app.screen.focused, TaskList), what="focus in the panel")
            await pilot.press("end")  # the newest: third
            await until(pilot, lambda: panel(app).highlighted_task() == panel(app).tasks[-1])
            assert panel(app).highlighted_task().id == third.id  # type: ignore[union-attr]
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: queue.get(third.id).priority == 1, what="priority 1")
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: queue.get(third.id).priority == 2, what="priority 2")
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: queue.get(third.id).priority == 1, what="priority back to 1")
            # It now goes out first, so it is listed first, and still highlighted.
            await until(pilot, lambda: [t.id for t in panel(app).tasks][0] == third.id, what="third listed first")
            assert panel(app).highlighted_task().id == third.id  # type: ignore[union-attr]
            await pilot.press("down")  # first
            assert panel(app).highlighted_task().id == first.id  # type: ignore[union-attr]
            await pilot.press("c")
            await until(pilot, lambda: queue.get(first.id).state == TaskState.CANCELLED, what="first cancelled")
            await until(pilot, lambda: "⊘ cancelled" in row(app, first), what="cancelled in the panel")
            assert panel(app).highlighted_task().id == first.id  # type: ignore[union-attr]
            await pilot.press("R")
            await until(pilot, lambda: queue.get(first.id).state == TaskState.READY, what="first ready again")
            # d: the second waits for the third; the third waiting for the second would be a cycle.
            await until(pilot, lambda: [t.id for t in panel(app).tasks] == [third.id, first.id, second.id],
                        what="the retried first back in line")
            await pilot.press("down")  # the second, listed after the third and the first
            second_row = panel(app).highlighted_task()
            assert second_row is not None and second_row.id == second.id
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, AfterScreen), what="the after form")
            await pilot.press(*str(third.id), "enter")
            await until(pilot, lambda: queue.get(second.id).after == (third.id,), what="second after third")
            await until(pilot, lambda: not isinstance(app.screen, AfterScreen), what="the after form to close")
            await until(pilot, lambda: panel(app).tasks[0].id == third.id)
            await pilot.press("home")
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, AfterScreen), what="the after form")
            form = app.screen
            await pilot.press(*str(second.id), "enter")
            error = form.query_one("#form-error", Static)
            await until(pilot, lambda: "cycle" in str(error.content), what="the cycle refused in the form")
            assert f"{third.id} → {second.id} → {third.id}" in str(error.content)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, AfterScreen), what="the after form to close")
            assert queue.get(third.id).after == ()
            await pilot.press("p")  # in the panel: the panel's agent
            await until(pilot, lambda: not queue.paused("a"), what="the queue resumed")
            await until(pilot, lambda: all(queue.get(t.id).state == TaskState.SUCCEEDED
                                           for t in (first, second, third)), what="every task done")
            # Highest priority first; the retried first task keeps its age, so it goes before the second.
            assert fleet.typed("a") == ["echo job-3", "echo job-1", "echo job-2"]
            await until(pilot, lambda: re.search(r"\bq\d", header(app, "a")) is None,
                        what=lambda: f"no depth on the tile once empty: {header(app, 'a')}")
    finally:
        queue.store.close()


async def test_a_second_tui_says_who_dispatches(env: Env, demo_fleet: DemoFleets) -> None:
    demo_fleet(["a"])
    assert env.cli("up", "--no-serve").returncode == 0
    first, second = AgentmuxApp(env.load()), AgentmuxApp(env.load())
    async with first.run_test(size=SIZE) as one:
        await until(one, lambda: holding(first), what="the first TUI to dispatch")
        await until(one, lambda: "this TUI dispatches" in status_line(first), what="the first TUI's header")
        async with second.run_test(size=SIZE) as two:
            assert first.pipeline is not None
            pid = first.pipeline.lease.name.split(" on ")[0]
            await until(two, lambda: f"viewer: {pid} dispatches" in status_line(second),
                        what=lambda: f"the viewer's header (shows {status_line(second)!r})")
            assert not holding(second)


async def test_an_empty_queue_names_the_agent_focused_now(env: Env, demo_fleet: DemoFleets) -> None:
    """Both queues empty: moving the focus changes whose queue the panel says is empty (it kept the first's)."""
    demo_fleet(["a", "b"])
    assert env.cli("up", "--no-serve").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:

        def empty() -> str:
            return str(app.screen.query_one("#queue-empty", Static).content)

        await focus_agent(pilot, "a")
        await until(pilot, lambda: "No tasks for a." in empty(), what=lambda: f"a's empty queue ({empty()!r})")
        await focus_agent(pilot, "b")
        await until(pilot, lambda: "No tasks for b." in empty(), what=lambda: f"b's empty queue ({empty()!r})")
        assert "Queue · b" in str(app.screen.query_one("#queue-title", Static).content)


async def test_every_queue_action_is_in_the_help_and_the_palette(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="unused", state_dir=tmp_path))
    app = AgentmuxApp(config, observe_fleet=False)
    async with app.run_test(size=SIZE) as pilot:
        commands = {command.title for command in app.get_system_commands(app.screen)}
        wanted = [b.description for b in (*QueuePanel.BINDINGS, *DashboardScreen.BINDINGS)
                  if isinstance(b, Binding) and b.description]
        assert {"Queue task", "Queue panel", "View task", "Cancel task", "Retry task", "Raise priority",
                "Lower priority", "Wait for another task (after)", "Pause/resume the agent's queue",
                "Queue: focused agent / all"} <= set(wanted)
        assert set(wanted) <= commands
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        shown = {binding.description for _, bindings in help_screen.sections for binding in bindings}
        assert set(wanted) <= shown


async def test_the_form_refuses_a_pattern_re2_cannot_use_and_keeps_what_was_typed(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="unused", state_dir=tmp_path),
                    agents=(AgentSpec(name="a", command="true", cwd=tmp_path),))
    queue = Queue(Store(config.store_path))
    first = queue.add("a", "build")
    app = AgentmuxApp(config, observe_fleet=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            form = AddTaskScreen(["a"], "a")
            await app.push_screen(form)
            await until(pilot, lambda: app.screen is form, what="the form")
            await pilot.press(*"deploy")
            form.query_one("#task-after", Input).value = str(first.id)
            form.query_one("#task-if-output", Input).value = r"^(ok)\1$"
            await pilot.press("enter")
            error = form.query_one("#form-error", Static)
            await until(pilot, lambda: "invalid escape sequence" in str(error.content), what="the refusal")
            assert str(error.content).startswith(r"✗ if output: not a valid regular expression: invalid escape "
                                                 r"sequence: \1 (patterns use RE2 syntax: no backreferences")
            assert "\n" not in str(error.content)
            assert app.screen is form and form.focused is form.query_one("#task-if-output", Input)
            typed = [form.query_one(f"#{name}", Input).value for name in ("task-text", "task-after", "task-if-output")]
            assert typed == ["deploy", str(first.id), r"^(ok)\1$"]
            assert [t.id for t in queue.tasks()] == [first.id], "nothing was queued"
            # RE2 can use this one: queued, and decided when the build ends
            form.query_one("#task-if-output", Input).value = r"^ok$"
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is not form, what="the form to close")
            [task] = [t for t in queue.tasks() if t.id != first.id]
            assert (task.text, task.after, task.if_output, task.state) == ("deploy", (first.id,), "^ok$",
                                                                           TaskState.QUEUED)
    finally:
        queue.store.close()


async def test_the_form_refuses_text_the_agents_kind_cannot_take(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="unused", state_dir=tmp_path))
    queue = Queue(Store(config.store_path))
    app = AgentmuxApp(config, observe_fleet=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            form = AddTaskScreen(["d"], "d", {"d": "demo"})
            await app.push_screen(form)
            await until(pilot, lambda: app.screen is form, what="the form")
            form.query_one("#task-text", Input).value = "stop\x03now"
            await pilot.press("enter")
            error = form.query_one("#form-error", Static)
            await until(pilot, lambda: "control character" in str(error.content), what="the refusal")
            assert app.screen is form and queue.tasks() == []
    finally:
        queue.store.close()
