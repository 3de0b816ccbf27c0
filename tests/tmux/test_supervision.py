"""agentmux finds its agents again, notices when they vanish, follows their states, and attaches."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from agentmux.state import AgentState
from tests.conftest import Env, Supervisors, wait_until

DEMO = '''
[[agents]]
name = "demo"
kind = "demo"
command = "--speed 0.3 --ask-rate 0 --fail-rate 0"
idle_after = 1.0
'''


def test_a_later_process_finds_running_agents_even_without_its_store(env: Env) -> None:
    env.write_config(DEMO)
    assert env.cli("up").returncode == 0  # this process exits; the agent lives on in tmux
    first = wait_until(lambda: (r := env.statuses()["demo"])["state"] == "idle" and r, message="idle")
    assert isinstance(first, dict) and first["process_alive"] is True
    # A brand-new process (a fresh CLI) sees the same agent, same pid.
    again = env.statuses()["demo"]
    assert again["pid"] == first["pid"] and again["state"] == "idle"
    # Even when the store is lost, the session is recognised (tagged with its agent name) and adopted.
    for path in env.state_dir.glob("*.db*"):
        path.unlink()
    adopted = env.statuses()["demo"]
    assert adopted["pid"] == first["pid"] and adopted["process_alive"] is True
    assert adopted["state"] in {"idle", "busy", "starting"}


def test_a_vanished_tmux_server_marks_running_agents_error_with_the_reason(env: Env) -> None:
    env.write_config(DEMO + '''
[[agents]]
name = "never-started"
command = "exec sleep 600"
autostart = false
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: env.statuses()["demo"]["state"] == "idle", message="idle")
    assert env.tmux("kill-server").returncode == 0  # as if the machine restarted
    after = env.statuses()
    assert after["demo"]["state"] == "error"
    assert "tmux server is not running" in str(after["demo"]["reason"])
    assert after["demo"]["process_alive"] is False
    assert after["never-started"]["state"] == "stopped"
    # The agent can simply be started again.
    assert env.cli("up", "demo").returncode == 0
    wait_until(lambda: env.statuses()["demo"]["state"] in {"idle", "busy"}, message="demo back")


def test_supervisor_follows_busy_idle_and_waiting_without_flicker(env: Env, running: Supervisors) -> None:
    env.write_config(DEMO)
    run = running()
    fleet = run.fleet
    seen: list[AgentState] = []

    def state() -> AgentState:
        look = run.tick()
        seen.extend(detected.state for _, detected in look.changes)
        return {s.name: s.state for s in look.statuses}["demo"]

    wait_until(lambda: state() == AgentState.IDLE, message="idle at the prompt")
    fleet.send("demo", "sleep 2")
    wait_until(lambda: state() == AgentState.BUSY, message="busy while working")
    wait_until(lambda: state() == AgentState.IDLE, message="idle again")
    fleet.send("demo", "ask about it")
    wait_until(lambda: state() == AgentState.WAITING, message="waiting at the question")
    fleet.send("demo", "y")
    wait_until(lambda: state() == AgentState.IDLE, message="idle after the answer")
    # Each phase shows once: the spinner's pauses never flipped busy to idle and back. (The short
    # stretch of output after the answer may or may not be long enough to count as busy.)
    expected = [AgentState.IDLE, AgentState.BUSY, AgentState.IDLE, AgentState.BUSY, AgentState.WAITING]
    assert seen[:5] == expected and seen[5:] in ([AgentState.IDLE], [AgentState.BUSY, AgentState.IDLE]), seen
    history = [c.state for c in fleet.store.state_history("demo")]
    assert AgentState.WAITING in history and AgentState.BUSY in history


def test_command_agent_is_busy_while_output_changes_then_idle(env: Env, tmp_path: Path,
                                                             running: Supervisors) -> None:
    go = tmp_path / "go"
    env.write_config(f'''
[[agents]]
name = "printer"
command = "while [ ! -e {go} ]; do sleep 0.1; done; for i in $(seq 10); do echo $i; sleep 0.2; done; exec sleep 600"
idle_after = 1.0
''')
    run = running()

    def state() -> AgentState:
        return {s.name: s.state for s in run.tick().statuses}["printer"]

    wait_until(lambda: state() in (AgentState.IDLE, AgentState.STARTING), message="quiet at first")
    go.touch()
    wait_until(lambda: state() == AgentState.BUSY, message="busy while printing")
    wait_until(lambda: state() == AgentState.IDLE, message="idle once quiet")


def test_attach_runs_a_real_tmux_client_and_detaching_returns(env: Env) -> None:
    env.write_config(DEMO)
    assert env.cli("up").returncode == 0
    pid, fd = pty.fork()
    if pid == 0:  # the child becomes `agentmux attach demo` in a terminal of its own
        os.environ.update(env.environ)
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "agentmux", "--config", str(env.config_path),
                                  "attach", "demo"])
    output = b""
    try:
        def clients() -> str:
            nonlocal output
            while select.select([fd], [], [], 0)[0]:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
            return env.tmux("list-clients", "-F", "#{client_session}").stdout.strip()

        # (the supervisor that `up` started has a control client of its own on the hidden session)
        wait_until(lambda: "demo" in clients().split(), message="a client attached to demo")
        assert env.tmux("detach-client", "-s", "=demo").returncode == 0
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            clients()
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        assert status is not None and os.waitstatus_to_exitcode(status) == 0
        while True:  # what the client printed last, up to the terminal's end of file
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        subprocess.run(["kill", str(pid)], capture_output=True)
        os.close(fd)
    assert b"detached" in output


def test_looking_at_a_configured_agent_never_started_writes_no_row_for_it(env: Env,
                                                                         running: Supervisors) -> None:
    """A process still reading an older config (serve, a TUI) must not bring back an agent `rm` removed."""
    env.write_config(DEMO)
    run = running(start=False)
    (status,) = run.tick().statuses
    assert (status.name, status.state, status.reason) == ("demo", AgentState.STOPPED, "not started")
    assert run.fleet.store.agent("demo") is None
    assert status.since == env.config_path.stat().st_mtime, "stopped since it was configured"
