"""The live log panel of the dashboard (the queue panel is in queue.py)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static

from agentmux.ansi import ansi_segments
from agentmux.tui.widgets.direct import DirectLines

LOG_LINES = 500
FLUSH_EVERY = 0.25
DIM = Style(dim=True)
BOLD = Style(bold=True)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log line as the capture workers saw it: when, whose, and the raw ANSI text."""

    stamp: str
    agent: str | None
    line: str


class LogTail(DirectLines):
    """The newest log lines that fit, bottom-aligned; a fixed-size Line API view.

    Appending never changes its size, so new lines cost one repaint of this widget, not a layout of
    the screen (the full, scrollable log viewer is the log feature's). Lines are parsed only when shown,
    and each shown line's strip is kept while it stays on screen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[LogEntry] = deque(maxlen=LOG_LINES)
        self._added = 0  # lines ever added: entry i of `lines` is line number _added - len(lines) + i
        self._strips: dict[int, Strip] = {}
        self._strips_width = 0

    def add(self, entries: list[LogEntry]) -> None:
        self.lines.extend(entries)
        self._added += len(entries)
        first_shown = self._added - self.size.height
        self._strips = {number: strip for number, strip in self._strips.items() if number >= first_shown}
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self._strips.clear()
        self.refresh()

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
        index = len(self.lines) - height + y
        style = self.rich_style
        if index < 0:
            return Strip.blank(width, style)
        number = self._added - len(self.lines) + index
        strip = self._strips.get(number)
        if strip is None:
            strip = self._strips[number] = self._render_entry(self.lines[index], width, style)
        return strip

    @staticmethod
    def _render_entry(entry: LogEntry, width: int, base: Style) -> Strip:
        prefix = [Segment(f"{entry.stamp} ", base + DIM)]
        if entry.agent is not None:
            prefix.append(Segment(f"{entry.agent:<10.10} ", base + BOLD))
        used = sum(segment.cell_length for segment in prefix)
        if used >= width:
            return Strip(prefix).crop_extend(0, width, base)
        return Strip([*prefix, *ansi_segments(entry.line, width - used, base)], width)


class LogPanel(Vertical):
    """Recent output lines of the focused agent (or of every agent), with time and agent."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.follow_all = False
        self.agent: str | None = None
        self._pending: list[LogEntry] = []

    def on_mount(self) -> None:
        # New lines are shown in batches a few times a second.
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
        return f"Log · {whose}  (o: {'focused' if self.follow_all else 'all'})"

    def follow(self, agent: str | None) -> None:
        """Show the lines of this agent from now on (ignored while following all agents)."""
        if agent == self.agent:
            return
        self.agent = agent
        if not self.follow_all:
            self._pending.clear()
            self.query_one(LogTail).clear()
        self.query_one("#log-title", Static).update(self._title())

    def toggle_all(self) -> None:
        self.follow_all = not self.follow_all
        self._pending.clear()
        self.query_one(LogTail).clear()
        self.query_one("#log-title", Static).update(self._title())

    def wants(self, agent: str) -> bool:
        return self.display and (self.follow_all or agent == self.agent)

    def add_lines(self, agent: str, lines: list[str], now: float | None = None) -> None:
        if not lines:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(time.time() if now is None else now))
        whose = agent if self.follow_all else None
        self._pending.extend(LogEntry(stamp, whose, line) for line in lines)
