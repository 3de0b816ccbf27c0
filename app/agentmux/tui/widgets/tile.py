"""One agent's live tile: a header (name, kind, state, queue depth, last output) over the pane's recent lines;
for a claude agent also the question it waits on (a line of its own above the bottom edge) and when its last
turn ended (in the bottom edge); in the bottom edge too, what it does in coordination (`⚷ build` for a lock it
holds, `◷ lock deploy` or `◷ barrier deploy` while it waits, `✉ 3` unread messages) and what it spends on the
API (`$0.42` all told, `$4.10/$5` against its budget, `◷ api 12s` while it waits for a permit of the shared limiter).

Built on the Line API: every raw ANSI line becomes a finished `Strip` (cut to the tile's width, on the tile's
background) once, cached by its text while it is on the tile, so a scrolling pane reuses the rows that moved
up; a capture repaints only the rows whose text changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from agentmux.agents.kinds import kind_of
from agentmux.agents.observer import AgentStatus, format_age
from agentmux.ansi import ansi_segments
from agentmux.api.summary import money
from agentmux.coord.summary import NOTHING, OwnerCoord
from agentmux.state import AgentState
from agentmux.tui.widgets.direct import DirectLines
from agentmux.tui.widgets.queue import PAUSED

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
QUESTION_STYLE = "bold magenta"


def pending_question(status: AgentStatus | None) -> str | None:
    """What a waiting claude agent asks, as its state's reason says it (`asks: Bash: rm -rf build`), else None.
    Other programs ask on their screen's last line, which the tile shows anyway."""
    if status is None or status.state != AgentState.WAITING or not kind_of(status.kind).hooked:
        return None
    return status.reason or "asks (see its screen)"


def coord_badges(coord: OwnerCoord) -> Text:
    """`⚷ build ◷ lock deploy ◷ barrier release ✉ 3`: locks held, locks and barriers waited at, unread messages;
    empty when the agent takes no part in coordination now."""
    text = Text()
    parts: list[tuple[str, str]] = []
    if coord.holds:
        parts.append((f"⚷ {','.join(coord.holds)}", "bold cyan"))
    if coord.waits:
        parts.append((f"◷ lock {','.join(coord.waits)}", "bold yellow"))
    if coord.barriers:
        parts.append((f"◷ barrier {','.join(coord.barriers)}", "bold yellow"))
    if coord.unread:
        parts.append((f"✉ {coord.unread}", "bold green"))
    for n, (said, style) in enumerate(parts):
        if n:
            text.append(" ")
        text.append(said, style)
    return text


BUDGET_WARNING = 0.8
"""The share of its budget an agent has spent when its cost badge turns yellow."""


@dataclass(frozen=True)
class TileUsage:
    """What a tile says of an agent's API use: its cost all told, its budget, since when it waits for a permit."""

    cost: float = 0.0
    budget: float | None = None
    waiting_since: float | None = None


def usage_badges(usage: TileUsage, now: float) -> Text:
    """`◷ api 12s $4.10/$5`: the wait for a permit of the shared limiter, then the cost (against the budget, yellow
    from 80% of it, red when spent); empty for an agent that never used the API and waits for nothing."""
    text = Text()
    if usage.waiting_since is not None:
        text.append(f"◷ api {format_age(now - usage.waiting_since)}", "bold yellow")
    if usage.cost or usage.budget is not None:
        if text.plain:
            text.append(" ")
        if usage.budget is None:
            text.append(money(usage.cost), "dim")
        else:
            spent = usage.cost >= usage.budget
            style = "bold white on red" if spent else "bold yellow" if usage.cost >= BUDGET_WARNING * usage.budget \
                else "dim"
            text.append(f"{money(usage.cost)}/{money(usage.budget)}" + (" spent" if spent else ""), style)
    return text


NO_USAGE = TileUsage()


def state_badge(state: AgentState) -> Text:
    """The state as symbol and word (never colour alone)."""
    return Text(f" {STATE_SYMBOL[state]} {state.value} ", style=STATE_STYLE[state])


BOXES = {  # corners, horizontal, vertical
    "round": ("╭", "╮", "╰", "╯", "─", "│"),
    "double": ("╔", "╗", "╚", "╝", "═", "║"),
    "heavy": ("┏", "┓", "┗", "┛", "━", "┃"),
}


class AgentTile(DirectLines, can_focus=True):
    """A live mirror of one agent's pane, in a frame whose top edge carries the header.

    The tile draws its own frame (a CSS border would cost Textual a second pass over every row: measured
    about 3 points of a core with 8 agents printing). Its colour is the `tile--frame` component style, so
    focus, selection and attention are still styled in app.tcss; the line kind says the same without
    colour: heavy when the agent needs the user, double when selected, round otherwise.
    """

    COMPONENT_CLASSES = {"tile--frame"}
    BODY_TOP = 1
    """The screen row of the tile that shows the first body line (row 0 is the top edge)."""

    def __init__(self, agent: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(id=f"tile-{agent}", classes="tile")
        self.agent = agent
        self.status: AgentStatus | None = None
        self.queue_depth: int | None = None
        """Tasks of the agent that have not ended (None until the mirror has read the queue)."""
        self.queue_paused = False
        self.coord: OwnerCoord = NOTHING
        """What the agent holds, waits for and has unread in coordination (its bottom edge's badges)."""
        self.usage = TileUsage()
        """Its API cost, budget and wait for a permit (badges of the bottom edge too)."""
        self.clock = clock
        self.lines: list[str] = []
        self._screen_lines: list[str] = []
        self._look: _Look | None = None
        self._header_shown: tuple[object, ...] = ()
        self._header: Strip | None = None
        self._footer_shown: tuple[object, ...] = ()
        self._footer: Strip | None = None
        self.question: str | None = None
        """The question shown on its own line (a waiting claude agent's), or None."""
        self._question_strip: Strip | None = None
        self._strips: dict[str, Strip] = {}
        self.selected = False

    @property
    def body_height(self) -> int:
        return max(0, self.size.height - 2 - (1 if self.question else 0))

    # --- data in -----------------------------------------------------------------------------------------

    def show_lines(self, screen_lines: list[str]) -> None:
        """Take a capture's visible lines; repaint only the body rows whose text changed."""
        self._screen_lines = screen_lines
        height = self.body_height
        lines = screen_lines[-height:] if height else []
        if lines == self.lines:
            return
        old = self.lines
        self.lines = lines
        # Keep the strips of the lines still shown, nothing else (few long-lived objects: cheap GC).
        strips = self._strips
        self._strips = {line: strips[line] for line in lines if line in strips}
        if not self.is_mounted or len(old) != len(lines) or self.size.width == 0:
            self.refresh()
            return
        width = self.size.width
        rows = [y for y, (a, b) in enumerate(zip(old, lines, strict=True)) if a != b]
        if len(rows) > len(lines) // 2:
            self.refresh()
        else:
            self.refresh(*(Region(0, self.BODY_TOP + y, width, 1) for y in rows))

    def show_status(self, status: AgentStatus) -> None:
        previous = self.status.state if self.status else None
        box = self.box()
        self.status = status
        if previous != status.state:
            self.set_class(status.state in ATTENTION, "-attention")
            self.set_class(status.state == AgentState.WAITING, "-waiting")
            self.set_class(status.state == AgentState.ERROR, "-error")
            self.set_class(not status.state.is_live, "-ended")
        self._redraw_frame_if(box)
        self._show_question(pending_question(status))
        self.refresh_header()

    def _show_question(self, question: str | None) -> None:
        if question == self.question:
            return
        refit = bool(question) != bool(self.question)
        self.question = question
        self._question_strip = None
        if refit:  # one body row fewer or more: the pane's last lines fit again
            self.lines = []
            self._strips = {}
            self.show_lines(self._screen_lines)
            self.refresh()
        elif self.is_mounted and self.size.width:
            self.refresh(Region(0, self.size.height - 2, self.size.width, 1))

    def show_queue(self, depth: int, paused: bool) -> None:
        self.queue_depth = depth
        self.queue_paused = paused
        self.refresh_header()

    def show_coord(self, coord: OwnerCoord) -> None:
        """New coordination badges (the bottom edge is redrawn only when they read differently)."""
        if coord != self.coord:
            self.coord = coord
            self.refresh_header()

    def show_usage(self, usage: TileUsage) -> None:
        """New API usage badges (the bottom edge is redrawn only when they read differently)."""
        if usage != self.usage:
            self.usage = usage
            self.refresh_header()

    def edge_badges(self) -> Text | None:
        """The bottom edge's badges: coordination, then API usage; None when there are none."""
        text = coord_badges(self.coord) if self.coord else Text()
        usage = usage_badges(self.usage, self.clock()) if self.usage != NO_USAGE else Text()
        if usage.plain:
            if text.plain:
                text.append(" ")
            text.append_text(usage)
        return text if text.plain else None

    def set_selected(self, selected: bool) -> None:
        box = self.box()
        self.selected = selected
        self.set_class(selected, "-selected")
        self._redraw_frame_if(box)
        self.refresh_header()

    def _redraw_frame_if(self, box: str) -> None:
        """The line kind changed: every row has the frame (its colour may not have changed with it)."""
        if self.box() != box:
            self._forget_rows()
            self.refresh()

    def _forget_rows(self) -> None:
        self._look = None
        self._header = None
        self._footer = None
        self._question_strip = None
        self._strips = {}

    def refresh_header(self) -> None:
        """Repaint the top and bottom edges only when what they say changed (the ages tick once a second)."""
        key = self._header_key()
        if key != self._header_shown:
            self._header_shown = key
            self._header = None
            if self.is_mounted and self.size.width:
                self.refresh(Region(0, 0, self.size.width, 1))
        footer = (self.size.width, self.last_turn(), self.coord, self.usage,
                  None if self.usage.waiting_since is None else self._age_of(self.usage.waiting_since))
        if footer != self._footer_shown:
            self._footer_shown = footer
            self._footer = None
            if self.is_mounted and self.size.width:
                self.refresh(Region(0, self.size.height - 1, self.size.width, 1))

    def _header_key(self) -> tuple[object, ...]:
        """Everything the header shows, cheap to compare (the header itself is built only when it changes)."""
        status = self.status
        queue = (self.queue_depth, self.queue_paused)
        if status is None:
            return (self.selected, queue, self.size.width)
        return (self.selected, queue, self.size.width, status.kind, status.state, status.restarts, self._age(status))

    def _age_of(self, since: float) -> str:
        return format_age(self.clock() - since)

    def _age(self, status: AgentStatus) -> str:
        """Time since the agent's last output, as the header shows it."""
        return format_age(None if status.last_output_at is None else self.clock() - status.last_output_at)

    def last_turn(self) -> str:
        """`last turn 2m ago`: when a claude agent's last turn of this run ended (the bottom edge says it)."""
        status = self.status
        if status is None or status.last_turn_at is None:
            return ""
        return f"last turn {format_age(self.clock() - status.last_turn_at)} ago"

    # --- rendering ---------------------------------------------------------------------------------------

    def header_parts(self) -> tuple[Text, Text]:
        """Name and kind (left); queue depth (`q3`, `‖` when paused), time since output and the state badge
        (right)."""
        status = self.status
        left = Text()
        left.append("☑ " if self.selected else "", style="bold")
        left.append(self.agent, style="bold")
        if status is not None:
            left.append(f" {status.kind}", style="dim")
        right = Text()
        if self.queue_depth or self.queue_paused:  # an empty queue says nothing
            right.append(f"q{self.queue_depth or 0}", style="dim")
            right.append(PAUSED if self.queue_paused else "", style="bold yellow")
            right.append(" ")
        if status is not None and status.restarts:
            right.append(f"↻{status.restarts} ", style="bold yellow")  # restarted by its policy, in a row
        if status is not None:
            right.append(f"{self._age(status)} ", style="dim")
            right.append_text(state_badge(status.state))
        return left, right

    def header_text(self) -> Text:
        left, right = self.header_parts()
        return left + Text(" ") + right

    def box(self) -> str:
        status = self.status
        if status is not None and status.state in ATTENTION:
            return "heavy"
        return "double" if self.selected else "round"

    def _look_key(self) -> tuple[object, ...]:
        """What the frame's look depends on: size, line kind, and what app.tcss styles it by."""
        return (self.size.width, self.box(), self.has_focus, self.has_class("-selected"),
                self.has_class("-waiting"), self.has_class("-error"))

    def render_lines(self, crop: Region) -> list[Strip]:
        # Checked once per frame, not per row: a resize is drawn before the tile hears of it, and a focus
        # change may restyle only the frame component.
        if self._look is not None and self._look.key != self._look_key():
            self._forget_rows()
        return super().render_lines(crop)

    def _get_look(self) -> _Look:
        """Size and styles for rendering rows; looked up once per size or style change, since they walk the
        DOM and a tile renders many rows per second."""
        if self._look is None:
            base = self.rich_style
            frame = base + self.get_component_styles("tile--frame").partial_rich_style
            top_left, top_right, bottom_left, bottom_right, horizontal, vertical = BOXES[self.box()]
            width = self.size.width
            inner = max(0, width - 2)
            self._look = _Look(
                key=self._look_key(), width=width, inner=inner, base=base,
                left=Segment(vertical, frame), right=Segment(vertical, frame),
                corners=(Segment(top_left, frame), Segment(top_right, frame), Segment(bottom_left, frame),
                         Segment(bottom_right, frame)),
                horizontal=Segment(horizontal, frame),
                bottom=Strip([Segment(bottom_left + horizontal * inner + bottom_right, frame)], width)
                if width >= 2 else Strip.blank(width, base),
                blank=Strip([Segment(vertical, frame), Segment(" " * inner, base), Segment(vertical, frame)], width)
                if width >= 2 else Strip.blank(width, base),
            )
        return self._look

    def _top_edge(self, look: _Look) -> Strip:
        """╭ name kind ───────── 3s  ● idle ╮: the header inside the top edge (the name gives way first)."""
        left, right = self.header_parts()
        fill = look.inner - 4 - left.cell_len - right.cell_len  # a space either side of both halves
        if fill < 1:
            left.truncate(max(1, left.cell_len + fill - 1), overflow="ellipsis")
            fill = look.inner - 4 - left.cell_len - right.cell_len
        if fill < 1 and self.status is not None:  # very narrow: the state badge alone
            right = state_badge(self.status.state)
            fill = look.inner - 4 - left.cell_len - right.cell_len
        frame = look.horizontal.style
        line = Text()
        line.append(look.corners[0].text, frame)
        line.append(" ")
        line.append_text(left)
        line.append(" ")
        line.append(look.horizontal.text * max(0, fill), frame)
        line.append(" ")
        line.append_text(right)
        line.append(" ")
        line.append(look.corners[1].text, frame)
        return self._strip_of(line, look)

    def _strip_of(self, line: Text, look: _Look) -> Strip:
        base = look.base
        segments = [Segment(s.text, base + s.style if s.style else base) for s in line.render(self.app.console, end="")]
        return Strip(segments).crop_extend(0, look.width, base)

    def _bottom_edge(self, look: _Look) -> Strip:
        """╰─ ⚷ build ✉ 3 $0.42 ───── last turn 2m ago ╯: the badges and the last turn; when both do not
        fit, the badges alone (shortened when they do not fit either); the plain edge when there is nothing to say,
        or no room for it."""
        said = self.last_turn()
        badges = self.edge_badges()
        turn = len(said) + 2 if said else 0
        if badges is not None:
            room = look.inner - 4 - turn  # the fill's one cell at least
            if badges.cell_len > room and said:  # the badges say more than when the last turn was
                said, turn, room = "", 0, look.inner - 4
            if room < 3:
                badges = None
            elif badges.cell_len > room:
                badges.truncate(room, overflow="ellipsis")
        if badges is None:
            fill = look.inner - 2 - len(said)
            if not said or fill < 1:
                return look.bottom
        frame = look.horizontal.style
        horizontal = look.horizontal.text
        line = Text()
        line.append(look.corners[2].text, frame)
        if badges is not None:
            line.append(horizontal + " ", frame)
            line.append_text(badges)
            line.append(" ", frame)
        line.append(horizontal * (look.width - line.cell_len - turn - 1), frame)
        if said:
            line.append(" ", frame)
            line.append(said, "dim")
            line.append(" ", frame)
        line.append(look.corners[3].text, frame)
        return self._strip_of(line, look)

    def _question_row(self, look: _Look) -> Strip:
        """│ asks: Bash: rm -rf build │: the question on a line of its own, shortened to fit."""
        question = Text(self.question or "", QUESTION_STYLE)
        room = max(1, look.inner - 2)
        if question.cell_len > room:
            question.truncate(room, overflow="ellipsis")
        frame = look.horizontal.style
        line = Text()
        line.append(look.left.text, frame)
        line.append(" ")
        line.append_text(question)
        line.append(" " * max(0, look.inner - 1 - question.cell_len))
        line.append(look.right.text, frame)
        return self._strip_of(line, look)

    def _strip_for(self, line: str, look: _Look) -> Strip:
        strip = self._strips.get(line)
        if strip is None:
            segments = [look.left, *ansi_segments(line, look.inner, look.base), look.right]
            strip = self._strips[line] = Strip(segments, look.width)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_rows()

    def render_line(self, y: int) -> Strip:
        look = self._get_look()
        height = self.size.height
        if y == 0:
            if self._header is None:
                self._header = self._top_edge(look)
            return self._header
        if y == height - 1:
            if self._footer is None:
                self._footer = self._bottom_edge(look)
            return self._footer
        if self.question and y == height - 2 and height > 2:
            if self._question_strip is None:
                self._question_strip = self._question_row(look)
            return self._question_strip
        index = y - self.BODY_TOP
        if 0 <= index < len(self.lines):
            return self._strip_for(self.lines[index], look)
        return look.blank

    def on_resize(self) -> None:
        """Refit the last screen to the new size (a bigger tile shows more of it)."""
        self._forget_rows()
        self._header_shown = ()
        self._footer_shown = ()
        self.lines = []
        if self._screen_lines:
            self.show_lines(self._screen_lines)

    def on_focus(self) -> None:
        self.refresh()  # the frame's colour follows focus (app.tcss)

    def on_blur(self) -> None:
        self.refresh()

    def on_click(self) -> None:
        self.focus()


@dataclass(frozen=True)
class _Look:
    """What every row of a tile is drawn with, for its current size and styles."""

    key: tuple[object, ...]
    width: int
    inner: int
    base: Style
    left: Segment
    right: Segment
    corners: tuple[Segment, Segment, Segment, Segment]
    """Top left, top right, bottom left, bottom right."""
    horizontal: Segment
    bottom: Strip
    blank: Strip
