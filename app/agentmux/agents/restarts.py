"""Restart policies: the lease holder starts again an agent that ended, when its `restart` says so.

`restart = "on-failure"` restarts an agent that ended in `error` (a non-zero exit, a signal, its session
gone); `"always"` also one that exited with status 0; `"no"` (the default) never. An agent stopped by the
user is never restarted. Restarts wait 1 s, 2 s, 4 s ... (at most 60 s) after the end, and after
`restart_limit` restarts in a row agentmux gives up, saying so in the agent's reason; a run that lasted
RESTART_RESET seconds counts as healthy, so the count starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentmux.agents.observer import AgentStatus
from agentmux.errors import AgentmuxError
from agentmux.state import AgentState
from agentmux.store import AgentRecord

if TYPE_CHECKING:
    from agentmux.agents.lifecycle import Fleet

RESTART_RESET = 60.0
"""Seconds an agent must have run for its next end to count as a first failure again."""
BACKOFF_MAX = 60.0
NOTE = "; restart "
GAVE_UP = "; gave up after "


def base_reason(reason: str) -> str:
    """The reason an agent ended, without the restart note this module adds to it."""
    return reason.split(NOTE, 1)[0].split(GAVE_UP, 1)[0]


def backoff(restarts: int) -> float:
    """Seconds between an end and restart number `restarts + 1`."""
    return min(BACKOFF_MAX, 2.0 ** restarts)


class Restarter:
    """After each look, while this process holds the supervisor lease: restart what its policy says."""

    def __init__(self, fleet: Fleet, on_event: Callable[[str], None] | None = None) -> None:
        self.fleet = fleet
        self.on_event = on_event
        self._reaped: set[tuple[str, float | None]] = set()

    def wants(self, status: AgentStatus) -> bool:
        """Could this agent's policy restart it? (Cheap: from the look alone.)"""
        if not status.in_config or status.state not in (AgentState.ERROR, AgentState.EXITED):
            return False
        if status.process_alive:
            return False  # a turn that failed (a claude agent's hooks, a codex agent's screen): the program runs on
        policy = self.fleet.config.restart(self.fleet.config.agent(status.name))
        return policy == "always" or (policy == "on-failure" and status.state == AgentState.ERROR)

    def tick(self, statuses: list[AgentStatus], now: float) -> None:
        for status in statuses:
            if status.session is None and status.state == AgentState.ERROR and status.started_at is not None:
                self._reap(status)
            if self.wants(status):
                record = self.fleet.store.agent(status.name)
                if record is not None and record.desired == "running" and record.state == status.state:
                    self._consider(record, now)

    def _consider(self, record: AgentRecord, now: float) -> None:
        if GAVE_UP in record.reason:
            return  # said once; a start by hand (`agentmux up`) begins again
        spec = self.fleet.config.agent(record.name)
        limit = self.fleet.config.restart_limit(spec)
        ran = record.state_since - (record.started_at or record.state_since)
        count = 0 if ran >= RESTART_RESET else record.restarts
        reason = base_reason(record.reason)
        if count >= limit:
            note = (f"{reason}{GAVE_UP}{count} restart{'s' if count != 1 else ''} in a row (restart_limit {limit}); "
                    f"`agentmux up {record.name}` starts it again")
            self._note(record, note)
            return
        delay = backoff(count)
        if now < record.state_since + delay:
            self._note(record, f"{reason}{NOTE}{count + 1} of {limit} in {delay:g}s")
            return
        try:
            outcome = self.fleet.respawn(record.name, count + 1)
        except AgentmuxError as exc:
            self._note(record, f"{reason}{GAVE_UP}{count} restarts: cannot start it again: {exc}")
            return
        self._say(f"{record.name}: {outcome.message} after: {reason}")

    def _reap(self, status: AgentStatus) -> None:
        """An agent whose session vanished (its tmux server was killed): end what of it outlived the server,
        once per start, so a program that ignores the hang-up does not run on unseen."""
        key = (status.name, status.started_at)
        if key in self._reaped:
            return
        self._reaped.add(key)
        try:
            ended = self.fleet.end_leftovers(status.name)
        except AgentmuxError as exc:
            self._say(str(exc))
            return
        if ended:
            self._say(f"{status.name}: ended processes that outlived its tmux session "
                      f"(pids {', '.join(map(str, ended))})")

    def _note(self, record: AgentRecord, reason: str) -> None:
        if record.reason != reason:
            self.fleet.store.set_state(record.name, record.state, reason)

    def _say(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)
