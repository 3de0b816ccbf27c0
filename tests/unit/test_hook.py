"""`agentmux hook EVENT` (agentmux/hook.py): records an agent's event, and never fails Claude Code's call."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from agentmux.store import Store
from tests.conftest import ROOT, Env


def hook(env: dict[str, str], event: str, stdin: bytes, *via: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", *(via or ("agentmux.hook",)), event]
    return subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=30)


def test_the_hook_records_the_event_in_the_agents_store(env: Env) -> None:
    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n')
    path = env.load().store_path
    Store(path).close()
    values = dict(env.environ, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(path), PYTHONPATH=str(ROOT / "app"))
    payload = {"session_id": "s1", "hook_event_name": "Notification", "notification_type": "permission_prompt",
               "message": "Claude needs your permission"}
    for via in (("agentmux.hook",), ("agentmux", "hook")):
        result = hook(values, "Notification", json.dumps(payload).encode(), *via)
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    events = Store(path).hook_events_after(0)
    assert [(e.agent, e.event, e.detail, e.session_id) for e in events] == [
        ("cc", "Notification", "permission_prompt", "s1")] * 2
    assert json.loads(events[0].payload)["message"] == "Claude needs your permission"


def test_the_hook_does_nothing_outside_an_agent_and_never_fails(env: Env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = dict(env.environ, PYTHONPATH=str(ROOT / "app"))
    outside.pop("AGENTMUX_AGENT", None)
    assert hook(outside, "Stop", b"{}").returncode == 0
    broken = dict(outside, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(tmp_path / "not-a-db"))
    (tmp_path / "not-a-db").write_text("garbage")
    for stdin in (b"", b"not json", b"\xff\xfe", b"[1, 2]"):
        result = hook(broken, "Stop", stdin)
        assert (result.returncode, result.stderr) == (0, b""), result.stderr


def test_the_hook_wakes_every_supervisor_loop_of_its_state_dir(env: Env) -> None:
    from agentmux.supervisor.wake import Waker

    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n')
    config = env.load()
    Store(config.store_path).close()
    loops = [Waker(config.settings.state_dir), Waker(config.settings.state_dir)]
    try:
        assert not loops[0].wait(0.05)  # nothing yet
        values = dict(env.environ, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(config.store_path),
                      AGENTMUX_HOME=str(config.settings.state_dir), PYTHONPATH=str(ROOT / "app"))
        assert hook(values, "Stop", b'{"hook_event_name": "Stop"}').returncode == 0
        assert all(loop.wait(5.0) for loop in loops)
        assert not loops[0].wait(0.05)  # taken once
    finally:
        for loop in loops:
            loop.close()
    assert not list((config.settings.state_dir / "run" / "wake").iterdir())


def test_a_state_dir_of_a_long_path_still_gets_its_wake_ups(tmp_path: Path) -> None:
    """A socket file under a long state dir could not be bound (108 bytes at most): the TUI's loop died."""
    from agentmux.supervisor.wake import Waker

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    waker = Waker(deep)
    try:
        assert waker.sock is not None
        from agentmux.hook import _wake

        _wake(str(deep))
        assert waker.wait(5.0)
    finally:
        waker.close()


def claude_env(env: Env) -> tuple[dict[str, str], Path]:
    """The environment a claude agent's hook runs with, and the agent's folder in the state dir."""
    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n')
    config = env.load()
    Store(config.store_path).close()
    folder = config.settings.state_dir / "claude" / "cc"
    folder.mkdir(parents=True)
    return dict(env.environ, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(config.store_path),
                AGENTMUX_HOME=str(config.settings.state_dir), PYTHONPATH=str(ROOT / "app")), folder


def asking(command: str) -> bytes:
    return json.dumps({"hook_event_name": "PermissionRequest", "session_id": "s1", "cwd": "/w", "tool_name": "Bash",
                       "tool_input": {"command": command}}).encode()


def test_the_policy_answers_a_permission_request_at_once(env: Env) -> None:
    values, folder = claude_env(env)
    (folder / "policy.json").write_text(json.dumps({"allow": ["Bash(ls *)"], "deny": ["Bash(rm *)"],
                                                    "on_deny": "refuse"}))
    allowed = hook(values, "PermissionRequest", asking("ls -l"))
    assert json.loads(allowed.stdout) == {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                                 "decision": {"behavior": "allow"}}}
    refused = hook(values, "PermissionRequest", asking("rm -rf x"))
    decision = json.loads(refused.stdout)["hookSpecificOutput"]["decision"]
    assert decision["behavior"] == "deny" and "rule Bash(rm *)" in decision["message"]
    store = Store(Path(values["AGENTMUX_STORE"]))
    assert [e.detail for e in store.hook_events_after(0)] == ["allowed by rule Bash(ls *)",
                                                              "refused by rule Bash(rm *)"]
    assert [message for _, _, _, message in store.events("cc")] == [
        "allowed Bash: ls -l (policy rule Bash(ls *))", "refused Bash: rm -rf x (policy rule Bash(rm *))"]


def test_a_permission_request_waits_for_the_users_answer_through_agentmux(env: Env) -> None:
    from agentmux.agents.answers import to_hook

    values, _ = claude_env(env)
    store = Store(Path(values["AGENTMUX_STORE"]))
    command = [sys.executable, "-m", "agentmux.hook", "PermissionRequest"]
    waiting = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=values)
    assert waiting.stdin is not None
    waiting.stdin.write(asking("make"))
    waiting.stdin.close()
    question = until(lambda: store.open_question("cc", None))
    assert question.reply and waiting.poll() is None
    # the socket's name is visible to every local user (/proc/net/unix): an answer without the secret is ignored
    name = question.reply.partition(":")[0]
    assert to_hook(f"{name}:guessed", "allow") and to_hook(name, "allow")
    assert waiting.poll() is None
    assert to_hook(question.reply, "deny", "not now")
    assert waiting.stdout is not None
    out = waiting.stdout.read()
    waiting.wait(timeout=10)
    assert json.loads(out)["hookSpecificOutput"]["decision"] == {"behavior": "deny", "message": "not now"}
    assert not to_hook(question.reply, "allow")  # nobody waits any more


def test_a_waiting_hook_ends_silently_once_the_question_is_answered_elsewhere(env: Env) -> None:
    values, _ = claude_env(env)
    store = Store(Path(values["AGENTMUX_STORE"]))
    waiting = subprocess.Popen([sys.executable, "-m", "agentmux.hook", "PermissionRequest"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=values)
    assert waiting.stdin is not None
    waiting.stdin.write(asking("make"))
    waiting.stdin.close()
    until(lambda: store.open_question("cc", None))
    # another tool call running alongside is not the answer (found by review: the wait ended early)
    other = {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    assert hook(values, "PostToolUse", json.dumps(other).encode()).returncode == 0
    assert waiting.poll() is None and store.open_question("cc", None) is None  # (no longer "open" by events)
    time.sleep(1.5)  # a look of the waiting hook (every second) must not end it
    assert waiting.poll() is None
    # answered in the pane: this tool ran, and its PostToolUse came
    ran = {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "make"}}
    assert hook(values, "PostToolUse", json.dumps(ran).encode()).returncode == 0
    assert waiting.stdout is not None
    out = waiting.stdout.read()
    waiting.wait(timeout=10)
    assert (waiting.returncode, out) == (0, b"")
    assert store.open_question("cc", None) is None


def until(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("not in time")


def test_the_hook_keeps_no_secret_value_nor_key_shape_of_a_tools_output(env: Env) -> None:
    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n')
    path = env.load().store_path
    Store(path).close()
    secret = 'p4ss "word"\nline two'
    key = "sk-ant-api03-" + "K" * 40
    values = dict(env.environ, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(path), PYTHONPATH=str(ROOT / "app"),
                  AGENTMUX_SECRET_NAMES="TOKEN", TOKEN=secret)
    payload = {"session_id": "s1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_input": {"command": "env"}, "tool_response": {"stdout": f"TOKEN={secret}\nKEY={key}\n"}}
    assert hook(values, "PostToolUse", json.dumps(payload).encode()).returncode == 0
    stored = json.loads(Store(path).hook_events_after(0)[0].payload)
    assert stored["tool_response"]["stdout"] == "TOKEN=[secret TOKEN]\nKEY=[redacted anthropic key]\n"
    written = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"p4ss" not in written and key.encode() not in written
