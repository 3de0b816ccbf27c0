"""How to put the user in front of an agent's session, depending on where the user already is."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentmux.tmux.backend import socket_path


@dataclass(frozen=True)
class AttachPlan:
    """The command that shows the agent, and whether it takes over this terminal (`attach`)."""

    how: str
    """`attach` (this terminal becomes the tmux client), `switch` (the tmux client we are in moves to
    the agent) or `window` (a new window in the user's own tmux shows the agent)."""
    argv: list[str]


def plan_attach(tmux_args: list[str], socket: str, session: str,
                environ: Mapping[str, str] | None = None) -> AttachPlan:
    """Choose how to attach. Inside agentmux's own tmux server, `attach` would nest a client in itself,
    so switch the client; inside another tmux, open a window there that attaches to the agent."""
    environ = os.environ if environ is None else environ
    target = f"={session}"
    inside = environ.get("TMUX", "")
    if not inside:
        return AttachPlan("attach", [*tmux_args, "attach-session", "-t", target])
    current_socket = inside.split(",")[0]
    try:
        same = Path(current_socket).resolve() == socket_path(socket, environ).resolve()
    except OSError:
        same = False
    if same:
        return AttachPlan("switch", [*tmux_args, "switch-client", "-t", target])
    inner = "env -u TMUX " + shlex.join([*tmux_args, "attach-session", "-t", target])
    return AttachPlan("window", ["tmux", "new-window", "-n", session, inner])
