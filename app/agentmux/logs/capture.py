"""The new lines of a pane, from what tmux keeps of it: each line the program printed, once, in order.

tmux keeps a pane as history (rows that scrolled off the top: final) above the visible screen (rows the program
may still redraw). Each look at a pane whose signals moved captures, joined (`-J`: a long line the terminal
wrapped comes back whole), the rows of history added since the last look, a few rows before them, and the
screen. `PaneTail` lines that window up with the last one by content (the shift that makes the most lines
agree, among those the old window's last history lines and the growth of the history suggest), so it is right
across scrolling, `clear` (tmux scrolls a cleared screen into history; `clear`'s own erase of the history is
a history that shrank), history trimmed at its limit (the oldest tenth dropped at once), resizes (tmux rewraps;
joined lines do not change) and wide characters.

A line is logged when it is final (it scrolled into history), when it stayed unchanged on screen for
`settle` seconds, or when it left the screen unchanged (erased, the screen cleared): a line redrawn in place
(a spinner, a progress bar, an agent CLI repainting its input box or status line) is logged once, as it
settles, never once per frame. Blank lines and lines made only of box-drawing characters are not logged; a
full-screen program on the alternate screen (vim, less) is not logged, its frames are not output.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len, get_character_cell_size

from agentmux.ansi import plain
from agentmux.tmux.backend import PANE_IS_DEAD_RE, CaptureRequest, PaneInfo

ANCHOR = 6
"""History lines of the last window matched against the new one to find how far it scrolled."""
SLACK = 4
"""Rows captured beyond what the history's growth says, so the windows always overlap."""
FIRST_WINDOW = 100_000
"""At most this many history rows are read at the first look at a pane."""
DECORATION_RE = re.compile(r"^[\s\u2500-\u259f\u2800-\u28ff]*$")
"""Blank, or only box drawing, blocks and braille (borders, rules, spinners): never a log line."""


@dataclass(slots=True)
class Line:
    """One joined line of a pane as the last look saw it."""

    text: str
    """Plain, without trailing blanks."""
    styled: str
    since: float
    """When this text first stood here."""
    logged: bool


@dataclass
class Captured:
    """What one look at a pane gives the log: lines to log now (styled, plain), in order, and whether lines may
    have been missed (the windows did not overlap: the pane printed more than its history keeps between looks)."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    gap: bool = False


def row_span(text: str, width: int) -> int:
    """Rows a joined line takes on a screen `width` cells wide (a wide character that does not fit the end of a
    row goes to the next, as tmux wraps it)."""
    if width <= 0:
        return 1
    cells = cell_len(text)
    if cells == len(text):
        return max(1, math.ceil(cells / width))
    rows, column = 1, 0
    for char in text:
        size = get_character_cell_size(char)
        if column + size > width:
            rows, column = rows + 1, 0
        column += size
    return rows


def screen_start(plains: Sequence[str], height: int, width: int) -> int:
    """Index of the first line of a captured window that is (at least partly) on the visible screen."""
    rows = 0
    index = len(plains)
    while index > 0 and rows < height:
        index -= 1
        rows += row_span(plains[index], width)
    return index


def loggable(text: str) -> bool:
    return not DECORATION_RE.match(text) and not PANE_IS_DEAD_RE.match(text)


class PaneTail:
    """Follows one pane (by pane id) from look to look."""

    def __init__(self, pane_id: str, settle: float, anchor: Sequence[str] = ()) -> None:
        self.pane_id = pane_id
        self.settle = settle
        self.lines: list[Line] = []
        self.screen_at = 0
        """Index in `lines` of the first screen line (those before it are history: final)."""
        self.history: int | None = None
        """The pane's history size at the last capture (None before the first)."""
        self.top = False
        """The last window started at the top of the pane's history."""
        self._last_text: str | None = None
        self.anchor = list(anchor)
        """At the first look: the texts last logged for this agent (by an earlier lease holder), so a pane it
        already read is not logged again."""

    # --- what to capture ---------------------------------------------------------------------------------

    def rows_wanted(self, pane: PaneInfo) -> int:
        """History rows the next capture must include."""
        if self.history is None:
            return min(pane.history_size, FIRST_WINDOW)
        growth = pane.history_size - self.history
        wanted = max(0, growth) + ANCHOR + SLACK
        limit = pane.history_limit
        if growth < 0 or (limit and pane.history_size + max(0, growth) >= limit - limit // 10 - pane.height):
            wanted += max(1, limit // 10) + pane.height  # trimmed at its limit (a tenth at a time), or cleared
        return min(pane.history_size, wanted)

    def request(self, pane: PaneInfo, rows: int | None = None) -> CaptureRequest:
        rows = self.rows_wanted(pane) if rows is None else rows
        return CaptureRequest(pane.pane_id, start=-rows if rows else 0, end="-", escapes=True, join=True)

    # --- what a capture says -----------------------------------------------------------------------------

    def take(self, pane: PaneInfo, text: str, rows: int, now: float) -> Captured | None:
        """Line up a capture of `rows` history rows and the screen with the last one; the lines to log now.
        None when the windows do not overlap although they should (capture again with the whole history)."""
        if rows < pane.history_size and (self.history is None or rows < pane.history_size - self.history) \
                and rows < FIRST_WINDOW:
            return None  # it printed since its size was read: the window does not reach what was read last
        if text == self._last_text and pane.history_size == self.history:
            return Captured(self.settled(now))  # the same window as last time: only time moved
        self._last_text = text
        styled = text.split("\n")
        if styled and styled[-1] == "":
            styled.pop()
        raw = [plain(line) for line in styled]
        plains = [line.rstrip() for line in raw]
        start = screen_start(raw, pane.height, pane.width)
        at_top = rows >= pane.history_size
        captured = Captured()
        if self.history is None:
            new = [Line(text, line.rstrip(), now, False) for text, line in zip(plains, styled, strict=True)]
            skip = self._anchored(plains)
            for line in new[:skip]:
                line.logged = True
        else:
            shift = self._shift(plains, start, pane, rows, at_top)
            if shift is None:
                if not at_top:
                    return None
                # nothing of the last window is left: the pane was cleared (its history too), or it printed more
                # than its history keeps since the last look (then lines were lost)
                shift = -len(self.lines)
                captured.gap = bool(pane.history_limit) and pane.history_size >= pane.history_limit * 0.85
            new = self._carry(plains, styled, shift, at_top, now)
            self._left_screen(new, shift, captured)
        for index, line in enumerate(new):
            if line.logged:
                continue
            if not loggable(line.text):
                line.logged = True
            elif index < start or now - line.since >= self.settle:
                line.logged = True
                captured.lines.append((line.styled, line.text))
        self.lines, self.screen_at, self.history, self.top = new, start, pane.history_size, at_top
        self.anchor = []
        return captured

    def settled(self, now: float) -> list[tuple[str, str]]:
        """Screen lines that settled since the last look although nothing moved (no capture needed)."""
        found = []
        for line in self.lines[self.screen_at:]:
            if not line.logged and now - line.since >= self.settle:
                line.logged = True
                if loggable(line.text):
                    found.append((line.styled, line.text))
        return found

    def flush(self) -> list[tuple[str, str]]:
        """Every line not logged yet (the pane ended: nothing on it changes any more)."""
        return self.settled(float("inf"))

    def _anchored(self, plains: list[str]) -> int:
        """At a first look: the number of lines an earlier reader already logged (up to the last place the
        last logged texts appear in order), else 0."""
        if not self.anchor:
            return 0
        wanted = [text for text in self.anchor if loggable(text)][-3:]
        for size in (len(wanted), 1):
            tail = wanted[-size:]
            if not tail:
                continue
            positions = [index for index, text in enumerate(plains) if loggable(text)]
            texts = [plains[index] for index in positions]
            for end in range(len(texts), size - 1, -1):
                if texts[end - size:end] == tail:
                    return positions[end - 1] + 1
        return 0

    def _shift(self, plains: list[str], start: int, pane: PaneInfo, rows: int, at_top: bool) -> int | None:
        """How the new window lines up with the old: new index = old index + shift. The candidates: where the
        old window's last history lines are found now, and (a window at the top, not trimmed) no move at all;
        the best is the one with which the most old lines agree, nearest the history's growth when tied."""
        old = self.lines
        if not old:
            return 0
        anchor = [line.text for line in old[max(0, self.screen_at - ANCHOR):self.screen_at]]
        candidates: set[int] = set()
        if anchor:
            size = len(anchor)
            for end in range(len(plains), size - 1, -1):
                if plains[end - size:end] == anchor:
                    candidates.add(end - self.screen_at)
        if at_top and self.top and self.history is not None and pane.history_size >= self.history:
            candidates.add(0)
        # where the history's growth puts the old screen (exact while no line wraps)
        growth = max(0, pane.history_size - (self.history or 0))
        predicted = start - growth - self.screen_at
        candidates.add(predicted)
        if not anchor:
            candidates.update(range(-len(old), len(plains)))
        best: tuple[int, int, int] | None = None
        for shift in candidates:
            agree = sum(1 for index, line in enumerate(old)
                        if 0 <= index + shift < len(plains) and line.text and plains[index + shift] == line.text)
            key = (agree, -abs(shift - predicted), shift)
            if agree and (best is None or key > best):
                best = key
        if best is None:
            return None
        return best[2]

    def _carry(self, plains: list[str], styled: list[str], shift: int, at_top: bool, now: float) -> list[Line]:
        """The new window's lines, each carrying what the old window knew of it (logged, since) when it holds
        the same text at its shifted place; lines before the old window are not new (read before, or lost)."""
        old = self.lines
        first_known = shift  # the new index of the old window's first line
        new: list[Line] = []
        for index, (text, line) in enumerate(zip(plains, styled, strict=True)):
            before = old[index - shift] if 0 <= index - shift < len(old) else None
            if before is not None and before.text == text:
                new.append(Line(text, line.rstrip(), before.since, before.logged))
            elif index < first_known or (index == 0 and not at_top):
                new.append(Line(text, line.rstrip(), now, True))  # older than what was read, or a partial line
            else:
                new.append(Line(text, line.rstrip(), now, False))
        return new

    def _left_screen(self, new: list[Line], shift: int, captured: Captured) -> None:
        """Old screen lines that are gone from their place: logged when their place is now blank (erased, the
        screen cleared: they left unchanged), dropped when other text replaced them (redrawn in place). A new
        line that shows a logged line which moved elsewhere is not logged again."""
        moved: Counter[str] = Counter()
        for index, line in enumerate(self.lines[self.screen_at:], start=self.screen_at):
            place = index + shift
            if 0 <= place < len(new) and new[place].text == line.text:
                continue
            if line.logged:
                moved[line.text] += 1
            elif loggable(line.text) and (not 0 <= place < len(new) or not new[place].text):
                line.logged = True
                captured.lines.append((line.styled, line.text))
                moved[line.text] += 1
        if moved:
            for line in new:
                if not line.logged and moved[line.text] > 0:
                    moved[line.text] -= 1
                    line.logged = True
