"""The live log panel of the dashboard (the queue panel is in queue.py): the newest log entries of the focused
agent, or of every agent, as the log feed brings them (`UiUpdate.logs`); Enter opens the log viewer."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static

from agentmux.logs import LogEntry
from agentmux.tui.handle import app_of
from agentmux.tui.widgets.direct import DirectLines
from agentmux.tui.widgets.logtext import DIM, LABEL_STYLE, MARK, agent_style, text_segments

LOG_LINES = 500
"""Entries the panel keeps (more than it can show at any height)."""
FLUSH_EVERY = 0.25
AGENT_WIDTH = 10


class LogTail(DirectLines, can_focus=True):
    """The newest entries that fit, bottom-aligned; a fixed-size Line API view.

    Appending never changes its size, so new entries cost one repaint of this widget, not a layout of the
    screen (the scrollable, searchable view is the log viewer). An entry is parsed only when shown, and each
    shown entry's strip is kept while it stays on screen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: deque[LogEntry] = deque(maxlen=LOG_LINES)
        self.show_agent = False
        self.fleet: tuple[str, ...] = ()
        """The agents in the config's order (their names' colours)."""
        self._strips: dict[int, Strip] = {}
        self._strips_width = 0

    def add(self, entries: Iterable[LogEntry]) -> None:
        self.entries.extend(entries)
        kept = {entry.id for entry in list(self.entries)[-max(self.size.height, 1):]}
        self._strips = {number: strip for number, strip in self._strips.items() if number in kept}
        self.refresh()

    def replace(self, entries: Iterable[LogEntry], show_agent: bool) -> None:
        self.entries.clear()
        self.show_agent = show_agent
        self._strips.clear()
        self.add(entries)

    def on_resize(self) -> None:
        self._strips.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = {}

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._strips_width != self.size.width:  # a resize is drawn before the widget hears of it
            self._strips = {}
            self._strips_width = self.size.width
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        index = len(self.entries) - height + y
        style = self.rich_style
        if index < 0:
            return Strip.blank(width, style)
        entry = self.entries[index]
        strip = self._strips.get(entry.id)
        if strip is None:
            strip = self._strips[entry.id] = self._render_entry(entry, width, style, self.show_agent, self.fleet)
        return strip

    @staticmethod
    def _render_entry(entry: LogEntry, width: int, base: Style, show_agent: bool, fleet: tuple[str, ...]) -> Strip:
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.at))
        prefix = [Segment(f"{stamp} ", base + DIM)]
        if show_agent:
            name = f"{entry.agent:<{AGENT_WIDTH}.{AGENT_WIDTH}} "
            prefix.append(Segment(name, base + agent_style(entry.agent, fleet)))
        prefix.append(Segment(f"{MARK[entry.severity]} ", base + LABEL_STYLE[entry.severity]))
        used = sum(segment.cell_length for segment in prefix)
        if used >= width:
            return Strip(prefix).crop_extend(0, width, base)
        return Strip([*prefix, *text_segments(entry, base, width=width - used)], width)


class LogPanel(Vertical):
    """The newest log entries of the focused agent (or of every agent, `o`), with time, agent and severity."""

    BINDINGS = [
        Binding("enter", "open_viewer", "Open the log viewer"),
        Binding("escape", "screen.leave_queue", "Back to the grid", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.follow_all = False
        self.agent: str | None = None
        self.last_id = 0
        """The newest entry shown (entries arrive in id order; one already shown is not shown again)."""
        self._pending: list[LogEntry] = []

    def on_mount(self) -> None:
        # New entries are shown in batches a few times a second.
        self.set_interval(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending[-LOG_LINES:], []
        self.query_one(LogTail).add(batch)

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="panel-title", id="log-title")
        yield LogTail()

    def _title(self) -> str:
        whose = "all agents" if self.follow_all else (self.agent or "focused agent")
        return f"Log · {whose}  (o: {'focused' if self.follow_all else 'all'} · L: viewer)"

    @property
    def scope(self) -> str | None:
        """Whose entries the panel shows: an agent's, or None for every agent's."""
        return None if self.follow_all else self.agent

    def follow(self, agent: str | None) -> None:
        """Show this agent's entries from now on (ignored while following all agents)."""
        if agent == self.agent:
            return
        self.agent = agent
        if not self.follow_all:
            self._reload()
        self.query_one("#log-title", Static).update(self._title())

    def toggle_all(self) -> None:
        self.follow_all = not self.follow_all
        self._reload()
        self.query_one("#log-title", Static).update(self._title())

    def _reload(self) -> None:
        """Show what the live feed keeps of the new scope (its ring: the agent's newest entries)."""
        self._pending.clear()
        entries = [] if self.scope is None and not self.follow_all else \
            app_of(self).recent_logs(self.scope, LOG_LINES)
        self.last_id = entries[-1].id if entries else self.last_id
        tail = self.query_one(LogTail)
        tail.fleet = tuple(app_of(self).config.names())
        tail.replace(entries, show_agent=self.follow_all)

    def add_entries(self, entries: Iterable[LogEntry]) -> None:
        """New entries from the feed (oldest first): those of the agent shown, or all."""
        agent, every = self.agent, self.follow_all
        for entry in entries:
            if entry.id > self.last_id and (every or entry.agent == agent):
                self._pending.append(entry)
                self.last_id = entry.id
        del self._pending[:-LOG_LINES]

    def action_open_viewer(self) -> None:
        app_of(self).open_logs(self.scope)
