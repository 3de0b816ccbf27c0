"""The log viewer's lines: a window of log entries (the part of the results loaded so far) as a scrollable Line
API view with a selected line (the cursor), search matches highlighted, long lines scrolled sideways under a
fixed time, agent and severity column.

The widget only shows what it is given; the screen (screens/logs.py) decides what to load, and hears of the
user's scrolling through `LogView.Scrolled` (a scroll the screen asked for says nothing)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agentmux.logs import LogEntry, LogQuery
from agentmux.tui.widgets.logtext import DIM, LABEL, LABEL_STYLE, LABEL_WIDTH, agent_style, text_segments

STAMP_WIDTH = 12
"""`09:41:00.123`"""
CACHE = 4096
"""Rendered lines kept (those on screen are a few dozen; this is scrolling back and forth)."""


def stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


class LogView(ScrollView, can_focus=True, inherit_bindings=False):
    """Entries, oldest at the top; `cursor` is the index of the selected one. The screen binds the keys."""

    COMPONENT_CLASSES = {"logview--cursor", "logview--empty"}

    @dataclass
    class Scrolled(Message):
        """The view scrolled, not by the screen's asking: the user did (the mouse wheel, the scroll bar), or
        its size changed under it (the search box came or went)."""

        down: bool

    @dataclass
    class Clicked(Message):
        """The user clicked the entry at this index."""

        index: int

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own name
        super().__init__(id=id)
        self.entries: list[LogEntry] = []
        self.cursor = 0
        self.search: LogQuery | None = None
        self.show_agent = True
        self.agent_width = 10
        self.fleet: tuple[str, ...] = ()
        """The agents in the config's order (their names' colours)."""
        self.empty_text: list[str] = []
        """Said in the middle of the view while it has no entries (what to do)."""
        self._text_width = 0
        self._strips: OrderedDict[tuple[object, ...], tuple[Strip, Strip]] = OrderedDict()
        self._quiet = 0

    # --- what it shows -------------------------------------------------------------------------------------

    @property
    def prefix_width(self) -> int:
        return STAMP_WIDTH + 1 + (self.agent_width + 1 if self.show_agent else 0) + LABEL_WIDTH + 1

    @property
    def rows(self) -> int:
        """Lines on screen."""
        return max(1, self.scrollable_content_region.height)

    @property
    def top(self) -> int:
        return round(self.scroll_offset.y)

    @property
    def at_end(self) -> bool:
        return self.scroll_offset.y >= self.max_scroll_y

    @property
    def selected(self) -> LogEntry | None:
        return self.entries[self.cursor] if 0 <= self.cursor < len(self.entries) else None

    def set_entries(self, entries: Sequence[LogEntry], cursor: int) -> None:
        """Show these entries instead, this one selected (in the middle of the view when it can be)."""
        self.entries = list(entries)
        self._text_width = max((cell_len(entry.text) for entry in self.entries), default=0)
        self.cursor = max(0, min(cursor, len(self.entries) - 1))
        self._resize()
        self.show_cursor(center=True)
        self.refresh()

    def prepend(self, entries: Sequence[LogEntry]) -> None:
        """Older entries above; what is on screen stays where it is."""
        if not entries:
            return
        self.entries[:0] = entries
        self._text_width = max(self._text_width, *(cell_len(entry.text) for entry in entries))
        self.cursor += len(entries)
        self._resize()
        self.scroll_quietly(self.scroll_offset.y + len(entries))

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Newer entries below (the screen scrolls to them when it follows)."""
        if not entries:
            return
        self.entries.extend(entries)
        self._text_width = max(self._text_width, *(cell_len(entry.text) for entry in entries))
        self._resize()
        self.refresh()

    def drop_oldest(self, count: int) -> None:
        """Forget the first `count` entries (the window is full); what is on screen stays where it is."""
        if count <= 0:
            return
        del self.entries[:count]
        self.cursor = max(0, self.cursor - count)
        self._resize()
        self.scroll_quietly(max(0, self.scroll_offset.y - count))

    def drop_newest(self, count: int) -> None:
        if count <= 0:
            return
        del self.entries[len(self.entries) - count:]
        self.cursor = min(self.cursor, len(self.entries) - 1)
        self._resize()
        self.refresh()

    def set_search(self, search: LogQuery | None) -> None:
        self.search = search
        self.refresh()

    def set_columns(self, show_agent: bool, agent_width: int) -> None:
        if (show_agent, agent_width) != (self.show_agent, self.agent_width):
            self.show_agent, self.agent_width = show_agent, agent_width
            self._resize()
            self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(self.prefix_width + self._text_width, len(self.entries))

    # --- moving --------------------------------------------------------------------------------------------

    @contextmanager
    def _scrolling_itself(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def scroll_quietly(self, y: float) -> None:
        """Scroll to a line without telling the screen the user did."""
        with self._scrolling_itself():  # forced: new entries may not have shown the scroll bar yet
            self.scroll_to(y=y, animate=False, immediate=True, force=True)
        self.refresh()

    def show_cursor(self, center: bool = False) -> None:
        """Scroll (quietly) so the selected line is on screen: in the middle, or just inside an edge."""
        rows, top = self.rows, self.top
        if center:
            self.scroll_quietly(max(0, self.cursor - rows // 2))
        elif self.cursor < top:
            self.scroll_quietly(self.cursor)
        elif self.cursor >= top + rows:
            self.scroll_quietly(self.cursor - rows + 1)
        self.refresh()

    def end(self) -> None:
        """The last entry selected, at the bottom."""
        self.cursor = max(0, len(self.entries) - 1)
        self.scroll_quietly(self.max_scroll_y)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._quiet and round(old_value) != round(new_value):
            self.post_message(self.Scrolled(down=new_value > old_value))

    def on_resize(self) -> None:
        if self.scroll_offset.y > self.max_scroll_y:
            self.scroll_quietly(self.max_scroll_y)
        self.show_cursor()  # the selected line stays on screen (at the bottom when it is the last)

    def on_click(self, event: events.Click) -> None:
        index = self.top + event.y
        if 0 <= index < len(self.entries):
            self.post_message(self.Clicked(index))

    # --- drawing -------------------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        index = self.top + y
        if not self.entries:
            return self._empty_line(y, width, base)
        if not 0 <= index < len(self.entries):
            return Strip.blank(width, base)
        entry = self.entries[index]
        if index == self.cursor:  # drawn afresh on the cursor's background (under the line's own styles)
            cursor = self.get_component_rich_style("logview--cursor")
            base = base + Style(bgcolor=cursor.bgcolor)
            prefix, text = self._render_entry(entry, base)
        else:
            prefix, text = self._cached(entry, base)
        x = round(self.scroll_offset.x)
        room = max(0, width - prefix.cell_length)
        return Strip.join([prefix.crop_extend(0, min(width, prefix.cell_length), base),
                           text.crop_extend(x, x + room, base)])

    def _empty_line(self, y: int, width: int, base: Style) -> Strip:
        lines = self.empty_text
        first = max(0, (self.size.height - len(lines)) // 2)
        if first <= y < first + len(lines):
            style = base + self.get_component_rich_style("logview--empty", partial=True)
            line = lines[y - first]
            pad = max(0, (width - cell_len(line)) // 2)
            return Strip([Segment(" " * pad + line, style)]).crop_extend(0, width, base)
        return Strip.blank(width, base)

    def _cached(self, entry: LogEntry, base: Style) -> tuple[Strip, Strip]:
        search = self.search
        key = (entry.id, search.text if search else None, search.regex if search else None, self.show_agent,
               self.agent_width, base)
        found = self._strips.get(key)
        if found is None:
            found = self._strips[key] = self._render_entry(entry, base)
            if len(self._strips) > CACHE:
                self._strips.popitem(last=False)
        return found

    def _render_entry(self, entry: LogEntry, base: Style) -> tuple[Strip, Strip]:
        """The fixed columns, and the text (its whole width: it is cut to the view when drawn)."""
        prefix = [Segment(f"{stamp(entry.at)} ", base + DIM)]
        if self.show_agent:
            width = self.agent_width
            prefix.append(Segment(f"{entry.agent:<{width}.{width}} ", base + agent_style(entry.agent, self.fleet)))
        prefix.append(Segment(f"{LABEL[entry.severity]:<{LABEL_WIDTH}} ", base + LABEL_STYLE[entry.severity]))
        spans = self.search.spans(entry.text) if self.search is not None else []
        return Strip(prefix), Strip(text_segments(entry, base, spans))

