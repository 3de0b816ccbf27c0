"""The queue's rules on a real SQLite store in a temp dir (dispatching to real agents is tested with tmux)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmux.errors import AgentmuxError
from agentmux.queue import Queue, TaskState
from agentmux.store import Store


@pytest.fixture
def queue(tmp_path: Path) -> Queue:
    return Queue(Store(tmp_path / "store.db"))


def run(queue: Queue, task_id: int, ok: bool = True, output: str = "") -> None:
    """What the dispatcher does for one task: claim, send, follow, finish."""
    assert queue.mark_dispatched(task_id, output_mark=0)
    queue.mark_sent(task_id)
    queue.mark_running(task_id)
    queue.finish(task_id, ok, output, "done" if ok else "failed")


def test_added_tasks_survive_the_process_and_go_out_by_priority_then_age(tmp_path: Path) -> None:
    queue = Queue(Store(tmp_path / "store.db"))
    low = queue.add("a", "low", now=1)
    high = queue.add("a", "high", priority=5, now=2)
    older_high = queue.add("a", "older high", priority=5, now=1.5)
    queue.store.close()
    again = Queue(Store(tmp_path / "store.db"))
    assert [t.id for t in again.tasks("a")] == [older_high.id, high.id, low.id]
    order = []
    for _ in range(3):
        task = again.next_ready("a", now=10)
        assert task is not None
        order.append(task.text)
        run(again, task.id)
    assert order == ["older high", "high", "low"]


def test_one_task_out_per_agent_and_none_while_paused(queue: Queue) -> None:
    first, _ = queue.add("a", "one"), queue.add("a", "two")
    queue.mark_dispatched(first.id, 0)
    assert queue.next_ready("a") is None, "the agent has a task out"
    queue.finish(first.id, True, "", "done")
    queue.pause("a")
    assert queue.next_ready("a") is None
    queue.resume("a")
    assert queue.next_ready("a") is not None


def test_dependency_chain_across_agents(queue: Queue) -> None:
    build = queue.add("builder", "make")
    deploy = queue.add("deployer", "ship it", after=[build.id])
    assert deploy.state == TaskState.QUEUED and queue.next_ready("deployer") is None
    run(queue, build.id, ok=True)
    assert queue.get(deploy.id).state == TaskState.READY


def test_when_failure_runs_only_after_a_failure_and_skips_say_why(queue: Queue) -> None:
    tests = queue.add("a", "pytest")
    fix = queue.add("b", "fix it", after=[tests.id], when="failure")
    celebrate = queue.add("b", "celebrate", after=[tests.id])
    after_fix = queue.add("c", "review the fix", after=[fix.id])
    run(queue, tests.id, ok=False)
    assert queue.get(fix.id).state == TaskState.READY
    skipped = queue.get(celebrate.id)
    assert skipped.state == TaskState.SKIPPED and f"task {tests.id} failed" in skipped.reason
    assert queue.get(after_fix.id).state == TaskState.QUEUED
    second = queue.add("a", "pytest again")
    fix_again = queue.add("b", "fix again", after=[second.id], when="failure")
    downstream = queue.add("c", "after the second fix", after=[fix_again.id])
    run(queue, second.id, ok=True)
    assert queue.get(fix_again.id).state == TaskState.SKIPPED
    assert queue.get(downstream.id).state == TaskState.SKIPPED, "a skip cascades"


def test_if_output_matches_the_dependencys_output(queue: Queue) -> None:
    check = queue.add("a", "check")
    on_match = queue.add("b", "go", after=[check.id], when="always", if_output=r"^ALL GREEN$")
    on_other = queue.add("b", "other", after=[check.id], when="always", if_output="RED")
    run(queue, check.id, ok=True, output="lines\nALL GREEN\nmore")
    assert queue.get(on_match.id).state == TaskState.READY
    assert "does not match" in queue.get(on_other.id).reason


def test_cycles_are_refused(queue: Queue) -> None:
    a = queue.add("x", "a")
    b = queue.add("x", "b", after=[a.id])
    c = queue.add("y", "c", after=[b.id])
    with pytest.raises(AgentmuxError, match="cycle"):
        queue.add_dependency(a.id, c.id)
    with pytest.raises(AgentmuxError, match="cycle"):
        queue.add_dependency(a.id, a.id)
    assert queue.get(a.id).after == ()


def test_cancel_retry_and_bad_input(queue: Queue) -> None:
    task = queue.add("a", "work")
    assert queue.cancel(task.id).state == TaskState.CANCELLED
    with pytest.raises(AgentmuxError, match="already cancelled"):
        queue.cancel(task.id)
    assert queue.retry(task.id).state == TaskState.READY
    with pytest.raises(AgentmuxError, match="no such task"):
        queue.add("a", "x", after=[999])
    with pytest.raises(AgentmuxError, match="regular expression"):
        queue.add("a", "x", if_output="(")
    with pytest.raises(AgentmuxError, match="--when"):
        queue.add("a", "x", when="sometimes")
    with pytest.raises(AgentmuxError, match="no task 999"):
        queue.get(999)


def test_failures_retry_with_backoff_then_fail(queue: Queue) -> None:
    task = queue.add("a", "flaky", retries=1)
    assert queue.mark_dispatched(task.id, 0, now=100)
    again = queue.finish(task.id, False, "boom", "error marker", now=101)
    assert again.state == TaskState.READY and "retry 1 of 1" in again.reason
    assert queue.next_ready("a", now=101.5) is None, "backing off"
    assert queue.next_ready("a", now=103) is not None
    assert queue.mark_dispatched(task.id, 0, now=103)
    final = queue.finish(task.id, False, "boom", "error marker", now=104)
    assert final.state == TaskState.FAILED and final.attempts == 2
    # retried by hand: its automatic retries start again
    assert queue.retry(task.id, now=200).state == TaskState.READY
    assert queue.mark_dispatched(task.id, 0, now=200)
    assert queue.finish(task.id, False, "boom", "error marker", now=201).state == TaskState.READY
    assert queue.mark_dispatched(task.id, 0, now=210)
    assert queue.finish(task.id, False, "boom", "error marker", now=211).state == TaskState.FAILED


def test_a_retried_task_decides_again_the_tasks_skipped_because_of_it(queue: Queue) -> None:
    first = queue.add("a", "build")
    second = queue.add("b", "deploy", after=[first.id])
    third = queue.add("b", "announce", after=[second.id])
    assert queue.mark_dispatched(first.id, 0, now=1)
    queue.finish(first.id, False, "", "broke", now=2)
    assert queue.get(third.id).state == TaskState.SKIPPED
    assert any(e.message.startswith("skipped: task 1 failed") for e in queue.events(second.id))
    queue.retry(first.id, now=3)
    assert [queue.get(t.id).state for t in (second, third)] == [TaskState.QUEUED, TaskState.QUEUED]
    assert queue.mark_dispatched(first.id, 0, now=4)
    queue.finish(first.id, True, "ok", "done", now=5)
    assert queue.get(second.id).state == TaskState.READY and queue.get(third.id).state == TaskState.QUEUED


def test_a_dispatch_cut_off_is_retried_or_marked_and_says_so(queue: Queue) -> None:
    cut = queue.add("a", "cut off")
    sent = queue.add("b", "sent")
    queue.mark_dispatched(cut.id, 0)
    queue.mark_dispatched(sent.id, 0)
    queue.mark_sent(sent.id)
    recovered = queue.recover("retry")
    assert [t.id for t in recovered] == [cut.id]
    task = queue.get(cut.id)
    assert task.state == TaskState.READY and task.attempts == 1 and "may have reached" in task.reason
    assert queue.get(sent.id).state == TaskState.DISPATCHED, "a sent task is followed, not resent"
    queue.mark_dispatched(cut.id, 0)
    assert queue.recover("fail")[0].state == TaskState.FAILED


def test_cancel_while_out_is_kept_when_the_agent_finishes(queue: Queue) -> None:
    task = queue.add("a", "long")
    queue.mark_dispatched(task.id, 0)
    queue.cancel(task.id)
    assert queue.finish(task.id, True, "out", "done").state == TaskState.CANCELLED


def test_only_the_supervisor_lease_holder_can_claim_a_task(queue: Queue) -> None:
    from agentmux.queue.model import SUPERVISOR_LEASE

    task = queue.add("a", "one")
    store = queue.store
    assert store.take_lease(SUPERVISOR_LEASE, "first", ttl=3, now=100)
    assert not store.take_lease(SUPERVISOR_LEASE, "second", ttl=3, now=101), "held by a live holder"
    assert not queue.mark_dispatched(task.id, 0, now=101, holder="second")
    assert queue.get(task.id).state == TaskState.READY
    assert store.take_lease(SUPERVISOR_LEASE, "second", ttl=3, now=101, holder_gone=lambda h: h == "first")
    assert not queue.mark_dispatched(task.id, 0, now=101.5, holder="first"), "a holder that lost the lease"
    assert queue.mark_dispatched(task.id, 0, now=101.5, holder="second")
    assert queue.get(task.id).dispatched_by == "second"
    assert store.take_lease(SUPERVISOR_LEASE, "third", ttl=3, now=105), "expired: taken over"
    store.release_lease(SUPERVISOR_LEASE, "second")
    assert store.lease(SUPERVISOR_LEASE) == ("third", 108), "only the holder can release"
    store.release_lease(SUPERVISOR_LEASE, "third")
    assert store.lease(SUPERVISOR_LEASE) is None


def test_a_tasks_history_tells_each_attempt_and_its_outcome(queue: Queue) -> None:
    task = queue.add("a", "flaky", retries=1)
    for ok in (False, True):
        assert queue.mark_dispatched(task.id, 0, now=1000 + ok * 10)
        queue.mark_sent(task.id, now=1000 + ok * 10)
        queue.finish(task.id, ok, "out", "done" if ok else "broke", now=1001 + ok * 10)
    history = [event.message for event in queue.events(task.id)]
    assert history == ["attempt 1 typed into a", "attempt 1 failed: broke; retry 1 of 1 in 1s",
                       "attempt 2 typed into a", "succeeded: done"]


def test_holder_gone_only_for_a_dead_process_on_this_machine() -> None:
    import socket
    import subprocess

    from agentmux.supervisor.lease import Holder, holder_gone

    assert not holder_gone(str(Holder.here("tui"))), "this process is alive"
    child = subprocess.Popen(["true"])  # a pid that has exited (and was reaped)
    child.wait()
    assert holder_gone(f"serve pid {child.pid} on {socket.gethostname()} (abc)")
    assert not holder_gone(f"serve pid {child.pid} on another-host (abc)"), "cannot tell: wait for expiry"
    assert not holder_gone("something else")
