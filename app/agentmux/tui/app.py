"""agentmux-tui: the Textual application. Blocking work runs in thread workers that post messages."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from agentmux import config as config_module
from agentmux.actions import Actions
from agentmux.agents.demo_fleet import demo_config_path, demo_fleet_running, write_demo_config
from agentmux.agents.kinds import kind_of
from agentmux.agents.lifecycle import Fleet, Outcome
from agentmux.agents.state import Detected
from agentmux.config import AgentSpec, Config
from agentmux.coord.summary import CoordSummary
from agentmux.errors import AgentmuxError
from agentmux.logs import LogEntry, LogStore
from agentmux.logs.feed import LogFeed
from agentmux.queue import Task
from agentmux.state import AgentState
from agentmux.supervisor.pipeline import Pipeline
from agentmux.supervisor.ui import UiBuffer
from agentmux.tmux.attach import plan_attach
from agentmux.tui.handle import AppHandle
from agentmux.tui.messages import ActionFinished, FleetObserved

if TYPE_CHECKING:
    from agentmux.agents.observer import AgentStatus
    from agentmux.tui.screens.answer import Question
    from agentmux.tui.screens.dashboard import DashboardScreen
    from agentmux.tui.screens.tasks import TaskDetails

SETTLE_AFTER = 2.0
"""Seconds after the set of tiles last changed before the long-lived objects are frozen out of the GC."""


def styles_path() -> Path:
    """app.tcss, shipped inside the wheel (agentmux/styles) or at the top of a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "styles" / "app.tcss", package.parents[1] / "styles" / "app.tcss"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("agentmux's styles/app.tcss is missing from this installation")


AttachRunner = Callable[[Sequence[str]], int]


def run_attach_command(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv)).returncode


class AgentmuxApp(App[None]):
    """The fleet supervisor's screen."""

    CSS_PATH = [styles_path()]
    TITLE = "agentmux"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+p", "command_palette", "Actions", show=False),
    ]

    def __init__(self, config: Config, *, demo: bool = False, clock: Callable[[], float] = time.time,
                 observe_fleet: bool = True) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.demo_on_start = demo
        self.observe_fleet = observe_fleet
        self.bell_on_attention = False
        self.attach_runner: AttachRunner = run_attach_command
        self.fleet: Fleet | None = None
        self.pipeline: Pipeline | None = None
        """The supervisor loop this TUI runs (in a thread worker): it dispatches while it holds the lease."""
        self.buffer: UiBuffer | None = None
        self._update_posted = False
        self._settle_timer: Timer | None = None
        self._queue_writes = threading.Lock()
        """One queue change of this TUI at a time: `]` pressed twice reads the priority the first one wrote."""

    # --- start and the supervisor loop -------------------------------------------------------------------

    def on_mount(self) -> None:
        from agentmux.tui.screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen())
        if self.demo_on_start:
            self.start_demo()
        elif self.observe_fleet and not self.config.agents and demo_fleet_running():
            # nothing configured, but the demo fleet started earlier still runs: show it, not an empty grid
            config = config_module.load(demo_config_path(), check_dirs=False)
            self.open_fleet(config)
            self.notify(f"The demo fleet still runs: showing it (stop it with `agentmux --demo down`; config "
                        f"{config.path})", timeout=8)
        elif self.observe_fleet:
            self.open_fleet(self.config)

    def open_fleet(self, config: Config) -> None:
        """Watch a fleet (again): a new store connection and a new supervisor loop in a thread worker."""
        self.workers.cancel_group(self, "supervisor")
        if self.pipeline is not None:
            self.pipeline.close()
        if self.fleet is not None:
            self.fleet.close()
        self.config = config
        self.fleet = Fleet(config)
        feed = LogFeed(LogStore(config.logs_path, config.logs), config.logs.memory_lines)
        self.buffer = UiBuffer(self.fleet.store, clock=self.clock, on_news=self._news, feed=feed)
        # A TUI dispatches (and applies restart policies) whenever nobody else holds the lease.
        self.pipeline = Pipeline(self.fleet, role="tui", dispatch=True, consumers=[self.buffer], clock=self.clock)
        self.run_pipeline(self.pipeline)

    def _news(self) -> None:
        """From the supervisor's thread: one FleetObserved at a time (the newest screens replace older ones)."""
        if not self._update_posted:
            self._update_posted = True
            self.post_message(FleetObserved())

    @work(thread=True, exclusive=True, group="supervisor", exit_on_error=False)
    def run_pipeline(self, pipeline: Pipeline) -> None:
        """Look at the fleet back to back until cancelled; a failed look is said once and retried."""
        worker = get_current_worker()
        failing: list[bool] = [False]

        def failed(exc: Exception) -> None:
            if not failing[0]:
                what = str(exc) if isinstance(exc, AgentmuxError) else f"{type(exc).__name__}: {exc}"
                self.post_message(ActionFinished(f"watching the fleet failed: {what} (retrying)", ok=False))
            failing[0] = True

        while not worker.is_cancelled:  # run() returns after a failure only when cancelled
            pipeline.run(worker.cancelled_event, on_error=failed)

    # --- memory --------------------------------------------------------------------------------------------

    def settle_memory_soon(self) -> None:
        """Freeze the long-lived objects (DOM, styles, tiles) out of the garbage collector once the screen
        has settled. Mirroring makes thousands of short-lived strips a second; without this, each of
        Python's full collections walks the whole app (measured: 5-12% of a core while agents print)."""
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_timer = self.set_timer(SETTLE_AFTER, self._settle_memory)

    def _settle_memory(self) -> None:
        self._settle_timer = None
        gc.unfreeze()  # what was frozen before and is garbage now (a removed tile) is collected too
        gc.collect()
        gc.freeze()

    @on(FleetObserved)
    def fleet_observed(self) -> None:
        dashboard = self.dashboard
        if dashboard is not None and dashboard.is_attached and not dashboard.is_mounted and not self._exit:
            self.set_timer(0.05, lambda: self.post_message(FleetObserved()))  # its widgets are not there yet
            return
        self._update_posted = False
        if self.buffer is None:
            return
        update = self.buffer.take()
        if update.config is not None:
            self.config = update.config
        for problem in update.problems:
            self.notify(problem, severity="error", timeout=10, markup=False)
        if dashboard is not None and dashboard.is_attached and not self._exit:
            dashboard.apply(update)
        if self._exit or not self.screen_stack:  # quitting: the screens are gone (a look came in meanwhile)
            return
        from agentmux.tui.screens.coord import CoordScreen
        from agentmux.tui.screens.logs import LogsScreen
        from agentmux.tui.screens.tasks import TaskScreen
        from agentmux.tui.screens.usage import UsageScreen
        from agentmux.tui.screens.zoom import ZoomScreen

        if update.usage is not None:
            for shown in self.screen_stack:
                if isinstance(shown, UsageScreen):
                    shown.show(update.usage)
        if update.coord is not None:
            for shown in self.screen_stack:  # under a screen it opened too: it is up to date when shown again
                if isinstance(shown, CoordScreen):
                    shown.show(update.coord)
        if update.logs:
            for viewer in self.screen_stack:  # a viewer under a zoom it opened follows on
                if isinstance(viewer, LogsScreen):
                    viewer.add_live(update.logs)
        screen = self.screen
        if update.statuses is not None and isinstance(screen, ZoomScreen):
            screen.show_status(next((s for s in update.statuses if s.name == screen.agent), None))
        if update.queue is not None and isinstance(screen, TaskScreen):
            screen.queue_changed(update.queue.tasks)

    @property
    def dashboard(self) -> DashboardScreen | None:
        from agentmux.tui.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def set_visible(self, names: Iterable[str]) -> None:
        if self.buffer is not None:
            self.buffer.visible = frozenset(names)

    def set_focused(self, name: str | None) -> None:
        if self.buffer is not None:
            self.buffer.focused = name

    def set_queue_panel(self, agent: str | None, every: bool) -> None:
        if self.buffer is not None:
            self.buffer.panel = (agent, every)

    def last_screen(self, name: str) -> list[str] | None:
        dashboard = self.dashboard
        return dashboard.screens.get(name) if dashboard is not None else None

    def recent_logs(self, agent: str | None, count: int) -> list[LogEntry]:
        """The newest log entries the live feed keeps (one agent's, or every agent's), oldest first."""
        return self.buffer.recent_logs(agent, count) if self.buffer is not None else []

    def open_log_store(self) -> LogStore:
        """A connection of its own to the log database (blocking: call it from the worker that uses it)."""
        return LogStore(self.config.logs_path, self.config.logs)

    def coord_summary(self) -> CoordSummary | None:
        """The newest coordination summary the dashboard was given (None before the first)."""
        dashboard = self.dashboard
        return dashboard.coord if dashboard is not None else None

    # --- attention ---------------------------------------------------------------------------------------

    def attention(self, name: str, detected: Detected) -> None:
        """Say that an agent needs the user, and why: a claude agent's reason names the tool and its command
        (`asks: Bash: rm -rf build`), shown as written (never read as markup)."""
        waiting = detected.state == AgentState.WAITING
        what = "is waiting for you" if waiting else "has an error"
        status = self.shown_status(name)
        picker = "; A picks an answer" if waiting and status is not None and kind_of(status.kind).hooked else ""
        self.notify(f"{name} {what}: {detected.reason}  (w jumps there{picker})",
                    severity="warning" if waiting else "error", timeout=6, markup=False)
        if self.bell_on_attention:
            self.bell()

    @on(ActionFinished)
    def action_finished(self, message: ActionFinished) -> None:
        self.notify(message.message, severity="information" if message.ok else "error",
                    timeout=4 if message.ok else 10, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker that fails says why in one notification, never a traceback."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(f"{event.worker.name or 'background work'} failed: {error}", severity="error",
                        timeout=10, markup=False)

    # --- acting on agents (in threads; each action has its own store connection) ------------------------

    @contextmanager
    def open_actions(self) -> Iterator[Actions]:
        """The user's actions on a store and tmux connection of their own (the supervisor's belong to its
        thread); for workers."""
        actions = Actions(self.config)
        try:
            yield actions
        finally:
            actions.close()

    @work(thread=True, group="actions", exit_on_error=False)
    def act(self, description: str, action: Callable[[Actions], list[Outcome]]) -> None:
        """Act in a worker; each outcome is one notification (the screens show the change at the next look)."""
        try:
            with self._queue_writes, self.open_actions() as actions:
                outcomes = action(actions)
        except (AgentmuxError, sqlite3.Error) as exc:
            self.post_message(ActionFinished(f"{description}: {exc}", ok=False))
            return
        for outcome in outcomes:
            self.post_message(ActionFinished(outcome.message, outcome.ok))

    def lifecycle(self, action: str, names: list[str]) -> None:
        acts: dict[str, Callable[[Actions], list[Outcome]]] = {
            "start": lambda actions: actions.start(names),
            "stop": lambda actions: actions.stop(names),
            "kill": lambda actions: actions.stop(names, force=True),
            "restart": lambda actions: actions.restart(names),
            "remove": lambda actions: self._reload_after(actions.remove(names)),
        }
        self.act(action, acts[action])

    def _reload_after(self, outcomes: list[Outcome]) -> list[Outcome]:
        """After the config file changed: read it again (from the worker thread) for the supervisor too."""
        config = config_module.load(self.config.path, check_dirs=False)
        self.call_from_thread(self._use_config, config)
        return outcomes

    def _use_config(self, config: Config) -> None:
        self.config = config
        if self.fleet is not None:
            self.fleet.config = config

    def send_text(self, names: list[str], text: str) -> None:
        self.act("send", lambda actions: actions.send(names, text))

    def answer_agent(self, name: str, answer: str) -> None:
        self.act("answer", lambda actions: [actions.answer(name, answer)])

    def _task_action(self, description: str, change: Callable[[Actions], str]) -> None:
        self.act(description, lambda actions: [Outcome("", change(actions))])

    def cancel_task(self, task_id: int) -> None:
        def act(actions: Actions) -> str:
            task = actions.cancel(task_id)
            return f"task {task.id} for {task.agent}: {task.reason} (R retries it)"

        self._task_action(f"cancel task {task_id}", act)

    def retry_task(self, task_id: int) -> None:
        def act(actions: Actions) -> str:
            task = actions.retry(task_id)
            return f"task {task.id} for {task.agent}: {task.state.value} again"

        self._task_action(f"retry task {task_id}", act)

    def shift_priority(self, task_id: int, delta: int) -> None:
        def act(actions: Actions) -> str:
            task = actions.shift_priority(task_id, delta)
            return f"task {task.id} for {task.agent}: priority {task.priority}"

        self._task_action(f"priority of task {task_id}", act)

    def toggle_pause(self, agent: str) -> None:
        def act(actions: Actions) -> str:
            if actions.toggle_pause(agent):
                return f"{agent}: queue paused (a task already out finishes; p resumes)"
            return f"{agent}: queue resumed"

        self._task_action(f"pause/resume {agent}", act)

    def add_task(self, agents: Sequence[str], agent: str | None) -> None:
        from agentmux.tui.screens.tasks import AddTaskScreen

        if not agents:
            self.notify("No agents to queue a task for (add one with +)", severity="warning")
            return

        def done(task: Task | None) -> None:
            if task is not None:
                waits = f", after {','.join(map(str, task.after))}" if task.after else ""
                self.notify(f"task {task.id} queued for {task.agent}: {task.state.value}{waits}")

        kinds = {spec.name: spec.kind for spec in self.config.agents}
        self.push_screen(AddTaskScreen(agents, agent, kinds), done)

    def add_dependency(self, task: Task) -> None:
        from agentmux.tui.screens.tasks import AfterScreen

        def done(changed: Task | None) -> None:
            if changed is not None:
                self.notify(f"task {changed.id} for {changed.agent}: {changed.state.value}, after "
                            f"{','.join(map(str, changed.after))} ({changed.run_when})")

        self.push_screen(AfterScreen(task), done)

    def view_task(self, task: Task) -> None:
        from agentmux.tui.screens.tasks import TaskScreen

        self.push_screen(TaskScreen(task, self.read_task))

    def read_task(self, task_id: int) -> TaskDetails:
        """The task, its history and the tasks it waits for (blocking: call it from a worker)."""
        from agentmux.tui.screens.tasks import read_details

        with self.open_actions() as actions:
            return read_details(actions.queue, task_id)

    def ask_and_send(self, names: list[str]) -> None:
        from agentmux.tui.screens.dialogs import SendScreen

        def done(text: str | None) -> None:
            if text:
                self.send_text(names, text)

        self.push_screen(SendScreen(names), done)

    def answer(self, name: str, answer: str) -> None:
        status = self.shown_status(name)
        if status is None or status.state != AgentState.WAITING:
            self.notify(f"{name} is not waiting for an answer", severity="warning")
            return
        self.answer_agent(name, answer)

    def pick_answer(self, name: str) -> None:
        """The choice picker for a waiting agent: its screen is read in a worker, then the picker shows the
        question and the choices; the one picked is answered by its number, as `agentmux answer NAME N`."""
        status = self.shown_status(name)
        if status is None or status.state != AgentState.WAITING:
            self.notify(f"{name} is not waiting for an answer", severity="warning")
            return
        self._read_question(name, status.reason)

    @work(thread=True, exclusive=True, group="question", exit_on_error=False)
    def _read_question(self, name: str, asks: str) -> None:
        try:
            question = self.read_question(name, asks)
        except (AgentmuxError, sqlite3.Error) as exc:
            self.post_message(ActionFinished(f"answer {name}: {exc}", ok=False))
            return
        self.call_from_thread(self._offer_choices, question)

    def read_question(self, name: str, asks: str) -> Question:
        """The agent's question and choices from a capture of its pane (blocking: call it from a worker)."""
        from agentmux.tui.screens.answer import read_question

        with self.open_actions() as actions:
            return read_question(actions.fleet, name, asks)

    def _offer_choices(self, question: Question) -> None:
        from agentmux.tui.screens.answer import AnswerScreen

        if not question.choices:
            self.notify(f"{question.agent}'s screen shows no choices to pick from (y / n answer it)",
                        severity="warning")
            return

        def done(number: int | None) -> None:
            if number is not None:
                self.answer_agent(question.agent, str(number))

        self.push_screen(AnswerScreen(question), done)

    def shown_status(self, name: str) -> AgentStatus | None:
        dashboard = self.dashboard
        return dashboard.statuses.get(name) if dashboard is not None else None

    def add_agent(self) -> None:
        from agentmux.tui.screens.dialogs import AddAgentScreen

        screen = AddAgentScreen(self.config)

        def done(spec: AgentSpec | None) -> None:
            if spec is None:
                return
            start = screen.start_now

            def act(actions: Actions) -> list[Outcome]:
                outcomes = [actions.fleet.add(spec)]
                if start:
                    outcomes += actions.start([spec.name])
                return self._reload_after(outcomes)

            self.act("add", act)

        self.push_screen(screen, done)

    def start_demo(self) -> None:
        """Switch to the demo fleet (its own socket and config file) and start every demo agent."""
        path = write_demo_config()
        config = config_module.load(path)
        self.open_fleet(config)
        self.notify(f"Demo fleet: {len(config.agents)} simulated agents; they run on after you quit (stop them "
                    f"with `agentmux --demo down`; config {path})")
        self.act("demo", lambda actions: actions.start(config.names()))

    # --- screens -----------------------------------------------------------------------------------------

    def zoom(self, name: str) -> None:
        from agentmux.tui.screens.zoom import ZoomScreen

        self.push_screen(ZoomScreen(name, self.shown_status(name)))

    def open_logs(self, agent: str | None) -> None:
        """The log viewer: one agent's entries, or every agent's (None)."""
        from agentmux.tui.screens.logs import LogsScreen

        self.push_screen(LogsScreen(agents=(agent,) if agent else ()))

    def open_coord(self) -> None:
        """The coordination view, live from the supervisor's summaries."""
        from agentmux.tui.screens.coord import CoordScreen

        self.push_screen(CoordScreen(self.coord_summary()))

    def open_usage(self) -> None:
        """The API usage view, live from the supervisor's summaries."""
        from agentmux.tui.screens.usage import UsageScreen

        dashboard = self.dashboard
        self.push_screen(UsageScreen(dashboard.usage if dashboard is not None else None))

    def show_tile(self, name: str) -> None:
        """Back to the dashboard (closing the screens over it) with the agent's tile focused."""
        dashboard = self.dashboard
        if dashboard is None:
            return
        if dashboard.grid.tile(name) is None:
            self.notify(f"{name} has no tile: it is not in the fleet any more", severity="warning")
            return
        while self.screen is not dashboard and len(self.screen_stack) > 1:
            self.pop_screen()
        dashboard.focus_agent(name)

    def attach(self, name: str) -> None:
        """A real tmux client on the agent's session; detaching returns here exactly as it was."""
        status = self.shown_status(name)
        if status is None or status.session is None:
            self.notify(f"{name} has no tmux session (start it with u)", severity="warning")
            return
        tmux = self.fleet.tmux if self.fleet is not None else None
        if tmux is None:
            return
        plan = plan_attach(tmux.base_args, self.config.settings.socket, status.session)
        if plan.how == "attach":
            try:
                with self.suspend():
                    code = self.attach_runner(plan.argv)
            except Exception as exc:  # noqa: BLE001 - e.g. SuspendNotSupported: say so, keep running
                self.notify(f"cannot attach here: {exc}. From a terminal: agentmux attach {name}", severity="error")
                return
            self.refresh(layout=True)
        else:
            code = self.attach_runner(plan.argv)
        if code != 0:
            self.notify(f"tmux attach ended with status {code}", severity="warning")

    def action_help(self) -> None:
        from agentmux.tui.screens.coord import CoordScreen
        from agentmux.tui.screens.dashboard import DashboardScreen
        from agentmux.tui.screens.dialogs import HelpScreen
        from agentmux.tui.screens.logs import LogsScreen
        from agentmux.tui.screens.tasks import TaskScreen
        from agentmux.tui.screens.usage import UsageScreen
        from agentmux.tui.screens.zoom import ZoomScreen
        from agentmux.tui.widgets.panels import LogPanel
        from agentmux.tui.widgets.queue import QueuePanel

        def bindings(items: Iterable[object]) -> list[Binding]:
            return [item for item in items if isinstance(item, Binding)]

        self.push_screen(HelpScreen([
            ("Dashboard", bindings(DashboardScreen.BINDINGS)),
            ("Queue panel (Tab moves in and out)", bindings(QueuePanel.BINDINGS)),
            ("Log panel (click it to focus it)", bindings(LogPanel.BINDINGS)),
            ("Log viewer (L)", bindings(LogsScreen.BINDINGS)),
            ("Task view", bindings(TaskScreen.BINDINGS)),
            ("Coordination (C)", bindings(CoordScreen.BINDINGS)),
            ("API usage (U)", bindings(UsageScreen.BINDINGS)),
            ("Zoomed agent", bindings(ZoomScreen.BINDINGS)),
            ("Everywhere", [*bindings(self.BINDINGS), Binding("ctrl+p", "", "Command palette: every action")]),
        ]))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        from agentmux.tui.widgets.queue import QueuePanel

        yield from super().get_system_commands(screen)
        # The screen's actions, and the queue panel's (they act on its highlighted task, focused or not).
        for target in (screen, *screen.query(QueuePanel)):
            for binding in target.BINDINGS:
                if isinstance(binding, Binding) and binding.description:
                    yield SystemCommand(binding.description, f"key: {binding.key_display or binding.key}",
                                        lambda action=binding.action, target=target: self.call_later(
                                            target.run_action, action))

    def on_unmount(self) -> None:
        gc.unfreeze()
        self.workers.cancel_all()
        if self.pipeline is not None:
            self.pipeline.close()  # hands the supervisor lease back at once
        if self.fleet is not None:
            self.fleet.close()


def _implements_the_handle(app: AgentmuxApp) -> AppHandle:
    """mypy checks here that the app offers every screen what AppHandle promises."""
    return app
