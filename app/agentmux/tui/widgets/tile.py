"""One agent's live tile: a header (name, kind, state, queue, last output) over the pane's recent lines.

Built on the Line API: every raw ANSI line becomes a `Strip` once (cached by its text, so a scrolling
pane reuses strips), and a capture repaints only the rows whose text changed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from agentmux.agents.observer import AgentStatus, format_age
from agentmux.agents.state import AgentState

STATE_STYLE: dict[AgentState, str] = {
    AgentState.STARTING: "bold cyan",
    AgentState.IDLE: "bold green",
    AgentState.BUSY: "bold yellow",
    AgentState.WAITING: "bold black on magenta",
    AgentState.ERROR: "bold white on red",
    AgentState.EXITED: "bold bright_black",
    AgentState.STOPPED: "bright_black",
}
STATE_SYMBOL: dict[AgentState, str] = {
    AgentState.STARTING: "◌", AgentState.IDLE: "●", AgentState.BUSY: "◐", AgentState.WAITING: "?",
    AgentState.ERROR: "✗", AgentState.EXITED: "■", AgentState.STOPPED: "○",
}
ATTENTION = (AgentState.WAITING, AgentState.ERROR)
STRIP_CACHE_SIZE = 512


def state_badge(state: AgentState) -> Text:
    """The state as symbol and word (never colour alone)."""
    return Text(f" {STATE_SYMBOL[state]} {state.value} ", style=STATE_STYLE[state])


class AgentTile(Widget, can_focus=True):
    """A live mirror of one agent's pane."""

    def __init__(self, agent: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(id=f"tile-{agent}", classes="tile")
        self.agent = agent
        self.status: AgentStatus | None = None
        self.queue_depth: int | None = None
        self.clock = clock
        self.lines: list[str] = []
        self._screen_lines: list[str] = []
        self._base_cache: tuple[int, Style] | None = None
        self._header_text = ""
        self._header: Strip | None = None
        self._strips: OrderedDict[str, Strip] = OrderedDict()
        self.selected = False

    # --- data in -----------------------------------------------------------------------------------------

    def show_lines(self, screen_lines: list[str]) -> None:
        """Take a capture's visible lines; repaint only the body rows whose text changed."""
        self._screen_lines = screen_lines
        height = max(0, self.content_size.height - 1)
        lines = screen_lines[-height:] if height else []
        if lines == self.lines:
            return
        old = self.lines
        self.lines = lines
        if not self.is_mounted or len(old) != len(lines) or self.content_size.width == 0:
            self.refresh()
            return
        width = self.content_size.width
        rows = [y for y, (a, b) in enumerate(zip(old, lines, strict=True)) if a != b]
        if len(rows) > len(lines) // 2:
            self.refresh()
        else:  # regions are relative to the content area (row 0 is the header)
            self.refresh(*(Region(0, 1 + y, width, 1) for y in rows))

    def show_status(self, status: AgentStatus) -> None:
        previous = self.status.state if self.status else None
        self.status = status
        if previous != status.state:
            self.set_class(status.state in ATTENTION, "-attention")
            self.set_class(status.state == AgentState.WAITING, "-waiting")
            self.set_class(status.state == AgentState.ERROR, "-error")
            self.set_class(not status.state.is_live, "-ended")
        self.refresh_header()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.set_class(selected, "-selected")
        self.refresh_header()

    def refresh_header(self) -> None:
        """Repaint the header row only when its text changed (the age ticks once a second)."""
        text = self.header_text()
        if text.plain == self._header_text:
            return
        self._header_text = text.plain
        self._header = None
        if self.is_mounted and self.content_size.width:
            self.refresh(Region(0, 0, self.content_size.width, 1))

    # --- rendering ---------------------------------------------------------------------------------------

    def header_text(self) -> Text:
        status = self.status
        left = Text()
        left.append("☑ " if self.selected else "", style="bold")
        left.append(self.agent, style="bold")
        if status is not None:
            left.append(f" {status.kind}", style="dim")
        right = Text()
        if self.queue_depth is not None:
            right.append(f" q{self.queue_depth}", style="dim")
        if status is not None:
            since = None if status.last_output_at is None else self.clock() - status.last_output_at
            right.append(f" {format_age(since)} ", style="dim")
            right.append_text(state_badge(status.state))
        width = max(1, self.content_size.width)
        left.truncate(max(1, width - right.cell_len), overflow="ellipsis")
        left.pad_right(max(0, width - left.cell_len - right.cell_len))
        return left + right

    def _strip_for(self, line: str) -> Strip:
        strip = self._strips.get(line)
        if strip is None:
            strip = Strip(Text.from_ansi(line).render(self.app.console, end=""))
            self._strips[line] = strip
            if len(self._strips) > STRIP_CACHE_SIZE:
                self._strips.popitem(last=False)
        else:
            self._strips.move_to_end(line)
        return strip

    def _base(self) -> tuple[int, Style]:
        """Width and base style for rendering rows; looked up once per size or style change, since
        both walk the DOM and a tile renders many rows per second."""
        if self._base_cache is None:
            self._base_cache = (self.content_size.width, self.rich_style)
        return self._base_cache

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_cache = None

    def render_line(self, y: int) -> Strip:
        width, base = self._base()
        if y == 0:
            if self._header is None:
                self._header = Strip(self.header_text().render(self.app.console, end=""))
            return self._header.crop_extend(0, width, Style.null()).apply_style(base)
        index = y - 1
        if index < len(self.lines):
            return self._strip_for(self.lines[index]).crop_extend(0, width, base).apply_style(base)
        return Strip.blank(width, base)

    def on_resize(self) -> None:
        """Refit the last screen to the new size (a bigger tile shows more of it)."""
        self._base_cache = None
        self._header = None
        self._header_text = ""
        self.lines = []
        if self._screen_lines:
            self.show_lines(self._screen_lines)

    def on_click(self) -> None:
        self.focus()
