"""The codex kind with a real tmux server and no Codex binary: tests/codex/fake_codex.py shows the screens
recorded from Codex CLI 0.171.0 (tests/codex/screens) and notes the keys it reads (README: The codex kind)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agentmux.agents.restarts import backoff
from agentmux.queue import TaskState
from tests.conftest import Env, Supervisors, wait_until

FAKE = Path(__file__).resolve().parents[1] / "codex" / "fake_codex.py"


def codex_agent(env: Env, log: Path) -> None:
    env.write_config(f'''
[[agents]]
name = "cx"
kind = "codex"
command = "{sys.executable} {FAKE} {log}"
idle_after = 0.5
restart = "on-failure"
''')


def logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_failed_turn_fails_its_task_holds_the_queue_and_restarts_nothing(env: Env, tmp_path: Path,
                                                                           running: Supervisors) -> None:
    log = tmp_path / "codex.log"
    codex_agent(env, log)
    run = running()
    run.until(lambda: env.status("cx")["state"] == "idle", message="the fake Codex at its input box")
    assert logged(log)[0] == "--no-daemon", "Codex runs without its background app server"
    pid = env.status("cx")["pid"]
    failing, later = run.queue.add("cx", "fail"), run.queue.add("cx", "hello")
    run.until(lambda: run.task(failing.id).state.ended, message="the failed turn ends its task")
    assert run.task(failing.id).state == TaskState.FAILED
    assert run.task(failing.id).reason.startswith('turn failed: {"error": {"message": "The fake rejects')
    quiet_until = time.monotonic() + backoff(0) + 0.5  # past the first restart's backoff: nothing restarts it
    while time.monotonic() < quiet_until:
        run.tick()
        time.sleep(0.05)
    row = env.status("cx")
    assert (row["state"], row["pid"], row["restarts"]) == ("error", pid, 0), "on-failure restarts no live program"
    assert run.task(later.id).state == TaskState.READY and logged(log)[1:] == ["prompt: fail"]
    assert env.cli("down").returncode == 0
    assert env.status("cx")["state"] == "stopped", "down stops an agent that shows error and runs on"


def test_answering_codexs_dialog_presses_the_digit_of_the_choice(env: Env, tmp_path: Path,
                                                                 running: Supervisors) -> None:
    log = tmp_path / "codex.log"
    codex_agent(env, log)
    run = running()
    for answer, key in (("no", "3"), ("yes", "1")):
        run.until(lambda: env.status("cx")["state"] == "idle", message="the fake Codex at its input box")
        assert env.cli("send", "cx", "ask").returncode == 0
        run.until(lambda: env.status("cx")["state"] == "waiting", message="the approval dialog")
        assert env.status("cx")["reason"] == "asks: Would you like to run the following command?"
        result = env.cli("answer", "cx", answer)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().startswith(f"answered cx: {key}. ")
        wait_until(lambda: f"key: {key}" in logged(log), message=f"the fake Codex read {key}")  # noqa: B023
    assert [line for line in logged(log) if line.startswith("key:")] == ["key: 3", "key: 1"]
