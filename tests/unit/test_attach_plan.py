"""Which way `attach` goes depends on where the user already is."""

from __future__ import annotations

import os

from agentmux.tmux.attach import plan_attach

ARGS = ["tmux", "-L", "agentmux"]


def test_outside_tmux_the_terminal_becomes_a_tmux_client() -> None:
    plan = plan_attach(ARGS, "agentmux", "api", environ={})
    assert plan.how == "attach" and plan.argv == [*ARGS, "attach-session", "-t", "=api"]


def test_inside_agentmux_own_server_the_client_switches() -> None:
    environ = {"TMUX_TMPDIR": "/tmp/x", "TMUX": f"/tmp/x/tmux-{os.getuid()}/agentmux,123,0"}
    plan = plan_attach(ARGS, "agentmux", "api", environ=environ)
    assert plan.how == "switch" and plan.argv == [*ARGS, "switch-client", "-t", "=api"]


def test_inside_another_tmux_a_new_window_attaches_without_nesting_warnings() -> None:
    environ = {"TMUX": f"/tmp/tmux-{os.getuid()}/default,123,0"}
    plan = plan_attach(ARGS, "agentmux", "api", environ=environ)
    assert plan.how == "window"
    assert plan.argv[:4] == ["tmux", "new-window", "-n", "api"]
    assert plan.argv[4].startswith("env -u TMUX ") and "attach-session -t =api" in plan.argv[4]
