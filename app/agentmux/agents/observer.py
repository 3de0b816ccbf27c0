"""Observation: from tmux's panes to each agent's state, in two tmux calls for the whole fleet.

One `list-panes -a` reads the cheap change signals of every pane; one chained `capture-pane` call
reads only the panes whose signals moved. Detectors turn the screens into states; the store keeps
them, so every process (CLI, TUI, supervisor) sees the same fleet.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from agentmux import ansi
from agentmux.agents.detectors import DETECT_LINES, Observation
from agentmux.agents.kinds import kind_of
from agentmux.agents.state import Debouncer, Detected
from agentmux.ansi import visible_lines
from agentmux.config import Config
from agentmux.processes import process_alive
from agentmux.redact import Redactor
from agentmux.state import AgentState
from agentmux.store import AgentRecord, HookEvent, Store
from agentmux.tmux.backend import PANE_IS_DEAD_RE, CaptureRequest, PaneInfo, TmuxServer


class Watched(Protocol):
    """What an observer reads (a Fleet is one): the config, the store, the tmux server, and how to mask an
    agent's own secrets in what it printed."""

    config: Config
    store: Store
    tmux: TmuxServer

    def redactor(self, name: str, pane: PaneInfo | None) -> Redactor: ...


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
    restarts: int = 0
    """Restarts in a row by its restart policy."""
    last_turn_at: float | None = None
    """When its last turn ended: its newest Stop or StopFailure hook event of this run (claude agents), else None."""
    screen: str = field(default="", repr=False)

    @property
    def takes_tasks(self) -> bool:
        """Its program runs and can take the next task: a live state, or an error its program reported and runs
        on after (an api agent whose last request failed, back at its prompt). Else its queued tasks wait."""
        return self.state.is_live or (self.state == AgentState.ERROR and self.process_alive)

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
    captured_at: float = 0.0
    saved_at: float = 0.0
    record: AgentRecord | None = None
    status: AgentStatus | None = None
    pid: int | None = None


SETTLED = frozenset({AgentState.IDLE, AgentState.WAITING, AgentState.EXITED, AgentState.ERROR,
                     AgentState.STOPPED})
"""States that only a change on screen (or in tmux) can end; busy and starting also end with time."""
RECORDS_TTL = 1.0
"""Seconds a continuous observer trusts its copy of the agents' rows."""


def last_lines(screen: str, count: int | None = DETECT_LINES) -> list[str]:
    """The last lines a detector reads (`count`, or all of them for None): what the program printed last
    (tmux's own "Pane is dead" line and the blank rows above it left out)."""
    lines = visible_lines(screen)
    if lines and PANE_IS_DEAD_RE.match(ansi.plain(lines[-1])):
        lines = visible_lines("\n".join(lines[:-1]))
    return lines if count is None else lines[-count:]


def format_age(seconds: float | None) -> str:
    """A duration the way a person reads it at a glance: 42s, 5m, 3h, 2d; `-` when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(0.0, seconds):.0f}s"




def not_started(name: str, kind: str, since: float) -> AgentRecord:
    """The record of a configured agent that was never started: stopped since `since`."""
    return AgentRecord(name=name, kind=kind, session=None, pane_id=None, pid=None, desired="stopped",
                       state=AgentState.STOPPED, reason="not started", state_since=since, exit_status=None,
                       started_at=None, stopped_at=None, last_output_at=None, screen_hash=None,
                       cleanup_pending=False)


def screen_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


class Observer:
    """Keeps the fleet's states current. `continuous` observers (a supervisor loop) debounce and
    remember screens between ticks; a one-shot observer (a CLI call) starts from what the store knows.
    """

    def __init__(self, fleet: Watched, continuous: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.continuous = continuous
        self.clock = clock
        self.memory: dict[str, _Memory] = {}
        self._cached_records: list[AgentRecord] = []
        self._records_read_at = 0.0
        self._hooks: dict[str, HookEvent] = {}
        self._turn_ends: dict[str, HookEvent] = {}
        """Each agent's newest Stop or StopFailure hook event: when its last turn ended."""
        self._hook_id: int | None = None
        self.panes: dict[str, PaneInfo] = {}
        """Each running agent's pane as the last look saw it (cursor, history size, exit status)."""
        self.on_state_change: Callable[[str, Detected], None] | None = None

    def _memory(self, record: AgentRecord) -> _Memory:
        memory = self.memory.get(record.name)
        if memory is None:
            memory = _Memory(record.screen_hash, record.last_output_at)
            if self.continuous:
                memory.debouncer = Debouncer(Detected(record.state, record.reason))
            self.memory[record.name] = memory
        return memory

    def _records(self, panes: dict[str, PaneInfo], now: float) -> list[AgentRecord]:
        """The agents' rows: re-read from the store at most once a second by a continuous observer
        (other processes change them rarely), at every call by a one-shot one."""
        fleet, store = self.fleet, self.fleet.store
        fresh_enough = self.continuous and now - self._records_read_at < RECORDS_TTL
        known = {record.name for record in self._cached_records}
        if fresh_enough and set(panes) <= known and set(fleet.config.names()) <= known:
            return self._cached_records
        config_names = set(fleet.config.names())
        records = store.agents()  # one query for the fleet, not one per pane
        stored = {record.name for record in records}
        unknown = [(name, pane) for name, pane in panes.items() if name not in stored]
        for name, pane in unknown:
            # A session started by an earlier agentmux whose store was lost: adopt it.
            kind = fleet.config.agent(name).kind if name in config_names else "command"
            store.mark_started(name, kind, pane.session, pane.pane_id, pane.pid, now)
        if unknown:
            records = store.agents()
        missing = config_names - {record.name for record in records}
        if missing:
            # Configured, never started: shown as stopped without a row, which only starting it writes (a
            # row written here by a process still reading an older config would bring a removed agent back).
            try:
                configured_at = fleet.config.path.stat().st_mtime
            except OSError:
                configured_at = now
            unstarted = [not_started(name, fleet.config.agent(name).kind, configured_at) for name in missing]
            records = sorted(records + unstarted, key=lambda record: record.name)
        self._cached_records, self._records_read_at = records, now
        return records

    def _read_hooks(self) -> None:
        """Claude Code's hook events since the last look (one query; at first the newest of each agent, and
        its newest turn end, one more)."""
        store = self.fleet.store
        if self._hook_id is None:
            self._turn_ends = store.newest_turn_ends()
        for event in store.hook_events_after(self._hook_id):
            if not event.restates:
                self._hooks[event.agent] = event
            if event.event in ("Stop", "StopFailure"):
                self._turn_ends[event.agent] = event
            self._hook_id = event.id
        if self._hook_id is None:
            self._hook_id = 0

    @property
    def newest_hook(self) -> int | None:
        """The id of the newest hook event read, None while the fleet has no hooked agent."""
        return self._hook_id

    def heard_from(self, name: str, since: float | None) -> bool:
        """Has the agent's newest hook event (as read at the last look) come since `since`, its start?"""
        event = self._hooks.get(name)
        return event is not None and (since is None or event.at >= since)

    def _hook_of(self, record: AgentRecord) -> HookEvent | None:
        """The agent's newest hook event, when it came from this run of the agent (not the one before)."""
        return self._of_this_run(record, self._hooks.get(record.name))

    def _turn_end_of(self, record: AgentRecord) -> float | None:
        """When the agent's last turn of this run ended (Stop or StopFailure), or None."""
        event = self._of_this_run(record, self._turn_ends.get(record.name))
        return None if event is None else event.at

    @staticmethod
    def _of_this_run(record: AgentRecord, event: HookEvent | None) -> HookEvent | None:
        if event is None or (record.started_at is not None and event.at < record.started_at):
            return None
        return event

    def observe(self, should_capture: Callable[[str], bool] | None = None) -> list[AgentStatus]:
        """One look at the whole fleet. `should_capture(name)` may hold back captures of agents nobody
        is looking at (a continuous observer still reads their cheap signals every time)."""
        now = self.clock()
        panes = self.panes = {p.agent: p for p in self.fleet.tmux.list_panes() if p.agent}
        server_running = bool(panes) or self.fleet.tmux.is_running()
        records = self._records(panes, now)
        if any(kind_of(record.kind).hooked for record in records):  # no query per look for a fleet without any
            self._read_hooks()
        to_capture = []
        for record in records:
            pane = panes.get(record.name)
            memory = self._memory(record)
            if pane is None or (pane.dead and not record.state.is_live):
                continue  # a pane that just died is read once more: its last lines may say why (init failed)
            moved = pane.change_signal != memory.signal or pane.activity >= int(memory.captured_at)
            if (not self.continuous or moved) and (should_capture is None or should_capture(record.name)):
                to_capture.append(CaptureRequest(pane.pane_id))
                memory.captured_at = now
        screens = self.fleet.tmux.capture(to_capture)
        config_names = set(self.fleet.config.names())
        statuses = [
            self._observe_one(record, panes.get(record.name), screens, server_running, now,
                              record.name in config_names)
            for record in records
        ]
        self._cached_records = [self.memory[s.name].record or r for s, r in zip(statuses, records, strict=True)]
        return statuses

    def steady(self, name: str) -> bool:
        """The agent's shown state is what its detector says right now (no other state is being confirmed)."""
        memory = self.memory.get(name)
        return memory is None or memory.debouncer is None or memory.debouncer.settled

    def _observe_one(self, record: AgentRecord, pane: PaneInfo | None, screens: dict[str, str],
                     server_running: bool, now: float, in_config: bool) -> AgentStatus:
        store = self.fleet.store
        memory = self._memory(record)
        settled = memory.status is not None and memory.status.state in SETTLED and memory.record == record \
            and memory.status.last_turn_at == self._turn_end_of(record)
        if settled and pane is not None and pane.pane_id not in screens and pane.change_signal == memory.signal \
                and memory.debouncer is not None and memory.debouncer.settled:
            assert memory.status is not None
            return memory.status  # nothing moved and the state cannot change by time alone
        spec = self.fleet.config.agent(record.name) if in_config else None
        kind = kind_of(record.kind)
        if pane is None:
            detected = self._vanished(record, server_running)
        else:
            if pane.pane_id != record.pane_id or pane.pid != record.pid:
                fresh = store.agent(record.name)
                if fresh is not None and (fresh.pane_id, fresh.pid) == (pane.pane_id, pane.pid):
                    record = fresh  # (re)started by a process that wrote it down: its start time too
                else:
                    store.set_pane(record.name, pane.session, pane.pane_id, pane.pid)
                    record = replace(record, session=pane.session, pane_id=pane.pane_id, pid=pane.pid)
            if memory.pid is not None and memory.pid != pane.pid:
                # another program in the pane (a restart): the last one's output says nothing of its quiet
                memory.last_output_at, memory.screen_hash = None, None
            memory.pid = pane.pid
            if pane.pane_id in screens:
                mask = self.fleet.redactor(record.name, pane)
                self._take_screen(record, memory, mask(screens[pane.pane_id]) if mask else screens[pane.pane_id],
                                  pane, now)
                memory.signal = pane.change_signal
            idle_after = self.fleet.config.idle_after(spec) if spec else self.fleet.config.settings.idle_after
            detected = kind.detect(Observation(
                screen=ansi.plain("\n".join(last_lines(memory.screen, kind.screen_lines))),
                now=now,
                started_at=record.started_at or now,
                last_output_at=memory.last_output_at,
                idle_after=idle_after,
                pane_dead=pane.dead,
                exit_status=pane.dead_status,
                exit_signal=pane.dead_signal,
                stop_requested=record.desired == "stopped",
                hook=self._hook_of(record),
            ))
            if pane.dead and pane.pane_id not in screens and detected.state == record.state:
                detected = Detected(record.state, record.reason)  # said when it ended, from its last screen
        if memory.debouncer is not None:
            detected = memory.debouncer.feed(detected, now)
        exit_status = pane.dead_status if pane is not None and pane.dead else record.exit_status
        if (detected.state, detected.reason, exit_status) != (record.state, record.reason, record.exit_status):
            changed = store.set_state(record.name, detected.state, detected.reason, now, exit_status)
            since = now if changed else record.state_since
            record = replace(record, state=detected.state, reason=detected.reason, exit_status=exit_status,
                             state_since=since)
            if changed and self.on_state_change:
                self.on_state_change(record.name, detected)
        memory.record = record
        memory.status = AgentStatus(
            name=record.name, kind=record.kind, state=record.state, reason=record.reason, since=record.state_since,
            session=pane.session if pane else None, pane_id=pane.pane_id if pane else None,
            pid=pane.pid if pane else None,
            process_alive=bool(pane and not pane.dead and process_alive(pane.pid)),
            exit_status=record.exit_status, started_at=record.started_at, last_output_at=memory.last_output_at,
            in_config=in_config, restarts=record.restarts, last_turn_at=self._turn_end_of(record),
            screen=memory.screen,
        )
        return memory.status

    def _take_screen(self, record: AgentRecord, memory: _Memory, screen: str, pane: PaneInfo, now: float) -> None:
        """Remember a fresh capture; a changed screen is new output (kept in the store at most once a
        second by a continuous observer, so a printing agent does not mean a write per tick)."""
        memory.screen = screen
        digest = screen_hash(screen)
        if digest == memory.screen_hash:
            return
        if memory.screen_hash is not None or screen.strip():
            memory.last_output_at = now if self.continuous else float(max(pane.activity, record.started_at or 0))
        memory.screen_hash = digest
        if not self.continuous or now - memory.saved_at >= 1.0:
            self.fleet.store.record_output(record.name, digest, memory.last_output_at)
            memory.saved_at = now

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
