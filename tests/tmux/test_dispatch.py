"""The dispatcher with real tmux and the demo agent (and a real shell): order, dependencies, conditions,
cancel, retry, pause, timeouts, and never typing into a busy agent."""

from __future__ import annotations

import json

from agentmux.queue import Queue, Task, TaskState
from agentmux.store import Store
from tests.conftest import DEMO_AGENT, DemoFleets, Env, Supervisors, wait_until

SHELL = '''
[[agents]]
name = "sh"
kind = "shell"
'''


def test_tasks_go_out_by_priority_then_age_one_at_a_time(
        env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"])
    run = running()
    low = run.queue.add("a", "echo low")
    high = run.queue.add("a", "echo high", priority=5)
    mid = run.queue.add("a", "echo mid", priority=1)
    also_high = run.queue.add("a", "echo high too", priority=5)
    run.until(lambda: run.ended(low, high, mid, also_high), message="all four done")
    assert fleet.typed("a") == ["echo high", "echo high too", "echo mid", "echo low"]
    done = run.task(high.id)
    assert done.state == TaskState.SUCCEEDED and done.attempts == 1 and done.result == "high"
    assert done.dispatched_by == run.pipeline.lease.name


def test_a_dependency_chain_across_two_agents_runs_in_order(
        env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["builder", "deployer"])
    run = running()
    build = run.queue.add("builder", "echo built")
    deploy = run.queue.add("deployer", "echo deployed", after=[build.id])
    verify = run.queue.add("builder", "echo verified", after=[deploy.id])
    assert run.task(deploy.id).state == TaskState.QUEUED
    run.until(lambda: run.ended(build, deploy, verify), message="the chain done")
    assert all(run.task(t.id).state == TaskState.SUCCEEDED for t in (build, deploy, verify))
    built, = (at for at, text in fleet.inputs("builder") if text == "echo built")
    deployed, = (at for at, text in fleet.inputs("deployer") if text == "echo deployed")
    verified, = (at for at, text in fleet.inputs("builder") if text == "echo verified")
    assert built < deployed < verified
    assert run.task(deploy.id).started_at >= run.task(build.id).finished_at  # type: ignore[operator]


def test_when_failure_runs_only_after_a_failure(env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"])
    run = running()
    broken = run.queue.add("a", "fail the build")
    rescue = run.queue.add("a", "echo rescue", after=[broken.id], when="failure")
    celebrate = run.queue.add("a", "echo celebrate", after=[broken.id], when="success")
    run.until(lambda: run.ended(broken, rescue, celebrate), message="all decided")
    failed = run.task(broken.id)
    assert failed.state == TaskState.FAILED and failed.reason.startswith("✗ error:")
    assert run.task(rescue.id).state == TaskState.SUCCEEDED
    skipped = run.task(celebrate.id)
    assert skipped.state == TaskState.SKIPPED and "runs only after success" in skipped.reason
    sent = fleet.typed("a")
    assert "echo rescue" in sent and "echo celebrate" not in sent


def test_if_output_decides_on_the_earlier_tasks_output(env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a", "b"])
    run = running()
    probe = run.queue.add("a", "echo version=2")
    match = run.queue.add("b", "echo upgrade", after=[probe.id], if_output=r"version=2\b")
    miss = run.queue.add("b", "echo downgrade", after=[probe.id], if_output=r"version=3")
    run.until(lambda: run.ended(probe, match, miss), message="decided")
    assert run.task(probe.id).result == "version=2"
    assert run.task(match.id).state == TaskState.SUCCEEDED
    assert run.task(miss.id).state == TaskState.SKIPPED and "does not match" in run.task(miss.id).reason
    assert fleet.typed("b") == ["echo upgrade"]


def test_a_cycle_is_refused_and_cancel_and_retry_work(env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"])
    first = env.cli("queue", "add", "a", "echo first")
    assert first.returncode == 0, first.stderr
    second = env.cli("queue", "add", "a", "echo second", "--after", "1")
    assert second.returncode == 0, second.stderr
    cycle = env.cli("queue", "after", "1", "2")
    assert cycle.returncode == 1 and "cycle (1 → 2 → 1)" in cycle.stderr
    assert env.cli("queue", "add", "a", "echo never").returncode == 0
    assert env.cli("queue", "cancel", "3").returncode == 0
    run = running()
    run.until(lambda: run.ended(run.task(1), run.task(2)), message="first and second done")
    assert run.task(3).state == TaskState.CANCELLED
    assert "echo never" not in fleet.typed("a")
    assert env.cli("queue", "retry", "3").returncode == 0
    run.until(lambda: run.task(3).state == TaskState.SUCCEEDED, message="the retried task done")
    assert fleet.typed("a") == ["echo first", "echo second", "echo never"]
    shown = json.loads(env.cli("queue", "show", "3", "--json").stdout)
    history = [event["message"].split(":")[0] for event in shown["history"]]
    assert history[:2] == ["cancelled", "retried by request (was cancelled)"]


def test_a_failed_task_with_retries_is_sent_again_after_a_backoff(
        env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"])
    run = running()
    flaky = run.queue.add("a", "fail once more", retries=1)
    run.until(lambda: run.ended(flaky), message="both attempts")
    task = run.task(flaky.id)
    assert task.state == TaskState.FAILED and task.attempts == 2
    (first, _), (second, _) = fleet.inputs("a")
    assert second - first >= 1.0, "the first retry waits a second"


def test_pause_holds_the_queue_and_resume_lets_it_run(env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"])
    run = running()
    run.until(lambda: run.pipeline.observer.memory.get("a") and "demo>" in run.pipeline.observer.memory["a"].screen,
              message="the agent at its prompt")
    run.queue.pause("a")
    held = run.queue.add("a", "echo held")
    for _ in range(10):
        run.tick()
    assert run.task(held.id).state == TaskState.READY and fleet.inputs("a") == []
    run.queue.resume("a")
    run.until(lambda: run.ended(held), message="sent after resume")


def test_a_task_added_while_the_agent_is_busy_waits_until_it_is_idle(
        env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    fleet = demo_fleet(["a"], speed=1.0)
    run = running()
    run.until(lambda: "demo>" in run.pipeline.observer.memory["a"].screen if "a" in run.pipeline.observer.memory
              else False, message="the prompt")
    run.fleet.send("a", "sleep 1.5")  # typed by the user, not through the queue
    run.until(lambda: fleet.inputs("a"), message="the agent took the user's task")
    waiting = run.queue.add("a", "echo next")
    run.until(lambda: run.ended(waiting), message="the queued task done")
    rows = fleet.traces["a"].read_text().splitlines()
    events = [(float(r.split(" ")[0]), r.split(" ", 2)[1]) for r in rows]
    user_at = fleet.inputs("a")[0][0]
    queued_at = fleet.inputs("a")[1][0]
    prompt_after_user = min(at for at, event in events if event == "prompt" and at > user_at)
    assert queued_at > prompt_after_user >= user_at + 1.4, "the queued task was typed only once the prompt was back"


def test_a_timeout_fails_the_task_and_interrupts_the_agent(
        env: Env, demo_fleet: DemoFleets, running: Supervisors) -> None:
    demo_fleet(["a"], speed=1.0)
    run = running()
    slow = run.queue.add("a", "sleep 30", timeout=1.0)
    # longer than the pane script lingers after its program ends: an interrupt that ended the agent shows
    after = run.queue.add("a", "sleep 0.6")
    run.until(lambda: run.ended(slow, after), timeout=20, message="timeout, then the next task")
    timed_out = run.task(slow.id)
    assert timed_out.state == TaskState.FAILED and "timed out after 1s; interrupted with C-c" in timed_out.reason
    assert run.task(after.id).state == TaskState.SUCCEEDED, run.task(after.id).reason
    pane = run.fleet.tmux.pane_info(run.pipeline.observer.panes["a"].pane_id)
    assert pane is not None and not pane.dead, "the interrupt cancelled the task, not the agent"


def test_a_shell_agents_task_succeeds_by_its_exit_status(env: Env, running: Supervisors) -> None:
    env.write_config(SHELL)
    run = running()
    ok = run.queue.add("sh", "printf 'one\\ntwo\\n'")
    bad = run.queue.add("sh", "ls /no/such/dir")
    status = run.queue.add("sh", "(exit 3)")
    run.until(lambda: run.ended(ok, bad, status), message="three commands")
    assert run.task(ok.id).state == TaskState.SUCCEEDED and run.task(ok.id).result == "one\ntwo"
    assert run.task(ok.id).reason == "exit status 0"
    failed = run.task(bad.id)
    assert failed.state == TaskState.FAILED and failed.reason == "exit status 2" and "No such file" in failed.result
    assert run.task(status.id).reason == "exit status 3"


def test_serve_started_by_up_dispatches_with_no_tui(env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a"])
    up = env.cli("up")
    assert up.returncode == 0, up.stderr
    assert "started the supervisor" in up.stdout
    assert env.cli("up", "a").stdout.count("supervisor") == 0, "a second up does not start a second one"
    added = env.cli("queue", "add", "a", "echo from the cli")
    assert added.returncode == 0, added.stderr

    def state() -> str:
        return str(json.loads(env.cli("queue", "show", "1", "--json").stdout)["state"])

    wait_until(lambda: state() == "succeeded", timeout=20, message="dispatched by serve")
    assert fleet.typed("a") == ["echo from the cli"]
    down = env.cli("down")
    assert down.returncode == 0 and "stopped the supervisor" in down.stdout


def test_serve_follows_the_config_file_and_keeps_going_when_an_edit_is_broken(env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a", "b"])
    assert env.cli("up").returncode == 0

    def serve_says(text: str) -> bool:
        return text in env.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "=_agentmux-serve:").stdout

    wait_until(lambda: serve_says("dispatching queued tasks"), timeout=20, message="serve dispatching")
    removed = env.cli("rm", "b")
    assert removed.returncode == 0, removed.stderr
    wait_until(lambda: serve_says("read again: 1 agents"), timeout=20, message="serve reading the edited file")
    # serve read the old file for a moment: it must not have brought the removed agent back
    assert [row["name"] for row in json.loads(env.cli("ls", "--json").stdout)] == ["a"]
    queue = Queue(Store(env.load().store_path))
    env.config_path.write_text(env.config_path.read_text() + "\n[[agents]]\nname = \n")
    wait_until(lambda: serve_says("still using the config read before"), timeout=20, message="the broken edit said")
    queue.add("a", "echo still dispatching")  # the CLI refuses the broken file; the store takes the task
    wait_until(lambda: fleet.typed("a") == ["echo still dispatching"], timeout=20,
               message="a task dispatched after the broken edit")


def test_stopping_an_agent_holds_its_queue_and_its_interrupted_task_fails(env: Env, demo_fleet: DemoFleets) -> None:
    """A stop's Ctrl-C brings the agent back to its prompt on the way out: nothing more may be typed then."""
    fleet = demo_fleet(["a"], speed=1.0)
    assert env.cli("up").returncode == 0
    queue = Queue(Store(env.load().store_path))
    out = queue.add("a", "sleep 30")
    held = [queue.add("a", "sleep 0.1"), queue.add("a", "echo third")]
    wait_until(lambda: queue.get(out.id).state == TaskState.RUNNING, timeout=20, message="the first task running")
    down = env.cli("down", "a")
    assert down.returncode == 0, down.stderr
    wait_until(lambda: queue.get(out.id).state.ended, timeout=20, message="the interrupted task ended")
    interrupted = queue.get(out.id)
    assert interrupted.state == TaskState.FAILED, interrupted.reason
    assert [queue.get(t.id).state for t in held] == [TaskState.READY, TaskState.READY]
    assert fleet.typed("a") == ["sleep 30"]
    assert env.cli("up", "a").returncode == 0
    wait_until(lambda: all(queue.get(t.id).state == TaskState.SUCCEEDED for t in held), timeout=20,
               message="the held tasks once the agent is back")
    assert queue.get(held[1].id).result == "third"


def test_a_restart_while_a_task_runs_fails_it_and_the_next_goes_to_the_new_agent(
        env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a"], speed=1.0)
    assert env.cli("up").returncode == 0
    queue = Queue(Store(env.load().store_path))
    out = queue.add("a", "sleep 30")
    after = queue.add("a", "echo after the restart")
    wait_until(lambda: queue.get(out.id).state == TaskState.RUNNING, timeout=20, message="the first task running")
    assert env.cli("restart", "a").returncode == 0
    wait_until(lambda: queue.get(after.id).state.ended, timeout=20, message="the next task")
    assert queue.get(out.id).state == TaskState.FAILED
    assert "demo agent a ready" not in queue.get(out.id).result, "not the new agent's screen"
    assert queue.get(after.id).state == TaskState.SUCCEEDED and queue.get(after.id).result == "after the restart"
    assert fleet.typed("a") == ["sleep 30", "echo after the restart"]


def test_a_result_is_whole_when_the_agent_prints_past_a_full_scrollback_between_two_looks(
        env: Env, running: Supervisors) -> None:
    """tmux drops the oldest tenth of a full history at once; a burst can do that and grow back past the size
    of the last look, so the task's line must be found again by what was typed on it."""
    env.write_config(SHELL, settings="history_limit = 1000")
    run = running()
    fill = run.queue.add("sh", "seq 1 1500")
    burst = run.queue.add("sh", "seq -f L%g 1 400")
    tail = run.queue.add("sh", "seq -f T%g 1 950")
    run.until(lambda: run.ended(fill, burst, tail), message="three commands")
    assert run.task(burst.id).result == "\n".join(f"L{n}" for n in range(1, 401))
    assert run.task(tail.id).result == "\n".join(f"T{n}" for n in range(1, 951))


def test_a_script_of_several_lines_is_one_shell_task_and_a_final_newline_is_no_second_enter(
        env: Env, running: Supervisors) -> None:
    env.write_config(SHELL + DEMO_AGENT.format(name="d", speed=0, trace=env.root / "d.trace"))
    run = running()
    script = run.queue.add("sh", "echo line1\nsleep 0.5\nif true; then\n  echo \"it's\" line3\nfi\n(exit 4)\n")
    after = run.queue.add("sh", "echo next\n")
    demo = run.queue.add("d", "echo hi\n")
    run.until(lambda: run.ended(script, after, demo), message="the script, then the next command")
    done = run.task(script.id)
    assert (done.state, done.reason, done.result) == (TaskState.FAILED, "exit status 4", "line1\nit's line3")
    assert (run.task(after.id).state, run.task(after.id).result) == (TaskState.SUCCEEDED, "next")
    assert started_after(run.task(after.id), done), "the next command waited for the whole script"
    assert (run.task(demo.id).state, run.task(demo.id).result) == (TaskState.SUCCEEDED, "hi")


def started_after(later: Task, earlier: Task) -> bool:
    return later.sent_at is not None and earlier.finished_at is not None and later.sent_at >= earlier.finished_at


def test_a_task_that_ends_the_shell_keeps_its_output_without_tmuxs_dead_pane_line(
        env: Env, running: Supervisors) -> None:
    env.write_config(SHELL)
    run = running()
    last = run.queue.add("sh", "echo bye; exit 3")
    run.until(lambda: run.ended(last), message="the shell's last command")
    ended = run.task(last.id)
    assert ended.state == TaskState.FAILED and "exited with status 3" in ended.reason
    assert ended.result == "bye", ended.result
