"""The side panels of the dashboard: the queue (filled by the queue issue) and the live log."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static

LOG_LINES = 1000
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


class LogPanel(Vertical):
    """Recent output lines of the focused agent (or of every agent), with time and agent."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.follow_all = False
        self.agent: str | None = None
        self._pending: list[Text] = []

    def on_mount(self) -> None:
        # Lines are written in batches a few times a second: each write to the log costs a layout.
        self.set_interval(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending[-LOG_LINES:], []
        self.query_one(RichLog).write(Text("\n").join(batch))

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="panel-title", id="log-title")
        yield RichLog(max_lines=LOG_LINES, wrap=False, markup=False, highlight=False, auto_scroll=True)

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
            self.query_one(RichLog).clear()
        self.query_one("#log-title", Static).update(self._title())

    def toggle_all(self) -> None:
        self.follow_all = not self.follow_all
        self._pending.clear()
        self.query_one(RichLog).clear()
        self.query_one("#log-title", Static).update(self._title())

    def wants(self, agent: str) -> bool:
        return self.follow_all or agent == self.agent

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
