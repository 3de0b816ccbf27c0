"""The mirror loop behind the grid: observe the fleet, keep the newest screen of every agent for the UI.

Plain Python (no Textual): a UI thread reads `take()`, a capture thread runs `tick()`. Screens are
coalesced: if the UI falls behind, it gets the newest screen of each agent, never a backlog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agentmux.agents.lifecycle import Fleet
from agentmux.agents.observer import AgentStatus, Observer
from agentmux.agents.state import Detected

HIDDEN_EVERY = 2.0
"""Seconds between captures of an agent whose tile is not on screen (its state still updates)."""


@dataclass
class MirrorUpdate:
    """What changed since the UI last looked."""

    statuses: list[AgentStatus] | None = None
    screens: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[str, Detected]] = field(default_factory=list)


class Mirror:
    """Observes the fleet continuously on behalf of a UI."""

    def __init__(self, fleet: Fleet, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.clock = clock
        self.observer = Observer(fleet, continuous=True, clock=clock)
        self.observer.on_state_change = self._state_changed
        self.visible: frozenset[str] = frozenset()
        """Agents whose tiles are on screen; set by the UI thread (replaced, never mutated)."""
        self.focused: str | None = None
        self._hidden_at: dict[str, float] = {}
        self._screens: dict[str, str] = {}
        self.last_change = 0.0
        """When a screen last changed: a quiet fleet is observed less often."""
        self._lock = threading.Lock()
        self._pending = MirrorUpdate()
        self._last_statuses: list[AgentStatus] | None = None

    def _state_changed(self, name: str, detected: Detected) -> None:
        self._pending.changes.append((name, detected))

    def _should_capture(self, name: str) -> bool:
        if name in self.visible or name == self.focused:
            return True
        now = self.clock()
        if now - self._hidden_at.get(name, 0.0) >= HIDDEN_EVERY:
            self._hidden_at[name] = now
            return True
        return False

    def tick(self) -> bool:
        """One observation; True when there is something new for the UI."""
        with self._lock:
            statuses = self.observer.observe(self._should_capture)
            fresh = False
            for status in statuses:
                if status.screen and self._screens.get(status.name) != status.screen:
                    self._screens[status.name] = status.screen
                    self._pending.screens[status.name] = status.screen
                    self.last_change = self.clock()
                    fresh = True
            if statuses != self._last_statuses:
                self._pending.statuses = self._last_statuses = statuses
                fresh = True
            return fresh or bool(self._pending.changes)

    def take(self) -> MirrorUpdate:
        """Everything new since the last call (for the UI thread)."""
        with self._lock:
            update, self._pending = self._pending, MirrorUpdate()
            return update
