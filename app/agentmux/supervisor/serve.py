"""The headless supervisor: `agentmux serve` in a hidden tmux session that `agentmux up` starts, so queued
tasks are dispatched with no TUI open. It lives as long as the tmux server (so as long as the agents)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from agentmux.agents.lifecycle import Fleet
from agentmux.tmux.backend import SERVE_OPTION, SERVE_SESSION


def serve_running(fleet: Fleet) -> bool:
    """Is `agentmux serve` alive in its hidden session on this socket (one agentmux made, by its mark)?"""
    return (any(pane.session == SERVE_SESSION and not pane.dead for pane in fleet.tmux.list_panes())
            and fleet.tmux.session_mark(SERVE_SESSION, SERVE_OPTION) == "1")


def start_serve(fleet: Fleet, extra_env: Mapping[str, str] | None = None) -> bool:
    """Start `agentmux serve` in the hidden session unless it runs; True when it was started now.

    It lives as long as the tmux server (so as long as the agents), keeps dispatching when no TUI is open,
    and stands by while a TUI holds the lease. Its output: `tmux -L SOCKET attach -t _agentmux-serve`."""
    if serve_running(fleet):
        return False
    fleet.tmux.make_way(SERVE_SESSION, SERVE_OPTION, "1")  # a dead one (remain-on-exit) is replaced
    env = fleet.tmux.client_env  # the minimal environment every agent starts from: no agent's secrets
    env.update(extra_env or {})  # the API gateway's keys, when it runs the gateway: in this session only
    argv = [sys.executable, "-m", "agentmux", "--config", str(fleet.config.path), "serve"]
    fleet.tmux.new_session(SERVE_SESSION, argv, fleet.config.path.parent, env, 160, 40, 2000,
                           marks={SERVE_OPTION: "1"})
    return True


def stop_serve(fleet: Fleet) -> bool:
    """Stop the headless supervisor (it releases the lease on the way out); True when one was running."""
    running = serve_running(fleet)
    fleet.tmux.kill_own_session(SERVE_SESSION, SERVE_OPTION)
    return running
