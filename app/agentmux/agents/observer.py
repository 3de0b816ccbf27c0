"""Observation: from tmux's panes to each agent's state, in two tmux calls for the whole fleet.

One `list-panes -a` reads the cheap change signals of every pane; one chained `capture-pane` call
reads only the panes whose signals moved. Detectors turn the screens into states; the store keeps
them, so every process (CLI, TUI, supervisor) sees the same fleet.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agentmux.agents.detectors import Observation, strip_ansi
from agentmux.agents.kinds import KINDS
from agentmux.agents.state import AgentState, Debouncer, Detected
from agentmux.store import AgentRecord
from agentmux.tmux.backend import CaptureRequest, PaneInfo

if TYPE_CHECKING:
    from agentmux.agents.lifecycle import Fleet


@dataclass(frozen=True)
class AgentStatus:
    """What a user sees of one agent: state, health and where it runs."""

    name: str
    kind: str
    state: AgentState
    reason: str
    since: float
    session: str | None
    pane_id: str | None
    pid: int | None
    process_alive: bool
    exit_status: int | None
    started_at: float | None
    last_output_at: float | None
    in_config: bool
    screen: str = field(default="", repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("screen")
        data["state"] = self.state.value
        return data


@dataclass
class _Memory:
    screen_hash: str | None
    last_output_at: float | None
    signal: tuple[int, int, int, int, bool] | None = None
    screen: str = ""
    debouncer: Debouncer | None = None


def process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def screen_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


class Observer:
    """Keeps the fleet's states current. `continuous` observers (a supervisor loop) debounce and
    remember screens between ticks; a one-shot observer (a CLI call) starts from what the store knows.
    """

    def __init__(self, fleet: Fleet, continuous: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.continuous = continuous
        self.clock = clock
        self.memory: dict[str, _Memory] = {}
        self.on_state_change: Callable[[str, Detected], None] | None = None

    def _memory(self, record: AgentRecord) -> _Memory:
        memory = self.memory.get(record.name)
        if memory is None:
            memory = _Memory(record.screen_hash, record.last_output_at)
            if self.continuous:
                memory.debouncer = Debouncer(Detected(record.state, record.reason))
            self.memory[record.name] = memory
        return memory

    def observe(self) -> list[AgentStatus]:
        fleet = self.fleet
        store = fleet.store
        now = self.clock()
        panes = {p.agent: p for p in fleet.tmux.list_panes() if p.agent}
        server_running = bool(panes) or fleet.tmux.is_running()
        config_names = set(fleet.config.names())
        for name, pane in panes.items():
            if store.agent(name) is None:
                # A session started by an earlier agentmux whose store was lost: adopt it.
                kind = fleet.config.agent(name).kind if name in config_names else "command"
                store.mark_started(name, kind, pane.session, pane.pane_id, pane.pid, now)
        records = store.agents()
        missing = config_names - {record.name for record in records}
        for name in missing:
            store.ensure_agent(name, fleet.config.agent(name).kind, now)
        if missing:
            records = store.agents()

        to_capture = []
        for record in records:
            found = panes.get(record.name)
            memory = self._memory(record)
            if found is not None and (found.change_signal != memory.signal or not self.continuous):
                to_capture.append(CaptureRequest(found.pane_id))
        screens = fleet.tmux.capture(to_capture) if to_capture else {}

        statuses = []
        for record in records:
            statuses.append(self._observe_one(record, panes.get(record.name), screens, server_running, now,
                                              record.name in config_names))
        return statuses

    def _observe_one(self, record: AgentRecord, pane: PaneInfo | None, screens: dict[str, str],
                     server_running: bool, now: float, in_config: bool) -> AgentStatus:
        store = self.fleet.store
        memory = self._memory(record)
        spec = self.fleet.config.agent(record.name) if in_config else None
        kind = KINDS.get(record.kind, KINDS["command"])
        stop_requested = record.desired == "stopped"
        if pane is None:
            detected = self._vanished(record, server_running)
        else:
            if pane.pane_id != record.pane_id or pane.pid != record.pid:
                store.set_pane(record.name, pane.session, pane.pane_id, pane.pid)
            if pane.pane_id in screens:
                memory.screen = screens[pane.pane_id]
                digest = screen_hash(memory.screen)
                if digest != memory.screen_hash:
                    changed_at = now if self.continuous else float(max(pane.activity, record.started_at or 0))
                    memory.last_output_at = changed_at if memory.screen_hash is not None or memory.screen.strip() \
                        else memory.last_output_at
                    memory.screen_hash = digest
                    store.record_output(record.name, digest, memory.last_output_at)
                memory.signal = pane.change_signal
            idle_after = self.fleet.config.idle_after(spec) if spec else self.fleet.config.settings.idle_after
            observation = Observation(
                screen=strip_ansi(memory.screen),
                now=now,
                started_at=record.started_at or now,
                last_output_at=memory.last_output_at,
                idle_after=idle_after,
                pane_dead=pane.dead,
                exit_status=pane.dead_status,
                exit_signal=pane.dead_signal,
                stop_requested=stop_requested,
            )
            detected = kind.detect(observation)
        if memory.debouncer is not None:
            detected = memory.debouncer.feed(detected, now)
        exit_status = pane.dead_status if pane is not None and pane.dead else None
        if store.set_state(record.name, detected.state, detected.reason, now, exit_status) and self.on_state_change:
            self.on_state_change(record.name, detected)
        fresh = store.agent(record.name) or record
        return AgentStatus(
            name=record.name, kind=record.kind, state=fresh.state, reason=fresh.reason, since=fresh.state_since,
            session=pane.session if pane else None, pane_id=pane.pane_id if pane else None,
            pid=pane.pid if pane else None,
            process_alive=bool(pane and not pane.dead and process_alive(pane.pid)),
            exit_status=fresh.exit_status, started_at=fresh.started_at, last_output_at=memory.last_output_at,
            in_config=in_config, screen=memory.screen,
        )

    @staticmethod
    def _vanished(record: AgentRecord, server_running: bool) -> Detected:
        if record.state in (AgentState.STOPPED, AgentState.EXITED, AgentState.ERROR):
            return Detected(record.state, record.reason)
        if record.desired == "stopped":
            return Detected(AgentState.STOPPED, "stopped")
        if not server_running:
            return Detected(AgentState.ERROR, "its tmux session vanished: the tmux server is not running "
                                              "(killed, or the machine restarted)")
        return Detected(AgentState.ERROR, "its tmux session vanished (killed outside agentmux)")
