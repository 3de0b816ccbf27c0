"""agentmux: supervise a fleet of AI coding agents, each in its own tmux session."""

from __future__ import annotations

__version__ = "0.1.0"
