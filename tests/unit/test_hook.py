"""`agentmux hook EVENT` (agentmux/hook.py): records an agent's event, and never fails Claude Code's call."""

from __future__ import annotations

import json
import subprocess
import sys
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
