"""Tests for the simulated demo agent, run as a subprocess over plain pipes (no tmux needed)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Env

APP_DIR = Path(__file__).parents[2] / "app"
TIMEOUT = 15.0

PROMPT = "demo> "
DONE = "✓ done:"
ERROR = "✗ error:"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses select() on pipes and SIGINT")


def _env() -> dict[str, str]:
    """Return an environment in which the subprocess imports agentmux from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APP_DIR), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _cmd(*extra: str) -> list[str]:
    """Return the command line for a fast, seeded demo agent."""
    return [sys.executable, "-m", "agentmux.demo", "--speed", "0", "--seed", "1", *extra]


def _run(stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the agent to completion with stdin as its whole input.

    Output is decoded by hand because text mode would turn the spinner's carriage returns into newlines.
    """
    raw = subprocess.run(_cmd(*extra), input=stdin.encode(), capture_output=True, env=_env(), timeout=TIMEOUT)
    return subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())


@contextmanager
def _spawn(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start the agent with open pipes; kill it on the way out if it is still running."""
    proc = subprocess.Popen(
        _cmd(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def _read_until(proc: subprocess.Popen[bytes], buf: bytearray, needle: str, start: int = 0) -> int:
    """Read stdout into buf until needle appears at or after start; return where it ends."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    target = needle.encode()
    deadline = time.monotonic() + TIMEOUT
    while (pos := buf.find(target, start)) < 0:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {needle!r}; got {bytes(buf)!r}"
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"EOF while waiting for {needle!r}; got {bytes(buf)!r}"
            buf += chunk
    return pos + len(target)


def test_banner_and_prompt() -> None:
    result = _run("exit\n", "--name", "alice")
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert "demo agent alice ready" in first_line
    assert "\n" + PROMPT in result.stdout


def test_prompt_has_no_colour_codes() -> None:
    result = _run("\n")
    prompt_lines = [line for line in result.stdout.split("\n") if PROMPT in line]
    assert prompt_lines == [PROMPT * 2]


def test_empty_line_prompts_again() -> None:
    result = _run("\n\n  \nexit\n")
    assert result.returncode == 0
    assert result.stdout.count(PROMPT) == 4


def test_echo_prints_rest_of_line_verbatim() -> None:
    result = _run("echo hello  world \nexit\n")
    assert "hello  world \n" + PROMPT in result.stdout
    assert DONE not in result.stdout


def test_fail_always_fails() -> None:
    result = _run("fail x\nexit\n", "--fail-rate", "0")
    assert ERROR in result.stdout
    assert DONE not in result.stdout
    assert result.returncode == 0


def test_normal_task_succeeds() -> None:
    result = _run("refactor the parser\nexit\n", "--fail-rate", "0", "--ask-rate", "0")
    assert f"{DONE} refactor the parser" in result.stdout
    assert ERROR not in result.stdout
    assert "Reading" in result.stdout
    assert "\r\x1b[K" in result.stdout


def test_ask_then_yes_applies() -> None:
    result = _run("ask x\ny\nexit\n", "--ask-rate", "0")
    assert "? Apply these changes? [y/n] " in result.stdout
    assert "✓ applied" in result.stdout
    assert f"{DONE} ask x" in result.stdout


def test_ask_repeats_until_answered_and_no_discards() -> None:
    result = _run("ask x\nmaybe\nno\nexit\n")
    assert result.stdout.count("? Apply these changes? [y/n] ") == 2
    assert "✗ discarded" in result.stdout
    assert f"{DONE} ask x" in result.stdout
    assert ERROR not in result.stdout


def test_same_seed_same_output() -> None:
    tasks = "".join(f"task number {i}\ny\n" for i in range(5)) + "exit\n"
    assert _run(tasks).stdout == _run(tasks).stdout


@pytest.mark.parametrize("word", ["exit", "quit"])
def test_exit_prints_bye(word: str) -> None:
    result = _run(f"{word}\n")
    assert result.returncode == 0
    assert result.stdout.endswith("bye\n")


def test_eof_exits_cleanly() -> None:
    result = _run("")
    assert result.returncode == 0
    assert result.stdout.endswith("bye\n")


def test_bad_rate_is_rejected() -> None:
    result = _run("", "--ask-rate", "2")
    assert result.returncode == 2
    assert "between 0 and 1" in result.stderr


def test_sigint_at_prompt_exits_cleanly() -> None:
    with _spawn() as proc:
        buf = bytearray()
        _read_until(proc, buf, PROMPT)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=TIMEOUT) == 0  # stdin is still open, so this is not EOF
        _read_until(proc, buf, "bye\n")


def test_sigint_while_working_cancels_task() -> None:
    with _spawn("--speed", "1") as proc:
        assert proc.stdin is not None
        buf = bytearray()
        end = _read_until(proc, buf, PROMPT)
        proc.stdin.write(b"sleep 60\n")
        proc.stdin.flush()
        end = _read_until(proc, buf, "working…", end)
        proc.send_signal(signal.SIGINT)
        end = _read_until(proc, buf, "^C cancelled", end)
        _read_until(proc, buf, PROMPT, end)
        assert DONE.encode() not in buf
        proc.stdin.write(b"exit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=TIMEOUT) == 0


def test_agentmux_demo_agent_takes_the_demo_agents_own_options(env: Env) -> None:
    """`agentmux demo-agent --speed 0` was refused ('unrecognized arguments: --speed')."""
    env.write_config()
    result = env.cli("demo-agent", "--speed", "0", "--seed", "1", input="echo hi from the demo\nexit\n")
    assert result.returncode == 0, result.stderr
    assert "hi from the demo" in result.stdout
