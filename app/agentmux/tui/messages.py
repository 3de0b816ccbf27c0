"""Messages from the capture worker to the screens; high-rate ones replace older queued ones."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from agentmux.agents.observer import AgentStatus


@dataclass
class PaneCaptured(Message):
    """A fresh capture of one agent's screen (posted to that agent's tile)."""

    name: str
    screen: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PaneCaptured) and message.name == self.name


@dataclass
class FleetObserved(Message):
    """Every agent's status after one observation of the fleet."""

    statuses: list[AgentStatus]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FleetObserved)


@dataclass
class ActionFinished(Message):
    """A lifecycle action (start, stop, send...) finished; `ok` False means show it as an error."""

    message: str
    ok: bool = True
