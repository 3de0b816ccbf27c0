"""The tmux backend: agentmux's own tmux server, sessions, batched captures and attach. No Textual."""

from __future__ import annotations

from agentmux.tmux.backend import PaneInfo, TmuxError, TmuxServer, tmux_quote

__all__ = ["PaneInfo", "TmuxError", "TmuxServer", "tmux_quote"]
