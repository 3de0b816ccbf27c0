"""What reaches an agent's environment: its own variables and a minimal, stated set (README, Configuration).

The tmux server inherits the environment of the client that starts it and every session inherits the
server's, so agentmux starts tmux from a minimal environment; these tests read the real environments of
the server, the agents and `agentmux serve` from /proc.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import Env, Supervisors, wait_until


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def descendants(pid: int) -> list[int]:
    """The process and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, work = [], [pid]
    while work:
        current = work.pop()
        found.append(current)
        work += children.get(current, [])
    return found


def pane_pid(env: Env, session: str) -> int:
    result = env.tmux("display-message", "-p", "-t", f"={session}:", "#{pane_pid}")
    return int(result.stdout.strip())


def test_a_variable_behind_an_env_secret_reaches_only_its_agent(env: Env, tmp_path: Path) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    env.environ["MYSECRET_VAR"] = secret
    env.environ["UNRELATED_VAR"] = "not-passed"
    env.write_config(f'''
[[agents]]
name = "holder"
command = "printf '%s' \\"$API_KEY\\" > {tmp_path}/seen; exec sleep 600"
secrets = {{ API_KEY = "env:MYSECRET_VAR" }}

[[agents]]
name = "other"
command = "exec sleep 600"
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: (tmp_path / "seen").exists() and (tmp_path / "seen").read_text() == secret,
               message="the holder sees its secret as its own variable")
    wait_until(lambda: env.tmux("has-session", "-t", "=_agentmux-serve").returncode == 0, message="serve runs")

    global_env = env.tmux("show-environment", "-g").stdout
    assert secret not in global_env and "MYSECRET_VAR" not in global_env and "UNRELATED_VAR" not in global_env
    assert secret not in env.tmux("show-environment", "-t", "=other").stdout
    assert secret not in env.tmux("show-environment", "-t", "=_agentmux-serve").stdout
    server_pid = int(env.tmux("display-message", "-p", "#{pid}").stdout.strip())
    processes = {"server": [server_pid]}
    for session in ("other", "_agentmux-serve", "holder"):
        processes[session] = descendants(pane_pid(env, session))
    for who, pids in processes.items():
        for pid in pids:
            seen = environ_of(pid)
            assert "MYSECRET_VAR" not in seen and "UNRELATED_VAR" not in seen, (who, pid)
            if who != "holder":
                assert secret not in seen.values(), (who, pid)
    assert environ_of(pane_pid(env, "holder")).get("API_KEY") == secret
    # what passes through is stated: PATH and HOME do
    assert "PATH" in environ_of(pane_pid(env, "other"))


def test_no_file_holds_a_secret_at_any_moment_and_old_leftovers_are_removed(env: Env, tmp_path: Path) -> None:
    """Secrets go to tmux through a pipe: a tmux shim lists the run directory at every call, so a file that
    existed only while tmux read it would be seen."""
    secret = "tok-" + os.urandom(8).hex()
    env.environ["MY_TOKEN"] = secret
    run_dir = env.state_dir / "run"
    run_dir.mkdir(parents=True)
    leftover = run_dir / ".tmux-abc123.conf"
    leftover.write_text(f'new-session -e "K={secret}"\n')  # what an older agentmux killed mid-start left
    real_tmux = next(p for p in ("/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux") if Path(p).exists())
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    listing = tmp_path / "listing.log"
    (shim_dir / "tmux").write_text(
        f'#!/bin/sh\nfind {env.state_dir} -type f ! -name "*.db*" ! -path "{env.state_dir}/bin/agentmux" '
        f'>> {listing} 2>/dev/null\nexec {real_tmux} "$@"\n')
    (shim_dir / "tmux").chmod(0o755)
    env.environ["PATH"] = f"{shim_dir}:{env.environ['PATH']}"
    env.write_config('''
[[agents]]
name = "holder"
command = "exec sleep 600"
secrets = { K = "env:MY_TOKEN" }
''')
    assert env.cli("ls").returncode == 0
    assert not leftover.exists(), "a later agentmux command removes an old command file"
    listing.write_text("")
    assert env.cli("up", "--no-serve").returncode == 0
    assert env.cli("restart", "holder").returncode == 0
    assert listing.read_text().strip() == "", listing.read_text()
    assert secret in env.tmux("show-environment", "-t", "=holder", "K").stdout


def test_an_agents_secrets_are_masked_in_everything_stored(env: Env, running: Supervisors) -> None:
    """`echo tok=$TOKEN` became the task's result, with the secret in it; now the store never holds it."""
    secret = "tok-" + os.urandom(8).hex()
    env.environ["MY_TOKEN"] = secret
    os.environ["MY_TOKEN"] = secret  # the test's own process starts the agent (as `agentmux up` would)
    try:
        env.write_config('''
[[agents]]
name = "sh"
kind = "shell"
secrets = { TOKEN = "env:MY_TOKEN" }
cleanup = ["echo cleaning $TOKEN"]
''')
        fleet_run = running()
    finally:
        del os.environ["MY_TOKEN"]  # gone: a stop's cleanup then takes the value its session holds
    queue = fleet_run.queue
    shown = queue.add("sh", "echo tok=$TOKEN")
    failed = queue.add("sh", 'echo "bad $TOKEN" >&2; exit 3', after=[shown.id], when="always")
    fleet_run.until(lambda: fleet_run.ended(shown, failed), message="both tasks end")
    assert fleet_run.task(shown.id).result == "tok=[secret TOKEN]"
    assert "[secret TOKEN]" in fleet_run.task(failed.id).result
    status = next(s for s in fleet_run.fleet.status() if s.name == "sh")
    assert secret not in status.screen, "the screen a TUI shows is masked too"
    assert fleet_run.fleet.stop("sh").ok
    events = [message for _, _, kind, message in fleet_run.fleet.store.events("sh") if kind == "cleanup"]
    assert events and "cleaning [secret TOKEN]" in events[0]
    fleet_run.close()
    for path in env.state_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_pass_env_names_what_else_reaches_the_agents(env: Env, tmp_path: Path) -> None:
    env.environ["SSH_AUTH_SOCK"] = "/tmp/agent.sock"
    env.environ["NOT_LISTED"] = "kept-out"
    env.write_config(settings='pass_env = ["SSH_AUTH_SOCK"]', agents='''
[[agents]]
name = "one"
command = "exec sleep 600"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    seen = environ_of(pane_pid(env, "one"))
    assert seen.get("SSH_AUTH_SOCK") == "/tmp/agent.sock" and "NOT_LISTED" not in seen


def test_attaching_passes_nothing_of_the_attaching_terminal_to_the_agent(env: Env) -> None:
    """tmux's update-environment copied SSH_AUTH_SOCK and DISPLAY of every attaching client into the session,
    and a restart by the agent's policy (respawn-pane) handed them to the new program."""
    env.write_config('[[agents]]\nname = "one"\ncommand = "exec sleep 600"\n')
    assert env.cli("up", "--no-serve").returncode == 0
    attaching = {**env.environ, "SSH_AUTH_SOCK": "/tmp/leaked-ssh-sock", "DISPLAY": ":99"}
    client = subprocess.Popen(["tmux", "-L", env.socket, "-C", "attach-session", "-t", "=one"], env=attaching,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: env.tmux("list-clients", "-t", "=one").stdout.strip(), message="the client attached")
    finally:
        assert client.stdin is not None
        client.stdin.close()
        client.wait(timeout=30)
    session = env.tmux("show-environment", "-t", "=one").stdout
    assert "leaked-ssh-sock" not in session and "DISPLAY=:99" not in session
