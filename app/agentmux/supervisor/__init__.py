"""The supervisor: observes the fleet continuously and, while it holds the supervisor lease, dispatches the
queue. Exactly one process holds the lease at a time (a row with an expiry in the store): the TUI when
nobody else does, or the headless `agentmux serve` that `agentmux up` starts in a hidden tmux session.
Every other process is a viewer. A holder that dies is replaced at once when it ran on this machine (its
pid is gone), else when its lease expires.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable

from agentmux.agents.lifecycle import Fleet
from agentmux.agents.observer import AgentStatus, Observer, process_alive
from agentmux.agents.restarts import Restarter
from agentmux.agents.state import Detected
from agentmux.config import ConfigChange
from agentmux.queue.dispatch import Dispatcher
from agentmux.queue.model import SUPERVISOR_LEASE
from agentmux.tmux.backend import SERVE_OPTION, SERVE_SESSION

LEASE_TTL = 3.0
"""Seconds a lease lasts without renewal; the holder renews it every third of that."""
FAST_INTERVAL = 0.1
"""Seconds between looks while tasks are out or ready: an agent that turns idle gets its next task fast."""
QUIET_INTERVAL = 0.25
HOLDER_RE = re.compile(r"^(?P<role>\S+) pid (?P<pid>\d+) on (?P<host>\S+) ")


def holder_name(role: str) -> str:
    """Who holds a lease, readable by people: `serve pid 1234 on host (token)`."""
    return f"{role} pid {os.getpid()} on {socket.gethostname()} ({secrets.token_hex(3)})"


def holder_gone(holder: str) -> bool:
    """True when the holder ran on this machine and its process no longer exists."""
    match = HOLDER_RE.match(holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    return not process_alive(int(match["pid"]))


class Supervision:
    """The lease holder's duties after each look at the fleet: keep the lease, dispatch the queue."""

    def __init__(self, fleet: Fleet, role: str, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.clock = clock
        self.holder = holder_name(role)
        self.dispatcher = Dispatcher(fleet, self.holder, fleet.config.settings.redispatch, clock)
        self.restarter = Restarter(fleet)
        self.holding = False
        self._renew_at = 0.0

    def hold(self, now: float) -> bool:
        """Take or renew the lease when due; True while this process is the dispatcher."""
        if self.holding and now < self._renew_at:
            return True
        if not self.holding:  # a viewer only reads, and writes only when the lease looks free
            lease = self.fleet.store.lease(SUPERVISOR_LEASE)
            if lease is not None and lease[0] != self.holder and lease[1] > now and not holder_gone(lease[0]):
                return False
        held = self.fleet.store.take_lease(SUPERVISOR_LEASE, self.holder, LEASE_TTL, now, holder_gone)
        if held and not self.holding:
            self.dispatcher.recovered = False  # a new holder first settles what the last one left
        self.holding = held
        self._renew_at = now + LEASE_TTL / 3
        return held

    def after_look(self, observer: Observer, statuses: list[AgentStatus]) -> None:
        if self.hold(self.clock()):
            self.restarter.tick(statuses, self.clock())
            self.dispatcher.tick(observer, statuses)
        else:
            self.dispatcher.wanted = frozenset()

    def wants(self, name: str) -> bool:
        """Does dispatching need this agent's screen at every look?"""
        return name in self.dispatcher.wanted

    @property
    def busy(self) -> bool:
        return bool(self.dispatcher.wanted)

    def dispatcher_name(self) -> str | None:
        """Who dispatches now (this process or another), or None when nobody holds a live lease."""
        if self.holding:
            return self.holder
        lease = self.fleet.store.lease(SUPERVISOR_LEASE)
        if lease is None or lease[1] <= self.clock() or holder_gone(lease[0]):
            return None
        return lease[0]

    def release(self) -> None:
        if self.holding:
            self.fleet.store.release_lease(SUPERVISOR_LEASE, self.holder)
            self.holding = False


class Supervisor:
    """Runs observations back to back (never overlapping); dispatches while it holds the lease."""

    def __init__(self, fleet: Fleet, interval: float = FAST_INTERVAL, role: str = "serve") -> None:
        self.fleet = fleet
        self.interval = interval
        self.observer = Observer(fleet, continuous=True)
        self.supervision = Supervision(fleet, role)
        self.stopped = threading.Event()
        self.on_state_change: Callable[[str, Detected], None] | None = None
        self.on_lease_change: Callable[[bool, str | None], None] | None = None
        """Called with (dispatching here, who dispatches otherwise) whenever this process takes or loses it."""
        self.on_config_change: Callable[[ConfigChange], None] | None = None
        """Called when the config file changed on disk: the new config in use, or why it is not used."""
        self._was_holding: bool | None = None

    def tick(self) -> list[AgentStatus]:
        change = self.fleet.follow_config(self.supervision.clock())
        if change is not None and self.on_config_change is not None:
            self.on_config_change(change)
        self.observer.on_state_change = self.on_state_change
        statuses = self.observer.observe()
        self.supervision.after_look(self.observer, statuses)
        holding = self.supervision.holding
        if holding != self._was_holding:
            self._was_holding = holding
            if self.on_lease_change is not None:
                self.on_lease_change(holding, None if holding else self.supervision.dispatcher_name())
        return statuses

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                self.tick()
                busy = self.supervision.busy
                self.stopped.wait(self.interval if busy else max(self.interval, QUIET_INTERVAL))
        finally:
            self.supervision.release()

    def stop(self) -> None:
        self.stopped.set()


# --- the headless supervisor in its hidden session ---------------------------------------------------------

def serve_running(fleet: Fleet) -> bool:
    """Is `agentmux serve` alive in its hidden session on this socket (one agentmux made, by its mark)?"""
    return (any(pane.session == SERVE_SESSION and not pane.dead for pane in fleet.tmux.list_panes())
            and fleet.tmux.session_mark(SERVE_SESSION, SERVE_OPTION) == "1")


def start_serve(fleet: Fleet) -> bool:
    """Start `agentmux serve` in the hidden session unless it runs; True when it was started now.

    It lives as long as the tmux server (so as long as the agents), keeps dispatching when no TUI is open,
    and stands by while a TUI holds the lease. Its output: `tmux -L SOCKET attach -t _agentmux-serve`."""
    if serve_running(fleet):
        return False
    fleet.tmux.make_way(SERVE_SESSION, SERVE_OPTION, "1")  # a dead one (remain-on-exit) is replaced
    env = fleet.tmux.client_env  # the minimal environment every agent starts from: no agent's secrets
    argv = [sys.executable, "-m", "agentmux", "--config", str(fleet.config.path), "serve"]
    fleet.tmux.new_session(SERVE_SESSION, argv, fleet.config.path.parent, env, 160, 40, 2000,
                           marks={SERVE_OPTION: "1"})
    return True


def stop_serve(fleet: Fleet) -> bool:
    """Stop the headless supervisor (it releases the lease on the way out); True when one was running."""
    running = serve_running(fleet)
    fleet.tmux.kill_own_session(SERVE_SESSION, SERVE_OPTION)
    return running
