"""Text that typing cannot deliver as given is refused with one line, and never reported as sent; a shell
agent takes any task text exactly, through a file it reads (README, The command queue)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentmux.queue import TaskState
from tests.conftest import Env, Supervisors, wait_until


def cli_bytes(env: Env, *args: str | bytes, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "agentmux", "--config", str(env.config_path), *args],
                          capture_output=True, env=env.environ, cwd=env.root, timeout=60, input=input)


@pytest.fixture
def sink(env: Env, tmp_path: Path) -> Path:
    """A running agent that writes what it reads to a file, through the terminal's line editing."""
    received = tmp_path / "received.txt"
    env.write_config(f'''
[[agents]]
name = "sink"
command = "echo ready; exec cat > {received}"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    wait_until(lambda: "ready" in env.tmux("capture-pane", "-p", "-t", "=sink:").stdout, message="cat running")
    return received


def alive(env: Env) -> bool:
    return env.tmux("display-message", "-p", "-t", "=sink:", "#{pane_dead}").stdout.strip() == "0"


@pytest.mark.parametrize(("text", "fragment"), [
    ("stop\x03here", "U+0003, Ctrl-C"),
    ("paste \x1b[201~ end", "U+001B, ESC"),
    ("bell\x07", "U+0007, Ctrl-G"),
    ("del\x7f", "U+007F, DEL"),
    ("c1\x9b", "U+009B"),
])
def test_a_control_character_is_refused_and_nothing_is_typed(env: Env, sink: Path, text: str, fragment: str) -> None:
    result = env.cli("send", "sink", text)
    assert result.returncode == 2, result
    assert "sent" not in result.stdout and fragment in result.stderr and len(result.stderr.splitlines()) == 1
    assert alive(env)
    assert env.cli("send", "sink", "after").returncode == 0
    wait_until(lambda: sink.read_text() == "after\n", message="only the next text arrived")


def test_nul_and_invalid_utf8_are_refused(env: Env, sink: Path) -> None:
    result = cli_bytes(env, "send", "sink", "-", input=b"cut\x00here")
    assert result.returncode == 2 and b"U+0000, NUL" in result.stderr
    result = cli_bytes(env, "send", "sink", "-", input=b"bad \xff byte")
    assert result.returncode == 2 and b"standard input is not UTF-8 text (byte 0xff at offset 4)" in result.stderr
    result = cli_bytes(env, "send", "sink", b"bad \xfe arg")
    assert result.returncode == 2 and b"not valid UTF-8" in result.stderr and b"Traceback" not in result.stderr
    assert alive(env) and sink.read_bytes() == b""


def test_a_line_longer_than_the_terminal_keeps_is_refused_and_one_that_fits_arrives(env: Env, sink: Path) -> None:
    result = env.cli("send", "sink", "x" * 4096)
    assert result.returncode == 1 and "4,096 bytes" in result.stderr and "4,095" in result.stderr
    assert "sent" not in result.stdout
    assert env.cli("send", "sink", "y" * 4095).returncode == 0
    wait_until(lambda: sink.read_text() == "y" * 4095 + "\n", message="the line that fits, whole")


def test_a_demo_agent_refuses_task_text_it_cannot_read(env: Env) -> None:
    env.write_config('[[agents]]\nname = "d"\nkind = "demo"\n')
    result = env.cli("queue", "add", "d", "abc\x03")
    assert result.returncode == 2 and "Ctrl-C" in result.stderr
    result = env.cli("queue", "add", "d", "z" * 5000)
    assert result.returncode == 1 and "4,095" in result.stderr
    assert env.cli("queue", "ls", "--json").stdout.strip() == "[]"


def test_a_shell_agent_gets_any_task_text_exactly(env: Env, running: Supervisors, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env.write_config('[[agents]]\nname = "sh"\nkind = "shell"\n')
    run = running()
    payloads = {
        "long": "L" * 10_000,
        "controls": "a\x01b\x1b[201~c\x7fd\té",
        "paste-end": "\x1b[201~; echo pwned",
    }
    tasks = {}
    for name, payload in payloads.items():
        target = out.with_suffix(f".{name}")
        tasks[name] = (target, run.queue.add("sh", f"cat > {target} <<'EOF'\n{payload}\nEOF"))
    one_line = run.queue.add("sh", "printf '%s' " + "Q" * 6000 + f" > {out}.oneline")
    run.until(lambda: run.ended(one_line, *(task for _, task in tasks.values())), timeout=30,
              message="every task ended")
    for name, (target, task) in tasks.items():
        assert run.task(task.id).state == TaskState.SUCCEEDED, run.task(task.id)
        assert target.read_bytes() == (payloads[name] + "\n").encode(), name
    assert run.task(one_line.id).state == TaskState.SUCCEEDED
    assert Path(f"{out}.oneline").read_text() == "Q" * 6000
    assert not list((env.state_dir / "run" / "tasks").iterdir()), "a task's script is removed when it ends"


def test_a_shell_task_runs_as_written_never_edited_by_the_shell(env: Env, running: Supervisors) -> None:
    """Typed, bash expanded `!!` to the previous command, and an unclosed quote left the shell waiting at its
    continuation prompt for ever (the task running, the agent busy)."""
    env.write_config('[[agents]]\nname = "sh"\nkind = "shell"\ncommand = "bash --norc --noprofile"\n')
    run = running()
    first = run.queue.add("sh", "echo first")
    bang = run.queue.add("sh", 'echo "x!!y"', after=[first.id])
    unclosed = run.queue.add("sh", 'echo "unterminated', after=[bang.id], when="always")
    after = run.queue.add("sh", "echo after", after=[unclosed.id], when="always")
    run.until(lambda: run.ended(first, bang, unclosed, after), timeout=30, message="every task ended")
    screen = env.tmux("capture-pane", "-p", "-S", "-", "-t", "=sh:").stdout
    assert run.task(bang.id).result == "x!!y", (run.task(bang.id), screen)
    assert run.task(unclosed.id).state == TaskState.FAILED and "exit status" in run.task(unclosed.id).reason
    assert (run.task(after.id).state, run.task(after.id).result) == (TaskState.SUCCEEDED, "after")
