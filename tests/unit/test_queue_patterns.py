"""`--if-output` patterns (issue 11, item 4): matched in linear time (RE2), never inside a write transaction,
refused when RE2 cannot use them; on a real SQLite store, through the Queue and the real CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmux import cli
from agentmux.errors import AgentmuxError, UsageError
from agentmux.queue import RESULT_LIMIT, Queue, TaskState, patterns
from agentmux.store import Store
from tests.conftest import Env

BACKTRACKS = "(a+)+$"
"""Python's re takes exponential time on it over a run of a's that ends in anything else."""
RUN_OF_AS = "a" * 30_000 + "!"

CONFIG = '''
[[agents]]
name = "builder"
command = "exec sleep 600"
'''


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    queue = Queue(Store(tmp_path / "store.db"))
    yield queue
    queue.store.close()


def ended(queue: Queue, output: str, ok: bool = True, agent: str = "a") -> int:
    """A task that ran and printed `output`: what the dispatcher records."""
    task = queue.add(agent, "print it")
    assert queue.mark_dispatched(task.id, output_mark=0)
    queue.mark_sent(task.id)
    queue.mark_running(task.id)
    queue.finish(task.id, ok, output, "done" if ok else "failed")
    return task.id


@contextlib.contextmanager
def within(seconds: float, what: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took < seconds, f"{what} took {took:.2f}s"


# --- (a) the scenario of the issue ------------------------------------------------------------------------

@pytest.mark.timeout(20)
def test_a_backtracking_pattern_after_a_long_run_of_as_is_decided_at_once(queue: Queue) -> None:
    first = ended(queue, RUN_OF_AS)
    assert len(queue.get(first).result) == RESULT_LIMIT
    with within(1.0, "adding a task whose pattern backtracks in Python"):
        skipped = queue.add("b", "next", after=[first], if_output=BACKTRACKS)
    assert skipped.state == TaskState.SKIPPED
    assert skipped.reason == f"the output of task {first} does not match {BACKTRACKS!r}"
    matching = queue.add("b", "next", after=[ended(queue, "a" * 30_000)], if_output=BACKTRACKS)
    assert matching.state == TaskState.READY


@pytest.mark.timeout(20)
def test_the_same_pattern_is_decided_at_once_when_the_dependency_ends_later(queue: Queue) -> None:
    first = queue.add("a", "print a's")
    waiting = queue.add("b", "next", after=[first.id], if_output=BACKTRACKS)
    assert queue.mark_dispatched(first.id, output_mark=0)
    with within(1.0, "finishing the task a backtracking pattern waits for"):
        queue.finish(first.id, True, RUN_OF_AS, "done")
    assert queue.get(waiting.id).state == TaskState.SKIPPED


# --- (b) no user pattern runs inside a write transaction --------------------------------------------------

@pytest.fixture
def watched(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """While any pattern is being matched, a writer on another connection that will not wait (busy timeout 0)
    adds a task; each match notes what that writer got."""
    other = Store(queue.store.path)
    other.db.execute("PRAGMA busy_timeout = 0")
    notes: list[str] = []
    search = patterns.Pattern.search

    def search_and_write(self: patterns.Pattern, text: str) -> bool:
        try:
            Queue(other).add("elsewhere", "written while a pattern is matched")
            notes.append("written")
        except (sqlite3.OperationalError, AgentmuxError) as exc:
            notes.append(f"refused: {exc}")
        return search(self, text)

    monkeypatch.setattr(patterns.Pattern, "search", search_and_write)
    yield notes
    other.close()


def test_patterns_are_matched_with_no_write_lock_held_on_every_path(queue: Queue, watched: list[str]) -> None:
    def seen(action: Callable[[], object]) -> None:
        before = len(watched)
        action()
        assert watched[before:] and set(watched[before:]) == {"written"}, watched[before:]

    # add, after a task that has ended
    ok = ended(queue, "tests passed")
    seen(lambda: queue.add("b", "on add", after=[ok], if_output="passed"))
    # finish, of the task it waits for
    later = queue.add("a", "later")
    on_finish = queue.add("b", "on finish", after=[later.id], if_output="passed")
    assert queue.mark_dispatched(later.id, 0)
    seen(lambda: queue.finish(later.id, True, "passed", "done"))
    assert queue.get(on_finish.id).state == TaskState.READY
    # cancel, of the task it waits for (whatever the outcome: `always`)
    doomed = queue.add("a", "doomed")
    on_cancel = queue.add("b", "on cancel", after=[doomed.id], when="always", if_output="^$")
    seen(lambda: queue.cancel(doomed.id))
    assert queue.get(on_cancel.id).state == TaskState.READY
    # retry, of the skipped task itself
    missed = queue.add("b", "on retry", after=[ok], if_output="failed")
    assert missed.state == TaskState.SKIPPED
    seen(lambda: queue.retry(missed.id))
    assert queue.get(missed.id).state == TaskState.SKIPPED
    # add_dependency, on an ended task
    ready = queue.add("b", "on after", after=[ok], if_output="passed")
    seen(lambda: queue.add_dependency(ready.id, ended(queue, "nothing")))
    assert "does not match 'passed'" in queue.get(ready.id).reason
    # recover, failing a cut-off dispatch
    cut = queue.add("a", "cut off")
    on_recover = queue.add("b", "on recover", after=[cut.id], when="failure", if_output="^$")
    assert queue.mark_dispatched(cut.id, 0)
    seen(lambda: queue.recover("fail"))
    assert queue.get(on_recover.id).state == TaskState.READY


def test_a_skip_cascades_to_tasks_that_need_their_own_patterns(queue: Queue, watched: list[str]) -> None:
    build = queue.add("a", "build")
    deploy = queue.add("b", "deploy", after=[build.id], if_output="^BUILD OK$")
    report = queue.add("c", "report the skip", after=[deploy.id], when="always", if_output="^$")
    announce = queue.add("c", "announce", after=[report.id], if_output="x")
    assert queue.mark_dispatched(build.id, 0)
    queue.finish(build.id, True, "BUILD FAILED", "done")
    assert [queue.get(t.id).state for t in (deploy, report, announce)] == [
        TaskState.SKIPPED, TaskState.READY, TaskState.QUEUED]
    assert len(watched) == 2 and set(watched) == {"written"}


def test_a_verdict_is_written_only_if_nothing_changed_while_matching(queue: Queue,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process changes the dependency's outcome while this one matches the output it read: the task is
    decided on the new outcome, not on the output read before it."""
    build = queue.add("a", "build")
    deploy = queue.add("b", "deploy", after=[build.id], if_output="OK")
    assert queue.mark_dispatched(build.id, 0)
    other = Queue(Store(queue.store.path))
    search = patterns.Pattern.search

    def search_while_cancelled(self: patterns.Pattern, text: str) -> bool:
        if other.get(build.id).state == TaskState.SUCCEEDED:
            with other.store.transaction() as db:  # as a retry and a new outcome would, in one step
                db.execute("UPDATE tasks SET state = 'failed', result = 'broke' WHERE id = ?", (build.id,))
        return search(self, text)

    monkeypatch.setattr(patterns.Pattern, "search", search_while_cancelled)
    queue.finish(build.id, True, "OK", "done")
    decided = queue.get(deploy.id)
    assert decided.state == TaskState.SKIPPED and decided.reason == f"task {build.id} failed (runs only after success)"
    other.store.close()


def test_a_task_left_undecided_by_a_process_that_stopped_is_decided_on_recovery(
        queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = ended(queue, "passed")
    with monkeypatch.context() as patched:  # the process stops between committing the task and matching
        patched.setattr(Queue, "_settle", lambda self, pending, now: None)
        left = queue.add("b", "left waiting", after=[ok], if_output="passed")
    assert left.state == TaskState.QUEUED
    queue.recover()
    assert queue.get(left.id).state == TaskState.READY


# --- (c) the real CLI -------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_queue_add_after_an_ended_task_returns_at_once_with_a_backtracking_pattern(env: Env) -> None:
    env.write_config(CONFIG)
    queue = Queue(Store(env.load().store_path))
    try:
        first = ended(queue, RUN_OF_AS, agent="builder")
        result = env.cli("queue", "add", "builder", "next", "--after", str(first), "--if-output", BACKTRACKS,
                         timeout=20)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"task {first + 1} for builder: skipped after {first} (success)"
        assert "does not match" in queue.get(first + 1).reason
        # and the store is not held: another add goes through at once
        assert env.cli("queue", "add", "builder", "more", timeout=20).returncode == 0
    finally:
        queue.store.close()


# --- (d) patterns RE2 cannot use are refused when the task is added ---------------------------------------

UNSUPPORTED = [
    (r"(a)\1", r"invalid escape sequence: \1"),
    ("(?=a)b", "invalid perl operator: (?="),
    ("(?<!a)b", "invalid perl operator: (?<"),
    (r"done\Z", r"invalid escape sequence: \Z"),
    ("(", "missing ): ("),
]


@pytest.mark.parametrize(("pattern", "says"), UNSUPPORTED)
def test_queue_add_refuses_a_pattern_re2_cannot_use_with_exit_code_2(env: Env, pattern: str, says: str) -> None:
    env.write_config(CONFIG)
    result = env.cli("queue", "add", "builder", "x", "--after", "1", "--if-output", pattern)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("agentmux: --if-output is not a valid regular expression: ") and says in line, line
    assert "no backreferences" in line and "lookahead or lookbehind" in line
    assert env.cli("queue", "ls", "--json").stdout.strip() == "[]", "nothing was added"


def test_queue_add_refuses_a_pattern_that_is_not_utf8(env: Env) -> None:
    env.write_config(CONFIG)
    result = env.cli("queue", "add", "builder", "x", "--after", "1", "--if-output", os.fsdecode(b"ok\xff"))
    assert result.returncode == 2, result.stderr
    assert result.stderr == "agentmux: --if-output is not valid UTF-8 text (byte 0xff is not part of a character)\n"


def test_a_pattern_of_two_dashes_reaches_the_queue(env: Env) -> None:
    """Python's argparse (before 3.13) took `--if-output=--` for no value at all: an internal error."""
    env.write_config(CONFIG)
    result = env.cli("queue", "add", "builder", "x", "--if-output=--")
    assert result.returncode == 0, result.stderr
    assert json.loads(env.cli("queue", "show", "1", "--json").stdout)["if_output"] == "--"
    refused = env.cli("queue", "add", "builder", "x", "--after=--")
    assert refused.returncode == 2 and "invalid int value: '--'" in refused.stderr, refused.stderr


def test_re2s_complaint_is_one_short_line() -> None:
    with pytest.raises(UsageError) as refused:
        patterns.check("(\n" + "x" * 500)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 300
    with pytest.raises(UsageError, match="pattern too large"):
        patterns.check(r"(?:[\p{L}\p{N}]{0,50}){0,20}x")


# --- (e) a pattern stored by an older agentmux that RE2 cannot use ----------------------------------------

@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)", "("])
def test_a_stored_pattern_re2_cannot_use_skips_the_task_saying_why(queue: Queue, pattern: str) -> None:
    build = queue.add("a", "build")
    with queue.store.transaction() as db:  # as an older agentmux (Python's re) let it in
        task = db.execute("INSERT INTO tasks (agent, text, state, if_output, created_at, updated_at) "
                          "VALUES ('b', 'old', 'queued', ?, 0, 0) RETURNING id", (pattern,)).fetchone()[0]
        db.execute("INSERT INTO task_deps (task, after) VALUES (?, ?)", (task, build.id))
    assert queue.mark_dispatched(build.id, 0)
    queue.finish(build.id, True, "aa", "done")
    skipped = queue.get(task)
    assert skipped.state == TaskState.SKIPPED
    assert skipped.reason.startswith(f"--if-output {pattern!r} is not a valid regular expression: ")
    assert "\n" not in skipped.reason
    assert any(event.message == f"skipped: {skipped.reason}" for event in queue.events(task))


def test_a_pattern_that_cannot_be_evaluated_fails_the_condition(queue: Queue,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import re2

    class OutOfMemory:
        def search(self, text: str) -> object:
            raise MemoryError("std::bad_alloc")

    ok = ended(queue, "passed")
    monkeypatch.setattr(patterns, "re2", SimpleNamespace(
        Options=re2.Options, error=re2.error, purge=re2.purge, compile=lambda pattern, options: OutOfMemory()))
    task = queue.add("b", "next", after=[ok], if_output="passed")
    assert task.state == TaskState.SKIPPED
    assert task.reason == "--if-output 'passed' is not decidable: matching failed (MemoryError: std::bad_alloc)"


# --- property: any pattern, any output ---------------------------------------------------------------------

REGEX_ALPHABET = "a()[]{}+*?|\\^$.1,:=!<>P-dwsbzZ\n"


@pytest.mark.timeout(600)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=st.one_of(st.text(), st.text(alphabet=REGEX_ALPHABET, max_size=40)),
       output=st.one_of(st.text(), st.builds(lambda run, tail: "a" * run + tail, st.integers(0, 30_000),
                                             st.text(max_size=3))))
def test_any_pattern_is_refused_in_one_line_or_decided_in_bounded_time(env: Env, pattern: str, output: str) -> None:
    if not env.config_path.exists():
        env.write_config(CONFIG)
    store = Store(env.load().store_path)
    try:
        dep = ended(Queue(store), output, agent="builder")
        stderr = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["--config", str(env.config_path), "queue", "add", "builder", "x", "--after", str(dep),
                             f"--if-output={pattern}"])
        assert time.monotonic() - started < 5.0
        if code != 0:
            assert code == 2, stderr.getvalue()
            [line] = stderr.getvalue().splitlines()
            assert line.startswith("agentmux: --if-output ") and "Traceback" not in line
            return
        [task] = [t for t in Queue(store).tasks("builder") if t.after == (dep,)]
        assert task.state in (TaskState.READY, TaskState.SKIPPED)
        assert "\n" not in task.reason
    finally:
        store.close()


def test_patterns_keep_multi_line_meaning() -> None:
    pattern = patterns.Pattern("^ALL GREEN$")
    assert pattern.search("lines\nALL GREEN\nmore") and not pattern.search("ALL GREEN!")
    assert patterns.Pattern(r"\Aline one$").search("line one\nline two")
