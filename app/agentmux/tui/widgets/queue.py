"""The queue panel: the tasks of the focused agent (or of every agent), live from the mirror's QueueView.

The panel never reads the store: the mirror posts a new QueueView whenever the store changed, and the panel
rebuilds its rows only when the tasks it shows (or their ages, once a second) read differently. Acting on a
task (cancel, retry, priority, wait for another, view) goes through the app, which writes in a worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentmux import ansi
from agentmux.agents.observer import format_age
from agentmux.queue import Task, TaskState
from agentmux.supervisor.lease import Holder
from agentmux.supervisor.ui import QueueView
from agentmux.tui.handle import app_of

TASK_STYLE: dict[TaskState, str] = {
    TaskState.QUEUED: "cyan",
    TaskState.READY: "bold bright_blue",
    TaskState.DISPATCHED: "yellow",
    TaskState.RUNNING: "bold yellow",
    TaskState.SUCCEEDED: "green",
    TaskState.FAILED: "bold red",
    TaskState.CANCELLED: "bright_black",
    TaskState.SKIPPED: "magenta",
}
TASK_SYMBOL: dict[TaskState, str] = {
    TaskState.QUEUED: "◷", TaskState.READY: "○", TaskState.DISPATCHED: "◔", TaskState.RUNNING: "◐",
    TaskState.SUCCEEDED: "✓", TaskState.FAILED: "✗", TaskState.CANCELLED: "⊘", TaskState.SKIPPED: "↷",
}
STATE_WIDTH = 2 + max(len(state.value) for state in TaskState)
"""Symbol, space and the longest state word: the state column."""
AGENT_WIDTH = 10
"""At most this much of an agent's name in the list of every agent's tasks."""
PAUSED = "‖"
"""Marks a paused queue (panel header, tile header)."""


def task_badge(state: TaskState) -> Text:
    """The state as symbol and word, coloured (never colour alone)."""
    return Text(f"{TASK_SYMBOL[state]} {state.value}", style=TASK_STYLE[state])


def conditions(task: Task) -> str:
    """What the task waits for and its limits: `after 3,4 success · if /passed/ · timeout 15m`."""
    parts = []
    if task.after:
        parts.append(f"after {','.join(map(str, task.after))} {task.run_when}")
    if task.if_output:
        parts.append(f"if /{task.if_output}/")
    if task.timeout:
        parts.append(f"timeout {format_age(task.timeout)}")
    return " · ".join(parts)


def tries(task: Task) -> str:
    """Attempts so far, out of the most it may take when it has retries (`1/3`)."""
    return f"{task.attempts}/{task.retries + 1}" if task.retries else str(task.attempts)


def details(task: Task) -> str:
    """The task's second line: what differs from a plain task (priority, retries, conditions, limits)."""
    parts = []
    if task.priority:
        parts.append(f"priority {task.priority}")
    if task.attempts > 1 or (task.retries and task.attempts):
        parts.append(f"try {tries(task)}")
    elif task.retries:
        parts.append(f"retries {task.retries}")
    waits = conditions(task)
    return " · ".join([*parts, waits] if waits else parts)


def shows_reason(task: Task) -> bool:
    """Failed and skipped tasks say why; so does a waiting one with a note (a retry's backoff, a cut-off)."""
    if not task.reason:
        return False
    return task.state in (TaskState.FAILED, TaskState.SKIPPED) or not task.state.ended


def one_line(text: str) -> str:
    """A text on one row: its lines joined with ⏎, control characters shown as escapes (never sent raw)."""
    return ansi.one_line(" ⏎ ".join(line.strip() for line in text.strip().splitlines()) or text)


def task_row(task: Task, age: str, id_width: int, agent_width: int = 0, waits: str = "") -> Text:
    """A task as the panel lists it: id, state, age, (agent,) text; then what differs from a plain task and
    the reason when it has them, each on a line of its own (cut to the panel's width when drawn); `waits`:
    why its agent, which is down, cannot take it."""
    row = Text()
    row.append(f"{task.id:>{id_width}} ", style="bold")
    row.append_text(task_badge(task.state))
    row.append(" " * (STATE_WIDTH - 2 - len(task.state.value)))
    row.append(f" {age:>3}  ", style="dim")
    if agent_width:
        row.append(f"{task.agent:<{agent_width}.{agent_width}} ", style="bold")
    row.append(one_line(task.text))
    indent = " " * (id_width + 3)
    more = details(task)
    if more:
        row.append(f"\n{indent}{more}", style="dim")
    if shows_reason(task):
        row.append(f"\n{indent}{one_line(task.reason)}", style=TASK_STYLE[task.state].replace("bold ", ""))
    if waits:
        row.append(f"\n{indent}waits: {task.agent} is {one_line(waits)}", style="yellow")
    return row


def columns_header(id_width: int, agent_width: int = 0) -> str:
    agent = f"{'AGENT':<{agent_width}} " if agent_width else ""
    return f"{'ID':>{id_width}} {'STATE':<{STATE_WIDTH}} {'AGE':>3}  {agent}TEXT"


def dispatcher_line(view: QueueView, here_host: str | None = None) -> Text:
    """Who sends queued tasks: this TUI, another process (this one only watches), or nobody."""
    if view.here:
        return Text("● this TUI dispatches", style="green")
    if view.dispatcher is None:
        return Text("✗ nobody dispatches: run `agentmux up` or keep this TUI open", style="bold yellow")
    return Text(f"◌ viewer: {holder_label(view.dispatcher, here_host)} dispatches", style="dim")


def holder_label(holder: str, here_host: str | None = None) -> str:
    """`serve pid 123 on host (token)` as a person wants it: `serve pid 123` (the host only when it is another)."""
    parsed = Holder.parse(holder)
    return parsed.label(here_host) if parsed is not None else holder


class TaskList(OptionList):
    """The rows of the queue panel; the highlighted row is the task the panel's keys act on."""

    BINDINGS = [Binding("enter", "select", "View task", show=False)]


class QueuePanel(Vertical):
    """The command queue of the focused agent, or of every agent (O toggles)."""

    BINDINGS = [
        Binding("v", "view", "View task"),
        Binding("c", "cancel", "Cancel task"),
        Binding("R", "retry", "Retry task"),
        Binding("right_square_bracket", "priority(1)", "Raise priority", key_display="]"),
        Binding("left_square_bracket", "priority(-1)", "Lower priority", key_display="["),
        Binding("d", "after", "Wait for another task (after)", show=False),
        Binding("escape", "screen.leave_queue", "Back to the grid", show=False),
    ]

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = time.time) -> None:  # noqa: A002
        super().__init__(id=id)
        self.clock = clock
        self.view: QueueView | None = None
        self.agent: str | None = None
        self.show_all = False
        self.tasks: list[Task] = []
        """The tasks listed, in the order shown."""
        self._shown: tuple[object, ...] = ()
        self._rows: dict[int, tuple[tuple[object, ...], Text]] = {}
        self._status: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="panel-title", id="queue-title")
        yield Static(id="queue-status")
        yield Static(id="queue-columns")
        yield Static("No tasks yet. Press e to queue one for the focused agent.", id="queue-empty")
        yield TaskList(id="queue-tasks", compact=True)

    # --- what to show ------------------------------------------------------------------------------------

    def _title(self) -> str:
        whose = "all agents" if self.show_all else (self.agent or "focused agent")
        return f"Queue · {whose}  (O: {'focused' if self.show_all else 'all'})"

    def show_view(self, view: QueueView) -> None:
        self.view = view
        self.refresh_tasks()

    def follow(self, agent: str | None) -> None:
        """Show this agent's queue from now on (its tasks stay listed while following all agents)."""
        if agent == self.agent:
            return
        self.agent = agent
        self._scope_changed()

    def toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._scope_changed()

    def _scope_changed(self) -> None:
        """Ask the supervisor's buffer for what the panel shows now (read agent by agent from the store)."""
        app_of(self).set_queue_panel(self.agent, self.show_all)
        self.query_one("#queue-title", Static).update(self._title())
        self.refresh_tasks()

    def refresh_tasks(self) -> None:
        """Rebuild the rows whose text changed (state, priority, age...); nothing when nothing did."""
        view = self.view
        if view is None or not self.display or (self.parent is not None and not self.parent.display):
            return
        agent, every = view.scope
        if not every and (self.show_all or agent != self.agent):
            return  # the tasks of what the panel showed before: the new ones come with the next look
        tasks = [t for t in view.tasks if self.show_all or t.agent == self.agent]
        now = self.clock()
        ages = [format_age(now - task.created_at) for task in tasks]
        id_width = max([2, *(len(str(task.id)) for task in tasks)])
        agent_width = min(AGENT_WIDTH, max([5, *(len(task.agent) for task in tasks)])) if self.show_all else 0
        shown = (self.agent, self.show_all, id_width, agent_width, tuple(tasks), tuple(ages),
                 tuple(sorted(view.down.items())))  # whose: an empty list names its agent
        self._show_status(view, tasks)
        if shown == self._shown:
            return
        self._shown = shown
        self.tasks = tasks
        rows: dict[int, tuple[tuple[object, ...], Text]] = {}
        for task, age in zip(tasks, ages, strict=True):
            waits = view.down.get(task.agent, "") if task.state in (TaskState.QUEUED, TaskState.READY) else ""
            key = (task, age, id_width, agent_width, waits)
            cached = self._rows.get(task.id)
            rows[task.id] = cached if cached is not None and cached[0] == key else (
                key, task_row(task, age, id_width, agent_width, waits))
        self._rows = rows
        self.query_one("#queue-columns", Static).update(Text(columns_header(id_width, agent_width), style="dim"))
        self._fill([rows[task.id][1] for task in tasks])

    def _fill(self, prompts: Sequence[Text]) -> None:
        """Replace the list's options, keeping the highlighted task (by id) and the scroll position."""
        listing = self.query_one(TaskList)
        current = self.highlighted_task()
        scroll = listing.scroll_y
        options: list[Option | None] = []
        ended_from = next((i for i, task in enumerate(self.tasks) if task.state.ended), None)
        for index, (task, prompt) in enumerate(zip(self.tasks, prompts, strict=True)):
            if index == ended_from and index:
                options.append(None)  # a rule between the tasks still to come and the ended ones
            options.append(Option(prompt, id=str(task.id)))
        listing.set_options(options)
        listing.scroll_to(y=scroll, animate=False, immediate=True)
        if self.tasks:
            ids = [task.id for task in self.tasks]
            index = ids.index(current.id) if current is not None and current.id in ids else 0
            listing.highlighted = listing.get_option_index(str(self.tasks[index].id))
        empty = self.query_one("#queue-empty", Static)
        empty.display = not self.tasks
        self.query_one("#queue-columns").display = bool(self.tasks)
        if not self.tasks:
            whose = "" if self.show_all else f" for {self.agent}" if self.agent else ""
            empty.update(f"No tasks{whose}. Press e to queue one"
                         + (" for the focused agent." if self.show_all or not self.agent else "."))

    def _show_status(self, view: QueueView, tasks: list[Task]) -> None:
        open_tasks = sum(1 for task in tasks if not task.state.ended)
        mine = [self.agent] if self.agent in view.paused else []
        paused = sorted(view.paused) if self.show_all else mine
        key = (view.here, view.dispatcher, tuple(paused), open_tasks, len(tasks) - open_tasks)
        if key == self._status:
            return
        self._status = key
        line = Text()
        line.append_text(dispatcher_line(view))
        line.append("\n")
        if paused:
            whose = "queue paused" if not self.show_all else f"paused: {', '.join(paused)}"
            line.append(f"{PAUSED} {whose} (p resumes)", style="bold yellow")
            line.append(" · ", style="dim")
        line.append(f"{open_tasks} to do · {len(tasks) - open_tasks} ended", style="dim")
        self.query_one("#queue-status", Static).update(line)

    def tick(self) -> None:
        """Once a second: ages move."""
        self.refresh_tasks()

    def on_show(self) -> None:
        self.refresh_tasks()

    # --- the highlighted task ------------------------------------------------------------------------------

    def highlighted_task(self) -> Task | None:
        option = self.query_one(TaskList).highlighted_option
        if option is None or option.id is None:
            return None
        task_id = int(option.id)
        return next((task for task in self.tasks if task.id == task_id), None)

    def _need_task(self) -> Task | None:
        task = self.highlighted_task()
        if task is None:
            self.notify("No task highlighted: Tab moves into the queue panel, e queues a task", severity="warning")
        return task

    # --- actions (the app writes the store in a worker) ---------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_view()

    def action_view(self) -> None:
        task = self._need_task()
        if task is not None:
            app_of(self).view_task(task)

    def action_cancel(self) -> None:
        task = self._need_task()
        if task is not None:
            app_of(self).cancel_task(task.id)

    def action_retry(self) -> None:
        task = self._need_task()
        if task is not None:
            app_of(self).retry_task(task.id)

    def action_priority(self, delta: int) -> None:
        task = self._need_task()
        if task is not None:
            app_of(self).shift_priority(task.id, delta)

    def action_after(self) -> None:
        task = self._need_task()
        if task is not None:
            app_of(self).add_dependency(task)
