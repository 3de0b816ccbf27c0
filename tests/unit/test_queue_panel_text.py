"""What the queue panel and the add-task form say, without tmux: rows, the dispatcher line, form checks."""

from __future__ import annotations

import pytest

from agentmux.queue import Task, TaskState
from agentmux.supervisor.ui import QueueView
from agentmux.tui.screens.tasks import FormError, parse_task_form
from agentmux.tui.widgets.queue import dispatcher_line, holder_label, task_row


def task(state: TaskState = TaskState.READY, **values: object) -> Task:
    fields: dict[str, object] = dict(
        id=7, agent="backend", text="run the tests", priority=0, state=state, run_when="success", if_output=None,
        timeout=None, retries=0, attempts=0, reason="", result="", created_at=0.0, updated_at=0.0,
        not_before=None, dispatched_at=None, sent_at=None, started_at=None, finished_at=None, output_mark=None)
    fields.update(values)
    return Task(**fields)  # type: ignore[arg-type]


def test_a_plain_task_is_one_line() -> None:
    assert task_row(task(), "2m", 2).plain == " 7 ○ ready       2m  run the tests"


def test_dependencies_conditions_and_limits_go_on_a_second_line() -> None:
    row = task_row(task(TaskState.QUEUED, after=(3, 4), if_output="passed|ok", timeout=900, priority=5,
                        retries=2), "1m", 2).plain
    assert row.splitlines()[1].strip() == "priority 5 · retries 2 · after 3,4 success · if /passed|ok/ · timeout 15m"


def test_failed_and_skipped_tasks_say_why() -> None:
    failed = task_row(task(TaskState.FAILED, attempts=2, retries=1, reason="✗ error: boom"), "5m", 2).plain
    assert failed.splitlines()[1:] == ["     try 2/2", "     ✗ error: boom"]
    skipped = task_row(task(TaskState.SKIPPED, after=(3,), run_when="failure",
                            reason="task 3 succeeded (runs only after failure)"), "5m", 2).plain
    assert skipped.splitlines()[-1].strip() == "task 3 succeeded (runs only after failure)"
    cancelled = task_row(task(TaskState.CANCELLED, reason="cancelled"), "5m", 2).plain
    assert len(cancelled.splitlines()) == 1


def test_listing_every_agent_names_each_tasks_agent() -> None:
    assert "backend run the tests" in task_row(task(), "2m", 2, agent_width=7).plain


def test_who_dispatches() -> None:
    def view(dispatcher: str | None, here: bool = False) -> QueueView:
        return QueueView(tasks=(), paused=frozenset(), dispatcher=dispatcher, here=here)

    assert dispatcher_line(view("tui pid 1 on box (ab12cd)", here=True)).plain == "● this TUI dispatches"
    assert dispatcher_line(view("serve pid 123 on box (ab12cd)"), here_host="box").plain == \
        "◌ viewer: serve pid 123 dispatches"
    assert dispatcher_line(view(None)).plain == \
        "✗ nobody dispatches: run `agentmux up` or keep this TUI open"
    assert holder_label("serve pid 123 on other (ab12cd)", here_host="box") == "serve pid 123 on other"


FORM = {"task-text": "run the tests", "task-priority": "0", "task-retries": "0", "task-timeout": "",
        "task-after": "", "task-if-output": ""}


def test_the_form_reads_every_field() -> None:
    request = parse_task_form("backend", {**FORM, "task-priority": "-2", "task-retries": "3", "task-timeout": "90s",
                                          "task-after": "3, 4,#5", "task-if-output": "passed"}, "always")
    assert (request.priority, request.retries, request.timeout, request.after, request.when, request.if_output) == \
        (-2, 3, 90.0, (3, 4, 5), "always", "passed")


@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"task-text": "  "}, "task-text", "text: type what the agent should get"),
    ({"task-priority": "high"}, "task-priority", "priority: 'high' is not a whole number"),
    ({"task-retries": "-1"}, "task-retries", "retries: must be 0 or more"),
    ({"task-timeout": "0"}, "task-timeout", "timeout: must be above 0 seconds"),
    ({"task-after": "3,x"}, "task-after", "after: 'x' is not a task id"),
    ({"task-after": "3", "task-if-output": "ok ("}, "task-if-output", "if output: not a valid regular expression"),
    ({"task-after": "3", "task-if-output": r"(a)\1"}, "task-if-output",
     r"if output: not a valid regular expression: invalid escape sequence: \1 (patterns use RE2 syntax: no "
     "backreferences"),
    ({"task-after": "3", "task-if-output": "(?<=a)b"}, "task-if-output", "invalid perl operator: (?<"),
    ({"task-if-output": "ok"}, "task-if-output", "fill after too"),
])
def test_the_form_refuses_with_one_line_naming_the_field(changes: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(FormError) as refused:
        parse_task_form("backend", {**FORM, **changes}, "success")
    assert refused.value.field == field
    assert says in refused.value.message
    assert "\n" not in refused.value.message


def test_a_task_waiting_for_an_agent_that_is_down_says_why() -> None:
    row = task_row(task(), "2m", 2, waits="error: exited with status 1").plain
    assert row.splitlines()[1].strip() == "waits: backend is error: exited with status 1"


def test_a_task_text_never_reaches_the_terminal_raw() -> None:
    """A shell task may hold any character; shown raw, ESC ] 2 ; retitled the user's terminal and ESC [ moved
    the cursor over the panel."""
    row = task_row(task(text="a\x1b]2;PWNED\x07 b \x1b[5;5HJUMP \u202e"), "2m", 2).plain
    assert "\x1b" not in row and "\x07" not in row and "\u202e" not in row
    assert "\\x1b]2;PWNED\\x07" in row
