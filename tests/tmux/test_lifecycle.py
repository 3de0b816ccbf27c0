"""Lifecycle against a real tmux server on a private socket: start, stop, restart, kill, remove."""

from __future__ import annotations

import json
from pathlib import Path

from agentmux.state import AgentState
from tests.conftest import Env, wait_until


def read_when(path: Path, expected: str, timeout: float = 10.0) -> str:
    wait_until(lambda: path.exists() and expected in path.read_text(), timeout, message=f"{expected!r} in {path}")
    return path.read_text()


def test_agents_run_with_their_own_env_and_cwd(env: Env, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    env.write_config(f'''
[[agents]]
name = "a"
command = "env | sort > env.txt; pwd > pwd.txt; exec sleep 600"
cwd = "{tmp_path / 'a'}"
env = {{ ONLY_A = "alpha", SHARED = "from-a" }}

[[agents]]
name = "b"
command = "env | sort > env.txt; pwd > pwd.txt; exec sleep 600"
cwd = "{tmp_path / 'b'}"
env = {{ ONLY_B = "beta", SHARED = "from-b" }}
''')
    result = env.cli("up")
    assert result.returncode == 0, result.stderr
    assert "started a" in result.stdout and "started b" in result.stdout
    env_a = read_when(tmp_path / "a" / "env.txt", "ONLY_A")
    env_b = read_when(tmp_path / "b" / "env.txt", "ONLY_B")
    assert "ONLY_A=alpha" in env_a and "SHARED=from-a" in env_a and "AGENTMUX_AGENT=a" in env_a
    assert "ONLY_B" not in env_a
    assert "ONLY_A" not in env_b and "SHARED=from-b" in env_b and "AGENTMUX_AGENT=b" in env_b
    assert read_when(tmp_path / "a" / "pwd.txt", "/").strip() == str(tmp_path / "a")
    assert read_when(tmp_path / "b" / "pwd.txt", "/").strip() == str(tmp_path / "b")
    # Nothing leaked into the server's global environment.
    global_env = env.tmux("show-environment", "-g").stdout
    assert "ONLY_A" not in global_env and "ONLY_B" not in global_env
    assert env.status("a")["process_alive"] is True


def test_stop_restart_and_kill_several_agents(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "one"
kind = "demo"
command = "--speed 0"

[[agents]]
name = "two"
kind = "demo"
command = "--speed 0"

[[agents]]
name = "stubborn"
command = "trap '' INT HUP TERM; while :; do sleep 1; done"
stop_timeout = 1.0
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: env.status("one")["state"] == "idle", message="one idle")
    pid_before = env.status("two")["pid"]

    result = env.cli("down", "one")
    assert result.returncode == 0 and "stopped one" in result.stdout
    assert env.status("one")["state"] == "stopped"
    assert env.status("two")["process_alive"] is True

    result = env.cli("restart", "two")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: env.status("two")["pid"] not in (None, pid_before) or env.status("two"),
               message="a new process for two")

    # An agent that ignores its quit keys and polite signals is killed after stop_timeout.
    result = env.cli("down", "stubborn")
    assert result.returncode == 0 and "killed stubborn" in result.stdout
    row = env.status("stubborn")
    assert row["state"] == "stopped" and row["process_alive"] is False

    result = env.cli("down", "--force")
    assert result.returncode == 0
    assert {env.status(n)["state"] for n in ("one", "two", "stubborn")} == {"stopped"}


def test_init_and_cleanup_commands_run_in_order(env: Env, tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    env.write_config(f'''
[[agents]]
name = "hooks"
command = "echo command >> {log}; exec sleep 600"
init = ["echo init-1 >> {log}", "echo init-2 >> {log}"]
cleanup = ["echo cleanup-1 >> {log}", "echo cleanup-2 >> {log}"]
''')
    assert env.cli("up").returncode == 0
    read_when(log, "command")
    assert env.cli("down", "hooks").returncode == 0
    assert log.read_text().split() == ["init-1", "init-2", "command", "cleanup-1", "cleanup-2"]


def test_failing_init_command_stops_the_start_with_its_status(env: Env, tmp_path: Path) -> None:
    env.write_config(f'''
[[agents]]
name = "broken"
command = "touch {tmp_path}/should-not-run"
init = ["sh -c 'exit 7'"]
''')
    assert env.cli("up").returncode == 0
    row = wait_until(lambda: (r := env.status("broken"))["state"] == "error" and r, message="error state")
    assert isinstance(row, dict) and row["exit_status"] == 7 and "status 7" in str(row["reason"]), row
    assert not (tmp_path / "should-not-run").exists()
    screen = env.tmux("capture-pane", "-p", "-S", "-5", "-t", "=broken:").stdout
    assert "init command failed with status 7" in screen


def test_crashed_agent_reaches_error_with_exit_status_and_clean_exit_is_exited(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "crash"
command = "python3 -c 'import sys; print(\\"about to fail\\"); sys.exit(3)'"

[[agents]]
name = "done"
command = "echo finished"
''')
    assert env.cli("up").returncode == 0
    crash = wait_until(lambda: (r := env.status("crash"))["state"] == "error" and r, message="crash error")
    assert isinstance(crash, dict)
    assert crash["exit_status"] == 3 and crash["reason"] == "exited with status 3"
    done = wait_until(lambda: (r := env.status("done"))["state"] == "exited" and r, message="done exited")
    assert isinstance(done, dict) and done["exit_status"] == 0
    # The pane stays (remain-on-exit), so its last screen can be read (tmux's "Pane is dead" line
    # scrolls it up by one).
    assert "about to fail" in env.tmux("capture-pane", "-p", "-S", "-5", "-t", "=crash:").stdout


def test_remove_runs_cleanup_closes_the_session_and_edits_the_config(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    env.write_config(f'''
[[agents]]
name = "keep"
command = "exec sleep 600"

# a comment that must survive
[[agents]]
name = "gone"
command = "exec sleep 600"
cleanup = ["touch {marker}"]
''')
    assert env.cli("up").returncode == 0
    result = env.cli("rm", "gone")
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert env.tmux("has-session", "-t", "=gone").returncode != 0
    text = env.config_path.read_text()
    assert 'name = "gone"' not in text and "# a comment that must survive" in text and 'name = "keep"' in text
    names = [row["name"] for row in json.loads(env.cli("ls", "--json").stdout)]
    assert names == ["keep"]


def test_state_changes_are_recorded_with_their_time(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "d"
kind = "demo"
command = "--speed 0"
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: env.status("d")["state"] == "idle", message="idle")
    fleet = env.fleet()
    history = fleet.store.state_history("d")
    fleet.close()
    states = [change.state for change in history]
    assert states[0] == AgentState.STOPPED or states[0] == AgentState.STARTING
    assert AgentState.IDLE in states
    times = [change.at for change in history]
    assert times == sorted(times)


def test_a_shell_agent_quits_gracefully_at_its_prompt_and_while_a_command_runs(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "sh"
kind = "shell"
''')
    for busy in (False, True):
        assert env.cli("up", "--no-serve").returncode == 0
        wait_until(lambda: env.status("sh")["state"] == "idle", message="at its prompt")
        if busy:
            assert env.cli("send", "sh", "sleep 600").returncode == 0
            wait_until(lambda: env.status("sh")["state"] == "busy", message="running sleep")
        down = env.cli("down", "sh")
        # Ctrl-C would flush keys sent with it, so the shell gets its quit keys (C-u C-d) and Ctrl-C in turns.
        assert down.returncode == 0 and down.stdout.strip() == "stopped sh", down.stdout
