"""The mirror loop behind the grid: observe the fleet, keep the newest screen of every agent for the UI.

Plain Python (no Textual): a UI thread reads `take()`, a capture thread runs `tick()`. Screens are
coalesced: if the UI falls behind, it gets the newest screen of each agent, never a backlog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agentmux.agents.lifecycle import Fleet
from agentmux.agents.observer import AgentStatus, Observer
from agentmux.agents.state import Detected
from agentmux.config import Config
from agentmux.queue import Queue, Task
from agentmux.supervisor import Supervision

HIDDEN_EVERY = 2.0
"""Seconds between captures of an agent whose tile is not on screen (its state still updates)."""


@dataclass(frozen=True)
class QueueView:
    """The queue as a panel shows it: open tasks and the newest ended ones, paused agents, who dispatches."""

    tasks: tuple[Task, ...]
    paused: frozenset[str]
    dispatcher: str | None
    """The process that dispatches (its lease holder name), or None when none does."""
    here: bool
    """This process is the dispatcher."""
    down: Mapping[str, str] = field(default_factory=dict)
    """Why each agent that is not running is down (`error: exited with status 1`): its tasks wait for it."""

    def depth(self, agent: str) -> int:
        """Tasks of the agent that have not ended."""
        return sum(1 for task in self.tasks if task.agent == agent and not task.state.ended)


@dataclass
class MirrorUpdate:
    """What changed since the UI last looked."""

    statuses: list[AgentStatus] | None = None
    screens: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[str, Detected]] = field(default_factory=list)
    queue: QueueView | None = None
    config: Config | None = None
    """The config file as read again after it changed on disk (another command or an editor wrote it)."""
    problems: list[str] = field(default_factory=list)


class Mirror:
    """Observes the fleet continuously on behalf of a UI."""

    def __init__(self, fleet: Fleet, clock: Callable[[], float] = time.time, supervise: bool = True) -> None:
        self.fleet = fleet
        self.clock = clock
        self.observer = Observer(fleet, continuous=True, clock=clock)
        self.observer.on_state_change = self._state_changed
        self.supervision = Supervision(fleet, "tui", clock) if supervise else None
        """Dispatching, while this process holds the supervisor lease (else it is a viewer)."""
        self.queue = Queue(fleet.store)
        self._queue_seen: tuple[int, bool, str | None] | None = None
        self._closed = False
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
        if self.supervision is not None and self.supervision.wants(name):
            return True
        now = self.clock()
        if now - self._hidden_at.get(name, 0.0) >= HIDDEN_EVERY:
            self._hidden_at[name] = now
            return True
        return False

    @property
    def dispatching(self) -> bool:
        """Tasks are out or ready: look often, so an agent that turns idle gets its next task fast."""
        return self.supervision is not None and self.supervision.busy

    def tick(self) -> bool:
        """One observation (and dispatch, when this process holds the lease); True when there is news."""
        with self._lock:
            if self._closed:
                return False
            change = self.fleet.follow_config(self.clock())
            if change is not None:
                self._pending.config = change.config or self._pending.config
                if change.problem:
                    self._pending.problems.append(change.problem)
            statuses = self.observer.observe(self._should_capture)
            if self.supervision is not None:
                self.supervision.after_look(self.observer, statuses)
            fresh = self._look_at_queue(statuses)
            for status in statuses:
                if status.screen and self._screens.get(status.name) != status.screen:
                    self._screens[status.name] = status.screen
                    self._pending.screens[status.name] = status.screen
                    self.last_change = self.clock()
                    fresh = True
            if statuses != self._last_statuses:
                self._pending.statuses = self._last_statuses = statuses
                fresh = True
            return fresh or bool(self._pending.changes) or change is not None

    def _look_at_queue(self, statuses: list[AgentStatus]) -> bool:
        """Re-read the queue when the store changed (another process wrote, or this one dispatched)."""
        version = int(self.fleet.store.db.execute("PRAGMA data_version").fetchone()[0])
        wrote = self.supervision is not None and self.supervision.dispatcher.wrote
        dispatcher = self.supervision.dispatcher_name() if self.supervision is not None else None
        seen = (version, self.supervision is not None and self.supervision.holding, dispatcher)
        if seen == self._queue_seen and not wrote:
            return False
        self._queue_seen = seen
        self._pending.queue = QueueView(
            tasks=tuple(self.queue.board()), paused=frozenset(self.queue.paused_agents()), dispatcher=dispatcher,
            here=self.supervision is not None and self.supervision.holding,
            down={status.name: f"{status.state.value}: {status.reason}" for status in statuses
                  if not status.state.is_live})
        return True

    def close(self) -> None:
        """Stop for good (waiting for a look in progress) and hand the lease back, so another process
        (a headless `agentmux serve`) dispatches at once."""
        with self._lock:
            self._closed = True
            if self.supervision is not None:
                self.supervision.release()

    def take(self) -> MirrorUpdate:
        """Everything new since the last call (for the UI thread)."""
        with self._lock:
            update, self._pending = self._pending, MirrorUpdate()
            return update
