"""Advice agentmux gives works when followed (issue: doctor said `agentmux up` and up started nothing;
restart stopped an agent it could not start again; a failed init command showed only an exit status)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Env, wait_until


def test_up_starts_the_supervisor_for_waiting_tasks_even_with_no_autostart_agent(env: Env) -> None:
    env.write_config('[[agents]]\nname = "manual"\nkind = "demo"\nautostart = false\n')
    assert env.cli("queue", "add", "manual", "echo hi").returncode == 0
    doctor = env.cli("doctor")
    assert "tasks are queued but nobody dispatches them" in doctor.stdout and "agentmux up" in doctor.stdout
    result = env.cli("up")
    assert result.returncode == 0, result.stderr
    assert "no agents with autostart" in result.stdout and "started the supervisor" in result.stdout
    wait_until(lambda: "dispatched by serve" in env.cli("doctor").stdout, message="serve holds the lease")


def test_restart_checks_first_and_leaves_a_running_agent_running(env: Env) -> None:
    env.environ["MY_TOKEN"] = "value-1234"
    env.write_config('''
[[agents]]
name = "keeper"
command = "exec sleep 600"
secrets = { T = "env:MY_TOKEN" }
''')
    assert env.cli("up", "--no-serve").returncode == 0
    pid = wait_until(lambda: env.status("keeper")["pid"], message="keeper runs")
    del env.environ["MY_TOKEN"]
    result = env.cli("restart", "keeper")
    assert result.returncode == 1 and "MY_TOKEN is not set" in result.stderr
    row = env.status("keeper")
    assert row["pid"] == pid and row["process_alive"] is True and row["state"] != "stopped"


def test_ls_names_the_init_command_that_failed(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "setup"
command = "exec sleep 600"
init = ["true", "sh -c 'exit 3'", "echo never"]
''')
    assert env.cli("up", "--no-serve").returncode == 0
    row = wait_until(lambda: (r := env.status("setup"))["state"] == "error" and r, message="setup fails")
    assert isinstance(row, dict)
    assert row["reason"] == "init command failed with status 3: sh -c 'exit 3'"
    assert "init command failed with status 3" in env.cli("ls").stdout


def test_an_agent_whose_directory_was_removed_blocks_no_command(env: Env, tmp_path: Path) -> None:
    """Once an agent's cwd was deleted every command failed (down included) with the config's error."""
    gone = tmp_path / "gone"
    gone.mkdir()
    env.write_config(f'''
[[agents]]
name = "g1"
command = "exec sleep 600"
cwd = "{gone}"

[[agents]]
name = "g2"
command = "exec sleep 600"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    gone.rmdir()
    assert env.cli("ls").returncode == 0
    restarted = env.cli("restart", "g1")
    assert restarted.returncode == 1 and f"working directory {gone} does not exist" in restarted.stderr
    doctor = env.cli("doctor")
    assert doctor.returncode == 1 and f"directory {gone} does not exist" in doctor.stdout
    assert env.cli("down").returncode == 0
    assert env.cli("rm", "g1").returncode == 0
