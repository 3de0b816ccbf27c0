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

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from agentmux import config as config_module
from agentmux.agents.demo_fleet import write_demo_config
from agentmux.agents.lifecycle import Fleet, Outcome
from agentmux.agents.state import Detected
from agentmux.config import AgentSpec, Config
from agentmux.errors import AgentmuxError
from agentmux.queue import Queue, Task
from agentmux.state import AgentState
from agentmux.store import Store
from agentmux.supervisor.ui import Mirror
from agentmux.tmux.attach import plan_attach
from agentmux.tui.messages import ActionFinished, FleetObserved

CAPTURE_INTERVAL = 0.1
"""Seconds between observations: visible tiles refresh at up to 10 Hz."""
QUIET_INTERVAL = 0.25
"""Seconds between observations once no screen has changed for QUIET_AFTER seconds."""
QUIET_AFTER = 2.0
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
        self.mirror: Mirror | None = None
        self._update_posted = False
        self._settle_timer: Timer | None = None
        self._queue_writes = threading.Lock()
        """One queue change of this TUI at a time: `]` pressed twice reads the priority the first one wrote."""

    # --- start and the mirror worker ---------------------------------------------------------------------

    def on_mount(self) -> None:
        from agentmux.tui.screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen())
        if self.demo_on_start:
            self.start_demo()
        elif self.observe_fleet:
            self.open_fleet(self.config)

    def open_fleet(self, config: Config) -> None:
        """Watch a fleet (again): a new store connection and a new mirror worker."""
        self.workers.cancel_group(self, "mirror")
        if self.mirror is not None:
            self.mirror.close()
        if self.fleet is not None:
            self.fleet.close()
        self.config = config
        self.fleet = Fleet(config)
        self.mirror = Mirror(self.fleet, clock=self.clock)
        self.run_mirror(self.mirror)

    @work(thread=True, exclusive=True, group="mirror", exit_on_error=False)
    def run_mirror(self, mirror: Mirror) -> None:
        """Observe the fleet back to back; the next look starts only after the last one finished."""
        worker = get_current_worker()
        failing = False
        while not worker.is_cancelled:
            started = time.monotonic()
            try:
                fresh = mirror.tick()
                failing = False
            except Exception as exc:  # noqa: BLE001 - mirroring must outlive any one bad look (say it, retry)
                if not failing:
                    what = str(exc) if isinstance(exc, AgentmuxError) else f"{type(exc).__name__}: {exc}"
                    self.post_message(ActionFinished(f"watching the fleet failed: {what} (retrying)", ok=False))
                failing = True
                worker.cancelled_event.wait(1.0)
                continue
            if fresh and not self._update_posted:
                self._update_posted = True
                self.post_message(FleetObserved())
            quiet = self.clock() - mirror.last_change > QUIET_AFTER and not mirror.dispatching
            interval = QUIET_INTERVAL if quiet else CAPTURE_INTERVAL
            worker.cancelled_event.wait(max(0.0, interval - (time.monotonic() - started)))

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
        self._update_posted = False
        if self.mirror is None:
            return
        update = self.mirror.take()
        if update.config is not None:
            self.config = update.config
        for problem in update.problems:
            self.notify(problem, severity="error", timeout=10)
        dashboard = self.dashboard
        if dashboard is not None and dashboard.is_attached and not self._exit:
            dashboard.apply(update)
        from agentmux.tui.screens.tasks import TaskScreen
        from agentmux.tui.screens.zoom import ZoomScreen

        screen = self.screen
        if update.statuses is not None and isinstance(screen, ZoomScreen):
            screen.show_status(next((s for s in update.statuses if s.name == screen.agent), None))
        if update.queue is not None and isinstance(screen, TaskScreen):
            screen.queue_changed(update.queue.tasks)

    @property
    def dashboard(self):  # type: ignore[no-untyped-def]
        from agentmux.tui.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def set_visible(self, names: Iterable[str]) -> None:
        if self.mirror is not None:
            self.mirror.visible = frozenset(names)

    def set_focused(self, name: str | None) -> None:
        if self.mirror is not None:
            self.mirror.focused = name

    # --- attention ---------------------------------------------------------------------------------------

    def attention(self, name: str, detected: Detected) -> None:
        what = "is waiting for you" if detected.state == AgentState.WAITING else "has an error"
        self.notify(f"{name} {what}: {detected.reason}  (w jumps there)",
                    severity="warning" if detected.state == AgentState.WAITING else "error", timeout=6)
        if self.bell_on_attention:
            self.bell()

    @on(ActionFinished)
    def action_finished(self, message: ActionFinished) -> None:
        self.notify(message.message, severity="information" if message.ok else "error",
                    timeout=4 if message.ok else 10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker that fails says why in one notification, never a traceback."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(f"{event.worker.name or 'background work'} failed: {error}", severity="error",
                        timeout=10)

    # --- acting on agents (in threads; each action has its own store connection) ------------------------

    @work(thread=True, group="actions", exit_on_error=False)
    def run_fleet_action(self, description: str, action: Callable[[Fleet], list[Outcome]]) -> None:
        fleet = Fleet(self.config)
        try:
            outcomes = action(fleet)
        except AgentmuxError as exc:
            self.post_message(ActionFinished(f"{description}: {exc}", ok=False))
            return
        finally:
            fleet.close()
        for outcome in outcomes:
            self.post_message(ActionFinished(outcome.message, outcome.ok))

    def lifecycle(self, action: str, names: list[str]) -> None:
        def act(fleet: Fleet) -> list[Outcome]:
            outcomes = []
            for name in names:
                try:
                    if action == "start":
                        outcomes.append(fleet.start(name))
                    elif action == "stop":
                        outcomes.append(fleet.stop(name))
                    elif action == "kill":
                        outcomes.append(fleet.stop(name, force=True))
                    elif action == "restart":
                        outcomes.append(fleet.restart(name))
                    elif action == "remove":
                        outcomes.append(fleet.remove(name))
                except AgentmuxError as exc:
                    outcomes.append(Outcome(name, f"{name}: {exc}", ok=False))
            return outcomes

        if action == "remove":
            self.run_fleet_action("remove", lambda fleet: self._reload_after(act(fleet)))
        else:
            self.run_fleet_action(action, act)

    def _reload_after(self, outcomes: list[Outcome]) -> list[Outcome]:
        """After the config file changed: read it again (from the worker thread) for the mirror too."""
        config = config_module.load(self.config.path)
        self.call_from_thread(self._use_config, config)
        return outcomes

    def _use_config(self, config: Config) -> None:
        self.config = config
        if self.fleet is not None:
            self.fleet.config = config

    def send_text(self, names: list[str], text: str) -> None:
        def act(fleet: Fleet) -> list[Outcome]:
            outcomes = []
            for name in names:
                try:
                    outcomes.append(fleet.send(name, text))
                except AgentmuxError as exc:
                    outcomes.append(Outcome(name, str(exc), ok=False))
            return outcomes

        self.run_fleet_action("send", act)

    # --- the queue (the Queue service on a fresh store connection per action, in a worker) ----------------

    @contextmanager
    def open_queue(self) -> Iterator[Queue]:
        """The queue on a store connection of its own (the mirror's belongs to its thread); for workers."""
        store = Store(self.config.store_path)
        try:
            yield Queue(store)
        finally:
            store.close()

    @work(thread=True, group="queue", exit_on_error=False)
    def run_queue_action(self, description: str, action: Callable[[Queue], str]) -> None:
        """Change the queue; the outcome is one notification (the panel shows the change at the next look)."""
        try:
            with self._queue_writes, self.open_queue() as queue:
                message = action(queue)
        except (AgentmuxError, sqlite3.Error) as exc:
            self.post_message(ActionFinished(f"{description}: {exc}", ok=False))
            return
        self.post_message(ActionFinished(message))

    def cancel_task(self, task_id: int) -> None:
        def act(queue: Queue) -> str:
            task = queue.cancel(task_id)
            return f"task {task.id} for {task.agent}: {task.reason} (R retries it)"

        self.run_queue_action(f"cancel task {task_id}", act)

    def retry_task(self, task_id: int) -> None:
        def act(queue: Queue) -> str:
            task = queue.retry(task_id)
            return f"task {task.id} for {task.agent}: {task.state.value} again"

        self.run_queue_action(f"retry task {task_id}", act)

    def shift_priority(self, task_id: int, delta: int) -> None:
        def act(queue: Queue) -> str:
            task = queue.set_priority(task_id, queue.get(task_id).priority + delta)
            return f"task {task.id} for {task.agent}: priority {task.priority}"

        self.run_queue_action(f"priority of task {task_id}", act)

    def toggle_pause(self, agent: str) -> None:
        def act(queue: Queue) -> str:
            if queue.paused(agent):
                queue.resume(agent)
                return f"{agent}: queue resumed"
            queue.pause(agent)
            return f"{agent}: queue paused (a task already out finishes; p resumes)"

        self.run_queue_action(f"pause/resume {agent}", act)

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

    def read_task(self, task_id: int):  # type: ignore[no-untyped-def]
        """The task, its history and the tasks it waits for (blocking: call it from a worker)."""
        from agentmux.tui.screens.tasks import read_details

        with self.open_queue() as queue:
            return read_details(queue, task_id)

    def ask_and_send(self, names: list[str]) -> None:
        from agentmux.tui.screens.dialogs import SendScreen

        def done(text: str | None) -> None:
            if text:
                self.send_text(names, text)

        self.push_screen(SendScreen(names), done)

    def answer(self, name: str, answer: str) -> None:
        status = self.mirror_status(name)
        if status is None or status.state != AgentState.WAITING:
            self.notify(f"{name} is not waiting for an answer", severity="warning")
            return
        self.send_text([name], answer)

    def mirror_status(self, name: str):  # type: ignore[no-untyped-def]
        dashboard = self.dashboard
        return dashboard.statuses.get(name) if dashboard is not None else None

    def add_agent(self) -> None:
        from agentmux.tui.screens.dialogs import AddAgentScreen

        screen = AddAgentScreen(self.config)

        def done(spec: AgentSpec | None) -> None:
            if spec is None:
                return
            start = screen.start_now

            def act(fleet: Fleet) -> list[Outcome]:
                outcomes = [fleet.add(spec)]
                if start:
                    outcomes.append(fleet.start(spec.name))
                return self._reload_after(outcomes)

            self.run_fleet_action("add", act)

        self.push_screen(screen, done)

    def start_demo(self) -> None:
        """Switch to the demo fleet (its own socket and config file) and start every demo agent."""
        path = write_demo_config()
        config = config_module.load(path)
        self.open_fleet(config)
        self.notify(f"Demo fleet: {len(config.agents)} simulated agents (config {path})")
        self.run_fleet_action("demo", lambda fleet: [fleet.start(spec.name) for spec in config.agents])

    # --- screens -----------------------------------------------------------------------------------------

    def zoom(self, name: str) -> None:
        from agentmux.tui.screens.zoom import ZoomScreen

        self.push_screen(ZoomScreen(name, self.mirror_status(name)))

    def attach(self, name: str) -> None:
        """A real tmux client on the agent's session; detaching returns here exactly as it was."""
        status = self.mirror_status(name)
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
        from agentmux.tui.screens.dashboard import DashboardScreen
        from agentmux.tui.screens.dialogs import HelpScreen
        from agentmux.tui.screens.tasks import TaskScreen
        from agentmux.tui.screens.zoom import ZoomScreen
        from agentmux.tui.widgets.queue import QueuePanel

        def bindings(items: Iterable[object]) -> list[Binding]:
            return [item for item in items if isinstance(item, Binding)]

        self.push_screen(HelpScreen([
            ("Dashboard", bindings(DashboardScreen.BINDINGS)),
            ("Queue panel (Tab moves in and out)", bindings(QueuePanel.BINDINGS)),
            ("Task view", bindings(TaskScreen.BINDINGS)),
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
        if self.mirror is not None:
            self.mirror.close()  # hands the supervisor lease back at once
        if self.fleet is not None:
            self.fleet.close()
