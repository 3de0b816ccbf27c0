"""The side panels of the dashboard: the queue (filled by the queue issue) and the live log."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

LOG_LINES = 500
FLUSH_EVERY = 0.25


class QueuePanel(Vertical):
    """The command queue of the focused agent (not built yet: it says so plainly)."""

    def compose(self) -> ComposeResult:
        yield Static("Queue", classes="panel-title")
        yield Static(
            "Per-agent command queues arrive with the queue feature.\n"
            "Until then, send prompts directly: s (focused agent), b (broadcast).",
            id="queue-body",
        )


class LogTail(Widget):
    """The newest log lines that fit, bottom-aligned; a fixed-size Line API view.

    Appending never changes its size, so new lines cost one repaint of this widget, not a layout of
    the screen (the full, scrollable log viewer is the log feature's).
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[Text] = deque(maxlen=LOG_LINES)
        self._strips: dict[int, Strip] = {}

    def add(self, texts: list[Text]) -> None:
        self.lines.extend(texts)
        self._strips.clear()
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self._strips.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        index = len(self.lines) - height + y
        style = self.rich_style
        if index < 0:
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            strip = Strip(self.lines[index].render(self.app.console, end="")).crop_extend(0, width, style)
            self._strips[index] = strip.apply_style(style)
        return self._strips[index]


class LogPanel(Vertical):
    """Recent output lines of the focused agent (or of every agent), with time and agent."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.follow_all = False
        self.agent: str | None = None
        self._pending: list[Text] = []

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
        for line in lines:
            text = Text()
            text.append(f"{stamp} ", style="dim")
            if self.follow_all:
                text.append(f"{agent:<10.10} ", style="bold")
            text.append_text(Text.from_ansi(line))
            self._pending.append(text)
