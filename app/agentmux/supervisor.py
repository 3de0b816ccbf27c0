"""The supervisor loop: observes the fleet continuously so states are current and debounced."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agentmux.agents.lifecycle import Fleet
from agentmux.agents.observer import AgentStatus, Observer
from agentmux.agents.state import Detected


class Supervisor:
    """Runs observations back to back (never overlapping) every `interval` seconds until stopped."""

    def __init__(self, fleet: Fleet, interval: float = 0.5) -> None:
        self.fleet = fleet
        self.interval = interval
        self.observer = Observer(fleet, continuous=True)
        self.stopped = threading.Event()
        self.on_state_change: Callable[[str, Detected], None] | None = None

    def tick(self) -> list[AgentStatus]:
        self.observer.on_state_change = self.on_state_change
        return self.observer.observe()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
