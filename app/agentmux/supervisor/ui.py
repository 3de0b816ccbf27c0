"""The TUI's consumer of the supervisor's looks: it keeps what changed for the UI thread, coalesced.

Plain Python (no Textual): the supervisor's thread hands it each look (`consume`), the UI thread takes
what is new (`take`). If the UI falls behind it gets the newest screen of each agent, never a backlog. It
also says which agents the UI needs captured (tiles on screen, the focused one; others every few seconds)
and reads the queue panel's tasks for what the panel shows (one agent's, or every agent's), and the coordination
summary (locks, barriers, messages... `coord/summary.py`) for the tiles' badges and the coordination view,
and the API usage summary (`api/summary.py`: cost and tokens per agent, who waits for a permit) for the tiles'
usage badges and the usage view.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agentmux.agents.observer import AgentStatus
from agentmux.agents.state import Detected
from agentmux.api.summary import UsageSummary, read_usage, utc_day
from agentmux.config import Config
from agentmux.coord.summary import CoordSummary, read_summary
from agentmux.logs.feed import LogFeed
from agentmux.logs.model import LogEntry
from agentmux.queue import Queue, Task
from agentmux.queue.model import QueueSummary
from agentmux.store import Store
from agentmux.supervisor.look import Look
from agentmux.supervisor.timing import HIDDEN_EVERY, QUIET_AFTER

PENDING_LOGS = 20000
"""Log entries kept for a UI that has not looked yet (it shows a ring per agent: older ones would be dropped)."""
COORD_EVERY = 1.0
"""Seconds between reads of the coordination summary while the store does not change: leases end, and a hold
ends with its agent's run (which this process's own writes record: SQLite's data_version misses those)."""
USAGE_EVERY = 2.0
"""The most often the usage summary is read (when the store changed; a wait counts up on the UI's own clock)."""


@dataclass(frozen=True)
class QueueView:
    """The queue as the UI shows it: each agent's depth, the panel's tasks, paused agents, who dispatches."""

    tasks: tuple[Task, ...]
    """The tasks the panel shows (of its agent, or of every agent), open ones first, then the newest ended."""
    paused: frozenset[str]
    dispatcher: str | None
    """The process that dispatches (its lease holder name), or None when none does."""
    here: bool
    """This process is the dispatcher."""
    down: Mapping[str, str] = field(default_factory=dict)
    """Why each agent that is not running is down (`error: exited with status 1`): its tasks wait for it."""
    depths: Mapping[str, int] = field(default_factory=dict)
    """Tasks not ended, per agent (from a count per agent: right at any queue size)."""
    scope: tuple[str | None, bool] = (None, True)
    """What `tasks` holds: (one agent's, or with True every agent's)."""

    def depth(self, agent: str) -> int:
        return self.depths.get(agent, 0)


@dataclass
class UiUpdate:
    """What changed since the UI last looked."""

    statuses: list[AgentStatus] | None = None
    screens: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[str, Detected]] = field(default_factory=list)
    queue: QueueView | None = None
    config: Config | None = None
    """The config file as read again after it changed on disk (another command or an editor wrote it)."""
    problems: list[str] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    """Log entries stored since the UI last looked, oldest first (the newest `PENDING_LOGS` when it fell behind)."""
    coord: CoordSummary | None = None
    """The coordination summary, when it changed since the UI last looked (else None)."""
    usage: UsageSummary | None = None
    """The API usage summary, when it changed since the UI last looked (else None)."""


class UiBuffer:
    """Coalesces looks for a UI; safe to read from the UI thread while the supervisor's thread writes."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time,
                 on_news: Callable[[], None] | None = None, feed: LogFeed | None = None) -> None:
        self.store = store
        self.queue = Queue(store)
        self.feed = feed
        """The live view's log entries (a ring per agent), read from the log database at each look."""
        self.clock = clock
        self.on_news = on_news
        """Called (in the supervisor's thread) when there is news to take."""
        self.visible: frozenset[str] = frozenset()
        """Agents whose tiles are on screen; set by the UI thread (replaced, never mutated)."""
        self.focused: str | None = None
        self.panel: tuple[str | None, bool] = (None, False)
        """What the queue panel shows: (its agent, every agent's instead); set by the UI thread."""
        self.last_change = 0.0
        """When a screen last changed: a quiet fleet is looked at less often."""
        self._hidden_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._pending = UiUpdate()
        self._logs_problem: str | None = None
        self._last_statuses: tuple[AgentStatus, ...] | None = None
        self._summary: QueueSummary | None = None
        self._panel_read: tuple[str | None, bool] | None = None
        self._down: Mapping[str, str] = MappingProxyType({})
        self._coord: CoordSummary | None = None
        self._coord_seen: tuple[int, float] | None = None
        """The store's data_version and the time at the last read of the coordination summary."""
        self._coord_problem: str | None = None
        self._usage: UsageSummary | None = None
        self._usage_seen: tuple[int, float] | None = None
        """The store's data_version and the time at the last read of the usage summary."""
        self._usage_problem: str | None = None

    # --- the supervisor's side ---------------------------------------------------------------------------

    def wants(self, name: str) -> bool:
        if name in self.visible or name == self.focused:
            return True
        now = self.clock()
        if now - self._hidden_at.get(name, 0.0) >= HIDDEN_EVERY:
            self._hidden_at[name] = now
            return True
        return False

    @property
    def busy(self) -> bool:
        """Screens changed lately: visible tiles refresh at the fast rate."""
        return self.clock() - self.last_change <= QUIET_AFTER

    def consume(self, look: Look) -> None:
        news = False
        with self._lock:
            pending = self._pending
            if look.config_change is not None:
                pending.config = look.config_change.config or pending.config
                if look.config_change.problem:
                    pending.problems.append(look.config_change.problem)
                news = True
            if look.logs_problem != self._logs_problem:
                self._logs_problem = look.logs_problem
                if look.logs_problem:
                    pending.problems.append(look.logs_problem)
                    news = True
            if look.screens:
                pending.screens.update(look.screens)
                self.last_change = look.at
                news = True
            if look.changes:
                pending.changes.extend(look.changes)
                news = True
            if look.statuses != self._last_statuses:
                self._last_statuses = look.statuses
                pending.statuses = list(look.statuses)
                news = True
            if self.feed is not None:
                entries = self.feed.poll()
                if entries:
                    pending.logs.extend(entries)
                    del pending.logs[:-PENDING_LOGS]
                    news = True
            down = {s.name: f"{s.state.value}: {s.reason}" for s in look.statuses if not s.takes_tasks}
            view = self._queue_view(look, down)
            if view is not None:
                pending.queue = view
                news = True
            said = len(pending.problems)
            coord = self._coord_summary(look.at, pending.problems)
            if coord is not None:
                pending.coord = coord
            usage = self._usage_summary(look.at, pending.problems)
            if usage is not None:
                pending.usage = usage
            news = news or coord is not None or usage is not None or len(pending.problems) > said
        if news and self.on_news is not None:
            self.on_news()

    def _queue_view(self, look: Look, down: dict[str, str]) -> QueueView | None:
        """A new view of the queue when the store changed, who dispatches did, an agent went down or came
        back, or the panel shows something else; else None."""
        panel = self.panel
        if look.queue is None and panel == self._panel_read and down == self._down:
            return None
        if look.queue is not None:
            self._summary = look.queue
        summary = self._summary or self.queue.summary()
        self._panel_read, self._down = panel, MappingProxyType(down)
        agent, every = panel
        tasks = tuple(self.queue.board(None if every else agent)) if every or agent else ()
        return QueueView(tasks=tasks, paused=summary.paused, dispatcher=look.dispatcher, here=look.holding,
                         down=self._down, depths=summary.depths, scope=panel)

    def _coord_summary(self, now: float, problems: list[str]) -> CoordSummary | None:
        """The coordination summary read again when the store changed or a second passed; returned only when
        it shows something else than the last one (a lease counting down is the UI's to show)."""
        try:
            version = int(self.store.db.execute("PRAGMA data_version").fetchone()[0])
            if self._coord_seen is not None and version == self._coord_seen[0] \
                    and 0 <= now - self._coord_seen[1] < COORD_EVERY:
                return None
            self._coord_seen = (version, now)
            summary = read_summary(self.store.db, now)
        except sqlite3.Error as exc:
            problem = f"cannot read the coordination state: {exc}"
            if problem != self._coord_problem:
                self._coord_problem = problem
                problems.append(problem)
            return None
        self._coord_problem = None
        if summary == self._coord:
            return None
        self._coord = summary
        return summary

    def _usage_summary(self, now: float, problems: list[str]) -> UsageSummary | None:
        """The usage summary read again when the store changed (at most every USAGE_EVERY seconds), the UTC day did,
        or someone waits (a waiter whose process died is dropped after a while though nobody writes: this
        process's own writes do not change data_version); returned only when it reads differently."""
        seen, last = self._usage_seen, self._usage
        if seen is not None and 0 <= now - seen[1] < USAGE_EVERY:
            return None  # before any query: most looks end here
        try:
            version = int(self.store.db.execute("PRAGMA data_version").fetchone()[0])
            if seen is not None and version == seen[0] and last is not None and last.day == utc_day(now) \
                    and not last.waiting:
                return None
            summary = read_usage(self.store.db, now)
            self._usage_seen = (version, now)  # after the read: one that failed is tried again
        except sqlite3.Error as exc:
            problem = f"cannot read the API usage: {exc}"
            if problem != self._usage_problem:
                self._usage_problem = problem
                problems.append(problem)
            return None
        self._usage_problem = None
        if summary == last:
            return None
        self._usage = summary
        return summary

    @property
    def usage(self) -> UsageSummary | None:
        """The last usage summary read (None before the first look)."""
        return self._usage

    @property
    def coord(self) -> CoordSummary | None:
        """The last coordination summary read (None before the first look)."""
        return self._coord

    # --- the UI's side -----------------------------------------------------------------------------------

    def recent_logs(self, agent: str | None, count: int) -> list[LogEntry]:
        """The newest entries the live feed keeps, oldest first: one agent's ring, or every agent's merged.

        Read without the lock (which the supervisor's thread holds while it reads the store): `LogFeed.recent`
        copies the rings that thread appends to."""
        return [] if self.feed is None else self.feed.recent(agent, count)

    def take(self) -> UiUpdate:
        """Everything new since the last call."""
        with self._lock:
            update, self._pending = self._pending, UiUpdate()
            return update
