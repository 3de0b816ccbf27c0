"""Text in and screens out: byte-exact sending, secrets kept off command lines, batched captures."""

from __future__ import annotations

import os
from pathlib import Path

from agentmux.tmux.backend import CaptureRequest, TmuxServer
from tests.conftest import Env, wait_until

TRICKY = (
    "first line with 'single' and \"double\" quotes\n"
    "second: $HOME ${PATH} `whoami` $(id) ; & | > < \\ \\n \\\\ #{pane_id} %if ~\n"
    "\ttabbed line; tmux words: Enter C-c Escape send-keys\n"
    "unicode: é ü ß 中文 日本語 🚀 ✓ — end"
)


def test_multiline_and_unicode_text_arrives_byte_exact(env: Env, tmp_path: Path) -> None:
    received = tmp_path / "received.txt"
    env.write_config(f'''
[[agents]]
name = "sink"
command = "echo ready; exec cat > {received}"
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: "ready" in env.tmux("capture-pane", "-p", "-t", "=sink:").stdout, message="cat running")
    result = env.cli("send", "sink", "-", input=TRICKY)
    assert result.returncode == 0, result.stderr
    expected = TRICKY + "\n"
    wait_until(lambda: received.read_bytes() == expected.encode(), message="the exact text in the file")


def test_send_all_reaches_every_running_agent(env: Env, tmp_path: Path) -> None:
    agents = "".join(f'''
[[agents]]
name = "s{i}"
command = "echo ready; exec cat > {tmp_path}/s{i}.txt"
''' for i in range(3))
    env.write_config(agents)
    assert env.cli("up").returncode == 0
    for i in range(3):
        wait_until(lambda i=i: "ready" in env.tmux("capture-pane", "-p", "-t", f"=s{i}:").stdout,
                   message=f"s{i} running")
    result = env.cli("send", "--all", "hello", "fleet")
    assert result.returncode == 0, result.stderr
    for i in range(3):
        wait_until(lambda i=i: (tmp_path / f"s{i}.txt").read_text() == "hello fleet\n", message=f"s{i} got it")


def test_sending_to_a_stopped_agent_fails_clearly(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "idle"
command = "exec sleep 600"
''')
    result = env.cli("send", "idle", "hello")
    assert result.returncode == 1
    assert "idle is not running" in result.stderr and "Traceback" not in result.stderr


def test_secrets_reach_only_their_agent_and_never_a_command_line(env: Env, tmp_path: Path) -> None:
    """A tmux shim logs every argv agentmux runs; the secret must be in none of them, nor in the store."""
    secret = "sk-ant-test-" + os.urandom(8).hex()
    secret_file = tmp_path / "token"
    secret_file.write_text(secret + "\n")
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    argv_log = tmp_path / "argv.log"
    real_tmux = next(p for p in ("/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux") if Path(p).exists())
    shim = shim_dir / "tmux"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\nexec {real_tmux} "$@"\n')
    shim.chmod(0o755)
    env.environ["PATH"] = f"{shim_dir}:{env.environ['PATH']}"
    env.environ["MY_API_KEY"] = secret
    env.write_config(f'''
[[agents]]
name = "holder"
command = "printf '%s|%s' \\"$API_KEY\\" \\"$FILE_KEY\\" > {tmp_path}/seen; exec sleep 600"
secrets = {{ API_KEY = "env:MY_API_KEY", FILE_KEY = "file:{secret_file}" }}

[[agents]]
name = "other"
command = "printf '%s' \\"$API_KEY\\" > {tmp_path}/other-seen; exec sleep 600"
''')
    result = env.cli("up")
    assert result.returncode == 0, result.stderr
    seen = tmp_path / "seen"
    wait_until(lambda: seen.exists() and seen.read_text() == f"{secret}|{secret}", message="the agent sees its secrets")
    wait_until(lambda: (tmp_path / "other-seen").exists(), message="other agent ran")
    assert (tmp_path / "other-seen").read_text() == ""
    assert env.cli("ls", "--json").returncode == 0
    assert env.cli("restart", "holder").returncode == 0
    logged = argv_log.read_text()
    assert "new-session" in logged or "source-file" in logged
    assert secret not in logged
    for path in env.state_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_batched_capture_reads_many_panes_in_one_call_and_skips_vanished_ones(env: Env) -> None:
    server = TmuxServer(env.socket, Path("/dev/null"), run_dir=env.state_dir / "run")
    for i in range(6):
        server.run("new-session", "-d", "-s", f"p{i}", "-x", "40", "-y", "5", "--",
                   "/bin/sh", "-c", f"printf 'pane {i}\\n'; exec sleep 600", starts_server=True)
    panes = {p.session: p.pane_id for p in server.list_panes() if p.session.startswith("p")}
    wait_until(lambda: "pane 5" in server.capture([CaptureRequest(panes["p5"])]).get(panes["p5"], ""),
               message="output")
    requests = [CaptureRequest(panes[f"p{i}"]) for i in range(6)]
    requests.insert(3, CaptureRequest("%9999"))
    screens = server.capture(requests)
    assert server.control() is not None, "captures go over the control connection"
    assert sorted(screens) == sorted(panes.values())
    for i in range(6):
        assert screens[panes[f"p{i}"]].splitlines()[0] == f"pane {i}"
    server.close()


def test_indented_multiline_commands_and_values_arrive_intact(env: Env, tmp_path: Path) -> None:
    """tmux drops leading white space of continuation lines in quoted strings; agentmux must not."""
    out = tmp_path / "out.txt"
    value = "first\n    indented by four\n\ttabbed\n"
    env.write_config(f'''
[[agents]]
name = "indent"
command = """
if true; then
    printf '%s' "$BLOCK" > {out}
fi
exec sleep 600"""
env = {{ BLOCK = "first\\n    indented by four\\n\\ttabbed\\n" }}
''')
    assert env.cli("up").returncode == 0
    wait_until(lambda: out.exists() and out.read_text() == value, message="the value with its indentation")
