"""Agent states: what an agent is doing, in the user's words. The store keeps them; detectors decide them."""

from __future__ import annotations

from enum import StrEnum


class AgentState(StrEnum):
    """What an agent is doing, in the user's words."""

    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    WAITING = "waiting"
    ERROR = "error"
    EXITED = "exited"
    STOPPED = "stopped"

    @property
    def is_live(self) -> bool:
        """True while the agent's process runs."""
        return self in (AgentState.STARTING, AgentState.IDLE, AgentState.BUSY, AgentState.WAITING)
