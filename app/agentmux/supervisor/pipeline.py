"""The one supervisor loop, used by `agentmux serve` and by the TUI (ARCHITECTURE.md, "One tick").

Each tick, in order: follow the config file, observe the fleet (capture what may have changed, detect
states), take or renew the lease when this process may dispatch, then hand one immutable Look to the
lease holder's duties (restart policies, claude turns from their transcripts, then the queue's dispatcher:
only while holding the lease) and
to every consumer (the TUI's buffer, serve's printer, later hook events, API usage). The lease holder also
writes the logs (`logs/ingest.py`), after the dispatcher, then ends coordination holds that lapsed
(`coord/janitor.py`). A new
feature that needs every look is a consumer; no second loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Protocol

from agentmux.agents.lifecycle import Fleet
from agentmux.agents.observer import Observer
from agentmux.agents.restarts import Restarter
from agentmux.agents.state import Detected
from agentmux.agents.turns import TurnRecorder
from agentmux.coord.janitor import CoordJanitor
from agentmux.logs.ingest import LogIngest
from agentmux.queue.dispatch import Dispatcher
from agentmux.queue.model import Queue, QueueSummary
from agentmux.supervisor.lease import Lease
from agentmux.supervisor.look import Look
from agentmux.supervisor.timing import FAST_INTERVAL, QUIET_INTERVAL
from agentmux.supervisor.wake import Waker


class Consumer(Protocol):
    """Something that needs every look at the fleet."""

    def consume(self, look: Look) -> None:
        """Act on a look (in the supervisor's thread; quickly: the next look waits)."""

    def wants(self, name: str) -> bool:
        """Must this agent's screen be captured at every look (when it moved)? Else only the cheap signals
        are read and the capture waits for a consumer that wants it."""

    @property
    def busy(self) -> bool:
        """Does it need the fast rate now (FAST_INTERVAL instead of QUIET_INTERVAL)?"""


class Pipeline:
    """Observes the fleet tick by tick (never two ticks at once) and hands each look to its consumers.

    `dispatch` is the explicit choice to dispatch the queue and apply restart policies whenever this process
    holds the supervisor lease (serve; a TUI); without it the process only watches. `capture_all` captures
    every pane that moved (serve, which prints every state change); without it only the panes a consumer
    wants (the TUI captures the tiles on screen)."""

    def __init__(self, fleet: Fleet, *, role: str, dispatch: bool, consumers: Sequence[Consumer] = (),
                 capture_all: bool = False, fast_interval: float = FAST_INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.dispatch = dispatch
        self.consumers = list(consumers)
        self.capture_all = capture_all
        self.fast_interval = fast_interval
        self.clock = clock
        self.observer = Observer(fleet, continuous=True, clock=clock)
        self.lease = Lease(fleet.store, role)
        self.dispatcher = Dispatcher(fleet, self.lease.name, fleet.config.settings.redispatch, clock)
        self.restarter = Restarter(fleet)
        self.turns = TurnRecorder(fleet.store, clock)
        self.logs = LogIngest(fleet, clock)
        self.coord = CoordJanitor(fleet.store, fleet.config.settings.state_dir, clock)
        self.queue = Queue(fleet.store)
        self._lock = threading.Lock()
        self._closed = False
        self._screens: dict[str, str] = {}
        self._queue_seen: tuple[int, bool, str | None] | None = None
        self._wrote = False

    # --- one tick ----------------------------------------------------------------------------------------

    def tick(self) -> Look | None:
        """One look, handed to every consumer; None once closed."""
        with self._lock:
            if self._closed:
                return None
            now = self.clock()
            change = self.fleet.follow_config(now)
            changes: list[tuple[str, Detected]] = []
            self.observer.on_state_change = lambda name, detected: changes.append((name, detected))
            statuses = self.observer.observe(None if self.capture_all else self._wanted)
            was_holding = self.lease.holding
            holding = self.dispatch and self.lease.hold(now)
            if holding and not was_holding:
                self.dispatcher.recovered = False  # a new holder first settles what the last one left
            dispatcher = self.lease.dispatcher(now)
            screens = {}
            for status in statuses:
                if status.screen and self._screens.get(status.name) != status.screen:
                    self._screens[status.name] = screens[status.name] = status.screen
            look = Look(at=now, config=self.fleet.config, config_change=change, statuses=tuple(statuses),
                        panes=MappingProxyType(dict(self.observer.panes)), screens=MappingProxyType(screens),
                        changes=tuple(changes), holding=holding, dispatcher=dispatcher,
                        queue=self._queue_summary(holding, dispatcher),
                        logs_problem=self.logs.problem if holding else None)
            if holding:
                self.restarter.tick(statuses, now)
                self.turns.tick(self.observer.newest_hook)  # before the dispatcher: a task's result is its turn's
                self.dispatcher.tick(self.observer, statuses)
                self._wrote = self.dispatcher.wrote
                self.logs.tick(self.observer.panes, now)  # after the dispatcher: a task is never held up by it
                self.coord.tick(changes, now)  # holds of agents that ended freed, their waiters woken
            else:
                self.dispatcher.wanted = frozenset()
            for consumer in self.consumers:
                consumer.consume(look)
            return look

    def _wanted(self, name: str) -> bool:
        return name in self.dispatcher.wanted or any(consumer.wants(name) for consumer in self.consumers)

    def _queue_summary(self, holding: bool, dispatcher: str | None) -> QueueSummary | None:
        """The queue's depths and pauses, read again only when the store changed (another process wrote, or
        this one dispatched: SQLite's data_version counts only other connections' commits) or the
        dispatcher did."""
        version = int(self.fleet.store.db.execute("PRAGMA data_version").fetchone()[0])
        seen = (version, holding, dispatcher)
        if seen == self._queue_seen and not self._wrote:
            return None
        self._queue_seen, self._wrote = seen, False
        return self.queue.summary()

    # --- running -----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Tasks are out or ready, or a consumer needs the fast rate."""
        return bool(self.dispatcher.wanted) or any(consumer.busy for consumer in self.consumers)

    def interval(self) -> float:
        """Seconds until the next look."""
        return self.fast_interval if self.busy else max(self.fast_interval, QUIET_INTERVAL)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None) -> None:
        """Look back to back until `stop` is set: the next look starts only after the last one finished.
        With `on_error`, a failed look is reported and retried a second later instead of ending the loop."""
        waker = Waker(self.fleet.config.settings.state_dir)
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
                    stop.wait(1.0)
                    continue
                waker.wait(self.interval() - (time.monotonic() - started), stop)  # a hook event wakes it at once
        finally:
            waker.close()
            self.close()

    def close(self) -> None:
        """Stop for good (waiting for a look in progress) and hand the lease back, so another process
        (a headless `agentmux serve`) dispatches at once."""
        with self._lock:
            self._closed = True
            self.lease.release()
            self.logs.close()
