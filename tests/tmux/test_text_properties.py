"""Property-based tests over prompt and task texts with real tmux (hypothesis, a bounded number of
examples): every text is either delivered byte-exact or refused with one line, and never reported as sent
when it was not (README, CLI: send; The command queue)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmux.queue import TaskState
from tests.conftest import Env, Supervisors, wait_until

BOUNDED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any characters (lone surrogates stand for bytes that are not UTF-8), now and then a long line.
texts = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("ab \t\n\x03\x1bé✓中"), max_size=60),
    st.builds(lambda char, size: char * size, st.sampled_from("xé"), st.integers(3000, 5000)),
)


def send_stdin(env: Env, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "agentmux", "--config", str(env.config_path), "send", "sink", "-"],
                          capture_output=True, env=env.environ, cwd=env.root, timeout=60, input=data)


@BOUNDED
@given(text=texts)
def test_send_delivers_any_text_exactly_or_refuses_it(env: Env, tmp_path: Path, text: str) -> None:
    received = tmp_path / "received.txt"
    if not env.config_path.exists():
        env.write_config(f'[[agents]]\nname = "sink"\ncommand = "echo ready; exec cat >> {received}"\n')
        assert env.cli("up", "--no-serve").returncode == 0
        wait_until(lambda: "ready" in env.tmux("capture-pane", "-p", "-t", "=sink:").stdout, message="cat runs")
        received.write_bytes(b"")
    before = received.read_bytes()
    result = send_stdin(env, text.encode("utf-8", "surrogateescape"))
    if result.returncode == 0:
        assert b"sent to sink" in result.stdout
        expected = before + (text.rstrip("\n") + "\n").encode("utf-8")
        wait_until(lambda: received.read_bytes() == expected, timeout=10,
                   message=f"the exact text of {text[:40]!r} in the file")
    else:
        assert result.returncode in (1, 2), result
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agentmux: "), result.stderr
        assert b"sent" not in result.stdout
        assert received.read_bytes() == before, "nothing was typed"


payloads = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=80) | st.builds(
    lambda size: "L" * size, st.integers(4000, 9000))


@BOUNDED
@given(payload=payloads)
def test_a_shell_task_gets_any_text_exactly(env: Env, running: Supervisors, tmp_path: Path,
                                           payload: str) -> None:
    if not env.config_path.exists():
        # bash: dash (Debian's /bin/sh) itself drops a byte of U+0080 in a here-document, whatever delivered it
        env.write_config('[[agents]]\nname = "sh"\nkind = "shell"\ncommand = "bash --norc --noprofile"\n')
    run = running.one()
    target = tmp_path / f"out-{uuid.uuid4().hex[:8]}"
    marker = f"END_{uuid.uuid4().hex}"
    task = run.queue.add("sh", f"cat > {target} <<'{marker}'\n{payload}\n{marker}")
    run.until(lambda: run.ended(task), timeout=30, message="the task ends")
    assert run.task(task.id).state == TaskState.SUCCEEDED, (
        run.task(task.id), env.tmux("capture-pane", "-p", "-S", "-", "-t", "=sh:").stdout)
    expected = (payload + "\n").replace("\r\n", "\n")  # CRLF line ends become LF (README, queue add)
    assert target.read_bytes() == expected.encode("utf-8")
