"""An agent's processes end with it: when its tmux server dies, when a stop meets a program that ignores
SIGHUP, when a cleanup command overruns; and starting an agent never runs a second copy (README,
Reliability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmux.agents import lifecycle
from agentmux.processes import _alive, agent_processes
from tests.conftest import Env, Supervisors, wait_until


def copies(env: Env, name: str) -> list[int]:
    return agent_processes(name, env.socket)


def test_killing_the_tmux_server_ends_agents_and_up_never_runs_a_second_copy(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "plain"
command = "exec sleep 1001"

[[agents]]
name = "deaf"
command = "trap '' HUP; exec sleep 1002"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    wait_until(lambda: len(copies(env, "plain")) == 2 and len(copies(env, "deaf")) == 2,
               message="both agents run (script and program)")
    env.tmux("kill-server")
    # the pane script no longer shields its program from the hang-up
    wait_until(lambda: not copies(env, "plain"), message="the plain agent ends with its server")
    survivors = copies(env, "deaf")
    assert survivors, "a program that ignores SIGHUP outlives its server"

    result = env.cli("up", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert "first ended an earlier copy" in result.stdout and str(survivors[0]) in result.stdout
    assert not _alive(survivors)
    wait_until(lambda: len(copies(env, "deaf")) == 2, message="exactly one new copy (script and program)")
    assert env.cli("down").returncode == 0
    assert not copies(env, "deaf") and not copies(env, "plain")


def test_a_stop_ends_a_program_that_ignores_sighup_even_after_its_pane_died(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "stubborn"
command = "trap '' INT HUP; sh -c 'trap \\"\\" HUP INT TERM; exec sleep 1003' & exec sleep 1004"
stop_timeout = 1.0
''')
    assert env.cli("up", "--no-serve").returncode == 0
    wait_until(lambda: len(copies(env, "stubborn")) == 3, message="script, program and its child run")
    result = env.cli("down", "stubborn")
    assert result.returncode == 0, result.stderr
    assert not copies(env, "stubborn"), "nothing of the agent is left"


def test_a_cleanup_command_past_its_time_limit_is_killed_with_its_children(env: Env, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "CLEANUP_TIMEOUT", 1.0)
    child = tmp_path / "child.pid"
    env.write_config(f'''
[[agents]]
name = "slow"
command = "exec sleep 600"
cleanup = ["sleep 1005 & echo $! > {child}; sleep 1006"]
''')
    fleet = env.fleet()
    try:
        fleet.start("slow")
        outcome = fleet.stop("slow")
    finally:
        fleet.close()
    assert not outcome.ok and "timed out after 1s" in outcome.message
    pid = int(child.read_text())
    wait_until(lambda: not _alive([pid]), timeout=5, message="the cleanup's child is gone")


ESCAPERS = '''
[[agents]]
name = "deaf"
command = "trap '' HUP; exec sleep 1102"

[[agents]]
name = "escaper"
command = "setsid sh -c 'trap \\"\\" HUP; exec sleep 1107' & exec sleep 1108"
'''


def test_what_outlives_a_killed_server_is_named_by_doctor_and_ended_by_a_plain_down(env: Env) -> None:
    env.write_config(ESCAPERS)
    assert env.cli("up", "--no-serve").returncode == 0
    wait_until(lambda: copies(env, "deaf") and copies(env, "escaper"), message="both run")
    env.tmux("kill-server")
    wait_until(lambda: copies(env, "deaf") and copies(env, "escaper") and len(copies(env, "deaf")) == 1,
               message="the program that ignores SIGHUP and the child that left its group survive")
    doctor = env.cli("doctor")
    assert doctor.returncode == 1
    assert "processes of deaf outlived its tmux session" in doctor.stdout
    assert "processes of escaper outlived its tmux session" in doctor.stdout
    down = env.cli("down")
    assert down.returncode == 0, down.stderr
    assert "deaf: ended processes that outlived its tmux session" in down.stdout
    assert not copies(env, "deaf") and not copies(env, "escaper")


def test_the_dispatching_supervisor_ends_what_outlived_a_killed_server(env: Env,
                                                                       running: Supervisors) -> None:
    env.write_config(ESCAPERS)
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: all(s.state.is_live for s in run.tick().statuses), message="both running")
    env.tmux("kill-server")
    run.until(lambda: not copies(env, "deaf") and not copies(env, "escaper"), message="the leftovers ended")
