"""Queue dialogs: queue a task (a form), make a task wait for another, and one task in full.

The forms check what they can on the spot (numbers, the regular expression) and then write in a thread
worker with a fresh store connection; a refusal from the store (an unknown task id, a cycle) comes back to
the form as one line, and the form stays open with everything typed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from agentmux import ansi
from agentmux.actions import Actions
from agentmux.agents.kinds import kind_of
from agentmux.agents.observer import format_age
from agentmux.errors import AgentmuxError
from agentmux.queue import WHEN, Queue, Task, TaskState, patterns
from agentmux.queue.model import TaskEvent
from agentmux.tui.handle import app_of
from agentmux.tui.widgets.queue import TASK_STYLE, conditions, one_line, task_badge, tries

Result = TypeVar("Result")


class FormError(Exception):
    """A field the user must fix: shown as one line in the form, the field focused."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TaskRequest:
    """A task as the form describes it, checked as far as can be without the store."""

    agent: str
    text: str
    priority: int = 0
    after: tuple[int, ...] = ()
    when: str = "success"
    if_output: str | None = None
    timeout: float | None = None
    retries: int = 0

    def add_to(self, actions: Actions) -> Task:
        """Queue it; an id in `after` that the store does not know is refused on the `after` field."""
        for dep in self.after:
            try:
                actions.queue.get(dep)
            except AgentmuxError:
                raise FormError("task-after", f"after: there is no task {dep}") from None
        return actions.queue_add(self.agent, self.text, priority=self.priority, after=self.after, when=self.when,
                                 if_output=self.if_output, timeout=self.timeout, retries=self.retries)


def whole_number(value: str, field: str, label: str, minimum: int | None = None) -> int:
    value = value.strip()
    try:
        number = int(value) if value else 0
    except ValueError:
        raise FormError(field, f"{label}: {value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise FormError(field, f"{label}: must be {minimum} or more")
    return number


def parse_task_form(agent: str | None, values: dict[str, str], when: str) -> TaskRequest:
    """The form's fields (by input id) as a TaskRequest, or the first FormError in reading order."""
    if not agent:
        raise FormError("task-agent", "agent: choose the agent that gets the task")
    text = values["task-text"]
    if not text.strip():
        raise FormError("task-text", "text: type what the agent should get")
    priority = whole_number(values["task-priority"], "task-priority", "priority")
    retries = whole_number(values["task-retries"], "task-retries", "retries", minimum=0)
    timeout_text = values["task-timeout"].strip().removesuffix("s")
    timeout: float | None = None
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise FormError("task-timeout", f"timeout: {timeout_text!r} is not a number of seconds") from None
        if not timeout > 0:
            raise FormError("task-timeout", "timeout: must be above 0 seconds (leave it empty for none)")
    after: list[int] = []
    for item in re.split(r"[,\s]+", values["task-after"].strip()):
        if not item:
            continue
        try:
            after.append(int(item.removeprefix("#")))
        except ValueError:
            raise FormError("task-after", f"after: {item!r} is not a task id (ids separated by commas: 3,4)") \
                from None
    if when not in WHEN:
        raise FormError("task-when", f"when: one of {', '.join(WHEN)}")
    pattern = values["task-if-output"]
    if pattern:
        try:
            patterns.check(pattern)
        except patterns.PatternError as exc:
            raise FormError("task-if-output", f"if output: {exc.reason}") from None
        if not after:
            raise FormError("task-if-output", "if output: it tests the output of the tasks in after; fill after too")
    return TaskRequest(agent=agent, text=text, priority=priority, after=tuple(dict.fromkeys(after)), when=when,
                       if_output=pattern or None, timeout=timeout, retries=retries)


class StoreForm(ModalScreen[Result | None], Generic[Result]):
    """A dialog whose answer is written to the store in a worker; refusals come back to its error line."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    @dataclass
    class Refused(Message):
        field: str | None
        message: str

    @dataclass
    class Accepted(Message):
        result: object

    def __init__(self) -> None:
        super().__init__()
        self.saving = False

    def attempt(self) -> Callable[[Actions], Result]:
        """What to write (checked locally first: raise FormError); runs in a worker with its own Actions."""
        raise NotImplementedError

    def action_save(self) -> None:
        if self.saving:
            return
        try:
            write = self.attempt()
        except FormError as exc:
            self.show_error(exc.field, exc.message)
            return
        self.saving = True
        self.query_one("#form-error", Static).update("saving…")
        self.write_in_store(write)

    @work(thread=True, exclusive=True, group="form", exit_on_error=False)
    def write_in_store(self, write: Callable[[Actions], Result]) -> None:
        try:
            with app_of(self).open_actions() as actions:
                result = write(actions)
        except FormError as exc:
            self.post_message(self.Refused(exc.field, exc.message))
        except Exception as exc:  # noqa: BLE001 - any refusal (store, sqlite) is one line in the form
            self.post_message(self.Refused(None, str(exc) if isinstance(exc, AgentmuxError)
                                           else f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.Accepted(result))

    @on(Refused)
    def refused(self, message: Refused) -> None:
        self.saving = False
        self.show_error(message.field, message.message)

    @on(Accepted)
    def accepted(self, message: Accepted) -> None:
        self.dismiss(message.result)  # type: ignore[arg-type]

    def show_error(self, field: str | None, message: str) -> None:
        self.query_one("#form-error", Static).update(Text(f"✗ {message}"))
        for widget in self.query(f"#{field}") if field is not None else ():
            widget.focus()

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AddTaskScreen(StoreForm[Task]):
    """Queue a task for an agent: text, priority, dependencies and conditions, timeout, retries."""

    AUTO_FOCUS = "#task-text"

    def __init__(self, agents: Sequence[str], agent: str | None, kinds: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.agents = list(agents)
        self.kinds = dict(kinds or {})
        """Each agent's kind: a text its kind cannot take is refused in the form, as `agentmux queue add` does."""
        self.agent = agent if agent in self.agents else (self.agents[0] if self.agents else None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="task-form"):
            yield Label("Queue a task", classes="dialog-title")
            yield Label("Agent", classes="field-label")
            yield Select([(name, name) for name in self.agents], value=self.agent or Select.BLANK,
                         allow_blank=self.agent is None, id="task-agent")
            yield Label("Text (typed into the agent, then Enter, when it is ready for input)", classes="field-label")
            yield Input(placeholder="e.g. run the test suite and fix what fails", id="task-text")
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("Priority (high first)", classes="field-label")
                    yield Input("0", id="task-priority")
                with Vertical():
                    yield Label("Retries if it fails", classes="field-label")
                    yield Input("0", id="task-retries")
                with Vertical():
                    yield Label("Timeout (seconds)", classes="field-label")
                    yield Input(placeholder="none", id="task-timeout")
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("After (task ids, e.g. 3,4)", classes="field-label")
                    yield Input(placeholder="none: ready at once", id="task-after")
                with Vertical():
                    yield Label("When they all", classes="field-label")
                    yield Select([("succeeded (success)", "success"), ("failed (failure)", "failure"),
                                  ("ended (always)", "always")], value="success", allow_blank=False, id="task-when")
            yield Label("If their output matches (a regular expression, RE2 syntax; optional)", classes="field-label")
            yield Input(placeholder="e.g. passed|ok", id="task-if-output")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Queue (Enter)", id="save", variant="primary")

    def attempt(self) -> Callable[[Actions], Task]:
        values = {widget.id: widget.value for widget in self.query(Input) if widget.id}
        agent = self.query_one("#task-agent", Select).value
        when = self.query_one("#task-when", Select).value
        request = parse_task_form(agent if isinstance(agent, str) else None, values, str(when))
        kind = kind_of(self.kinds.get(request.agent, "command"))
        try:
            kind.check_task(request.text)
        except AgentmuxError as exc:
            raise FormError("task-text", str(exc)) from None
        return request.add_to


class AfterScreen(StoreForm[Task]):
    """Make a waiting task also wait for another (`agentmux queue after ID DEP`)."""

    AUTO_FOCUS = "#after-id"

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.waiting = task

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Task {self.waiting.id} ({self.waiting.agent}) waits for…", classes="dialog-title")
            yield Static(Text(self.waiting.text.strip().splitlines()[0] if self.waiting.text.strip() else "",
                              style="dim", no_wrap=True, overflow="ellipsis"))
            yield Label("Task id (a cycle is refused; its condition stays "
                        f"{self.waiting.run_when!r})", classes="field-label")
            yield Input(placeholder="e.g. 12", id="after-id")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Wait for it (Enter)", id="save", variant="primary")

    def attempt(self) -> Callable[[Actions], Task]:
        value = self.query_one("#after-id", Input).value.strip().removeprefix("#")
        if not value:
            raise FormError("after-id", "type the id of the task to wait for")
        try:
            dep = int(value)
        except ValueError:
            raise FormError("after-id", f"{value!r} is not a task id") from None
        task_id = self.waiting.id
        return lambda actions: actions.add_dependency(task_id, dep)


# --- one task in full ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskDetails:
    """A task as the store has it now, with its history and the tasks it waits for."""

    task: Task
    events: tuple[TaskEvent, ...]
    waits_for: tuple[Task, ...]


def read_details(queue: Queue, task_id: int) -> TaskDetails:
    task = queue.get(task_id)
    waits_for = []
    for dep in task.after:
        try:
            waits_for.append(queue.get(dep))
        except AgentmuxError:
            continue
    return TaskDetails(task, tuple(queue.events(task_id)), tuple(waits_for))


def clock_time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _section(title: str, note: str = "") -> Text:
    text = Text("\n")
    text.append(title, style="bold")
    if note:
        text.append(f" {note}", style="dim")
    return text


def _grid() -> Table:
    """Two columns, the second wrapping under itself (a hanging indent)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(ratio=1)
    return table


def details_view(details: TaskDetails, now: float) -> Group:
    """Everything about one task, as the task view shows it (plain text: no markup from the task's output)."""
    task = details.task
    parts: list[RenderableType] = []
    head = Text()
    head.append_text(task_badge(task.state))
    facts = [f"priority {task.priority}", f"attempts {tries(task)}"]
    if task.timeout:
        facts.append(f"timeout {format_age(task.timeout)}")
    head.append("  " + " · ".join(facts), style="dim")
    if task.reason:
        head.append("\n")
        head.append(task.reason, style=TASK_STYLE[task.state].replace("bold ", "") if task.state in (
            TaskState.FAILED, TaskState.SKIPPED) else "")
    parts.append(head)
    if task.after:
        rule = {"success": "every one succeeded", "failure": "every one failed", "always": "every one ended"}
        note = f"(runs when {rule[task.run_when]}" + (
            f" and its output matches /{task.if_output}/)" if task.if_output else ")")
        parts.append(_section("Waits for", note))
        waits = _grid()
        known = {dep.id: dep for dep in details.waits_for}
        for dep_id in task.after:
            dep = known.get(dep_id)
            if dep is None:
                waits.add_row(str(dep_id), Text("(no longer in the store)", style="dim"))
                continue
            line = task_badge(dep.state)
            line.append(f"  {dep.agent}: {one_line(dep.text)}", style="")
            waits.add_row(str(dep.id), line)
        parts.append(waits)
    elif task.if_output:
        parts.append(Text(conditions(task), style="dim"))
    parts.append(_section("Times"))
    times = _grid()
    for label, at in (("added", task.created_at), ("sent", task.sent_at), ("started", task.started_at),
                      ("finished", task.finished_at)):
        if at is not None:
            times.add_row(label, Text(f"{clock_time(at)}  ({format_age(now - at)} ago)"))
    if task.dispatched_by:
        times.add_row("by", Text(task.dispatched_by))
    parts.append(times)
    parts.append(_section("Text"))
    parts.append(Text(ansi.printable(task.text.rstrip())))
    parts.append(_section("History"))
    if details.events:
        history = _grid()
        for event in details.events:
            history.add_row(clock_time(event.at), Text(ansi.one_line(event.message)))
        parts.append(history)
    else:
        parts.append(Text("nothing yet", style="dim"))
    parts.append(_section("Result", "(what the agent printed after the task's line, up to its next prompt)"))
    empty = "(nothing printed)" if task.state.ended else "(none yet)"
    parts.append(Text(ansi.printable(task.result.rstrip())) if task.result else Text(empty, style="dim"))
    return Group(*parts)


class TaskScreen(ModalScreen[None]):
    """One task in full: state, reason, what it waits for, times, text, history and result; scrollable,
    and kept up to date while open."""

    BINDINGS = [
        Binding("escape,q,v", "close", "Close"),
        Binding("c", "cancel_task", "Cancel task"),
        Binding("R", "retry_task", "Retry task"),
    ]
    AUTO_FOCUS = "#task-body"

    @dataclass
    class Loaded(Message):
        details: TaskDetails | None
        error: str = ""

    def __init__(self, task: Task, read: Callable[[int], TaskDetails]) -> None:
        super().__init__()
        self.shown = task
        self.read = read
        self.details: TaskDetails | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="task-view"):
            yield Label(self._title(), classes="dialog-title", id="task-title")
            with VerticalScroll(id="task-body"):
                yield Static(Text("loading…", style="dim"), id="task-details")
            yield Static(Text("Esc closes · ↑↓ PgUp PgDn scroll · c cancel · R retry", style="dim"),
                         id="task-keys")

    def _title(self) -> str:
        return f"Task {self.shown.id} for {self.shown.agent}"

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="task-view", exit_on_error=False)
    def load(self) -> None:
        try:
            self.post_message(self.Loaded(self.read(self.shown.id)))
        except Exception as exc:  # noqa: BLE001 - said in the view, never a traceback
            self.post_message(self.Loaded(None, str(exc) if isinstance(exc, AgentmuxError)
                                          else f"{type(exc).__name__}: {exc}"))

    @on(Loaded)
    def loaded(self, message: Loaded) -> None:
        body = self.query_one("#task-details", Static)
        if message.details is None:
            body.update(Text(f"✗ cannot read task {self.shown.id}: {message.error}", style="red"))
            return
        self.details = message.details
        self.shown = message.details.task
        body.update(details_view(message.details, app_of(self).clock()))

    def queue_changed(self, tasks: Sequence[Task]) -> None:
        """The mirror saw the store change: read the task again if it is among the changed."""
        now = next((task for task in tasks if task.id == self.shown.id), None)
        if now is not None and now != self.shown:
            self.shown = now
            self.load()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_task(self) -> None:
        app_of(self).cancel_task(self.shown.id)

    def action_retry_task(self) -> None:
        app_of(self).retry_task(self.shown.id)
