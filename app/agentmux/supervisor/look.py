"""One look at the fleet: what a tick of the supervisor saw, handed whole to every consumer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentmux.agents.observer import AgentStatus
from agentmux.agents.state import Detected
from agentmux.config import Config, ConfigChange
from agentmux.queue.model import QueueSummary
from agentmux.tmux.backend import PaneInfo


@dataclass(frozen=True)
class Look:
    """What one tick saw. Immutable: consumers read it, none changes it for the next."""

    at: float
    config: Config
    """The config in use (read again when the file changed)."""
    config_change: ConfigChange | None
    """The config file changed on disk since the last look: the new config, or why it is not used."""
    statuses: tuple[AgentStatus, ...]
    """Every agent with its state, in name order."""
    panes: Mapping[str, PaneInfo]
    """Each running agent's pane as this look saw it."""
    screens: Mapping[str, str]
    """The screens that changed since the last look, by agent (captures that did not change are left out)."""
    changes: tuple[tuple[str, Detected], ...]
    """State changes this look made, in order."""
    holding: bool
    """This process holds the supervisor lease (it dispatches)."""
    dispatcher: str | None
    """Who dispatches: this process's holder name, another's, or None when nobody does."""
    queue: QueueSummary | None
    """The queue's depths and pauses, when the store changed since the last look (else None)."""
    logs_problem: str | None = None
    """Why this process (holding the lease) could not write the logs at its last look; None while it can."""
