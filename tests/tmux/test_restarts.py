"""Restart policies and crash loops (README, Configuration: restart): the lease holder restarts an agent
that ended when its policy says so, with backoff and a limit, and says why tasks wait for an agent that is
down (ls, queue ls, doctor)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Env, Supervisors


def runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_crash_loop_is_restarted_with_backoff_then_given_up_and_said(env: Env, tmp_path: Path,
                                                                        running: Supervisors) -> None:
    log = tmp_path / "runs.log"
    env.environ["MY_TOKEN"] = "token-value-1"
    env.write_config(f'''
[[agents]]
name = "crashy"
command = "printf '%s\\\\n' \\"$T\\" >> {log}; exit 1"
secrets = {{ T = "env:MY_TOKEN" }}
restart = "on-failure"
restart_limit = 2
''')
    assert env.cli("up", "--no-serve").returncode == 0  # the secret is resolved here, not in the supervisor
    run = running(start=False)
    run.until(lambda: "gave up after 2 restarts" in env.status("crashy")["reason"], timeout=30,
            message="the policy gives up")
    assert runs(log) == ["token-value-1"] * 3, "started, then restarted twice, with its secret each time"
    row = env.status("crashy")
    assert row["state"] == "error" and row["restarts"] == 2
    assert row["reason"].startswith("exited with status 1; gave up after 2 restarts in a row (restart_limit 2)")
    listing = env.cli("ls").stdout
    assert "RESTARTS" in listing and "agentmux up crashy" in listing
    events = [kind for _, _, kind, _ in run.fleet.store.events("crashy")]
    assert events.count("restart") == 2
    # a start by hand begins again: the count starts over
    assert env.cli("up", "crashy", "--no-serve").returncode == 0
    assert env.status("crashy")["restarts"] == 0


def test_always_restarts_a_clean_exit_and_on_failure_does_not(env: Env, tmp_path: Path,
                                                             running: Supervisors) -> None:
    env.write_config(settings='restart = "always"', agents=f'''
[[agents]]
name = "again"
command = "echo run >> {tmp_path}/again.log; exit 0"
restart_limit = 1

[[agents]]
name = "once"
command = "echo run >> {tmp_path}/once.log; exit 0"
restart = "on-failure"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: len(runs(tmp_path / "again.log")) == 2, message="the clean exit restarted")
    run.until(lambda: "gave up" in env.status("again")["reason"], message="limit 1 reached")
    assert runs(tmp_path / "once.log") == ["run"]
    assert env.status("once")["state"] == "exited"


def test_a_stopped_agent_is_never_restarted(env: Env, tmp_path: Path, running: Supervisors) -> None:
    env.write_config('''
[[agents]]
name = "steady"
command = "exec sleep 600"
restart = "always"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    assert env.cli("down", "steady").returncode == 0
    run = running(start=False)
    for _ in range(30):
        run.tick()
    row = env.status("steady")
    assert row["state"] == "stopped" and row["restarts"] == 0


def test_tasks_waiting_for_an_agent_that_is_down_say_why(env: Env, tmp_path: Path) -> None:
    env.broken_agent_with_a_task("do it")
    assert "waits: broken is error: exited with status 1" in env.cli("queue", "ls").stdout
    assert "1 task wait for it" in env.cli("ls").stdout
    doctor = env.cli("doctor")
    assert doctor.returncode == 1
    assert "1 task wait for broken, which is error (exited with status 1)" in doctor.stdout
    assert "`agentmux up broken` starts it" in doctor.stdout


def test_a_restarted_agent_is_not_idle_on_the_quiet_of_the_run_before(env: Env,
                                                                       running: Supervisors) -> None:
    """The screen of the run before (the same `boom`) made a just-restarted agent look quiet for idle_after
    already: it was judged idle 0.1 s after its restart and a queued task was typed into it."""
    env.write_config(settings="idle_after = 1.0", agents='''
[[agents]]
name = "crashy"
command = "echo boom; sleep 0.3; exit 3"
restart = "on-failure"
restart_limit = 3
''')
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    tasks = [run.queue.add("crashy", f"echo {n}") for n in range(3)]
    run.until(lambda: "gave up" in env.status("crashy")["reason"], timeout=40, message="the policy gives up")
    states = [change.state.value for change in run.fleet.store.state_history("crashy")]
    assert "idle" not in states, states
    assert all(run.task(task.id).attempts == 0 for task in tasks), "nothing was typed into the crashing agent"
