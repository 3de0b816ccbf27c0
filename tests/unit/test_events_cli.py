"""`agentmux events [NAME]`: what happened to agents, answers included (README: CLI)."""

from __future__ import annotations

import json

from agentmux.store import Store
from tests.conftest import Env, assert_one_line


def test_events_lists_what_happened_newest_last_and_as_json(env: Env) -> None:
    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n\n[[agents]]\nname = "other"\ncommand = "true"\n')
    assert env.cli("events").stdout.strip() == "no events"
    store = Store(env.load().store_path)
    store.record_event("cc", "answer", "allowed Bash: git status (policy rule Bash(git status))", 1000.0)
    store.record_event("other", "start", "started", 1001.0)
    store.record_event("cc", "answer", "answered yes (by the user, through Claude Code's PermissionRequest hook)",
                       1002.0)
    shown = env.cli("events", "cc")
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["TIME", "AGENT", "KIND", "WHAT"] and len(lines) == 3
    assert "policy rule Bash(git status)" in lines[1] and "answered yes" in lines[2]
    last = json.loads(env.cli("events", "-n", "1", "--json").stdout)
    assert last == [{"agent": "cc", "at": 1002.0, "kind": "answer",
                     "message": "answered yes (by the user, through Claude Code's PermissionRequest hook)"}]


def test_events_of_an_unknown_agent_or_a_negative_count_is_one_line_exit_2(env: Env) -> None:
    env.write_config('[[agents]]\nname = "cc"\nkind = "claude"\n')
    for args in (("events", "nobody"), ("events", "-n", "-1")):
        result = env.cli(*args)
        assert result.returncode == 2, result
        assert_one_line(result.stderr)
