"""How a log entry looks, for the dashboard's log panel and the log viewer alike: its time, its agent in a
colour of its own, its severity (a word and a colour: never colour alone) and its text with the styles the pane
showed, search matches highlighted."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style

from agentmux.ansi import ansi_segments, plain
from agentmux.logs import LogEntry, Severity

TEXT_STYLE: dict[Severity, Style] = {
    Severity.ERROR: Style(color="red"),
    Severity.WARNING: Style(color="yellow"),
    Severity.INFO: Style(),
    Severity.DEBUG: Style(dim=True),
}
"""Under the line's own styles: an error's text is red where the pane gave it no colour of its own."""
LABEL_STYLE: dict[Severity, Style] = {
    Severity.ERROR: Style(color="red", bold=True),
    Severity.WARNING: Style(color="yellow", bold=True),
    Severity.INFO: Style(dim=True),
    Severity.DEBUG: Style(dim=True),
}
LABEL: dict[Severity, str] = {Severity.ERROR: "error", Severity.WARNING: "warn", Severity.INFO: "",
                              Severity.DEBUG: "debug"}
"""The viewer's severity column (info says nothing: what matters stands out)."""
MARK: dict[Severity, str] = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.INFO: " ", Severity.DEBUG: "D"}
"""The log panel's one-letter severity column."""
LABEL_WIDTH = max(len(label) for label in LABEL.values())
LEVELS: tuple[Severity | None, ...] = (None, Severity.INFO, Severity.WARNING, Severity.ERROR)
"""The minimum levels a filter cycles through (None: every entry, debug too)."""
AGENT_COLOURS = ("#5fafff", "#87d75f", "#af87ff", "#5fd7af", "#87d7ff", "#d787ff", "#afd75f", "#87afaf")
"""Agents' names are told apart by colour too: blues, greens and violets of the 256-colour palette (never red or
yellow, which say severity), the same whatever the terminal's theme does to its 16 colours."""
DIM = Style(dim=True)
HIGHLIGHT = Style(color="black", bgcolor="yellow")


@lru_cache(maxsize=256)
def agent_style(name: str, fleet: tuple[str, ...] = ()) -> Style:
    """The same colour for an agent's name everywhere: by its place in the fleet (the config's order: the first
    eight agents never share one), else by its name."""
    index = fleet.index(name) if name in fleet else zlib.crc32(name.encode())
    return Style(color=AGENT_COLOURS[index % len(AGENT_COLOURS)], bold=True)


def level_label(level: Severity | None) -> str:
    return "all levels" if level is None else f"≥ {level.label}"


def text_segments(entry: LogEntry, base: Style, spans: Sequence[tuple[int, int]] = (),
                  width: int | None = None) -> list[Segment]:
    """The entry's text as segments, on `base` plus its severity's colour, `spans` (offsets in its plain text)
    highlighted; cut to `width` when given (and padded to it)."""
    under = base + TEXT_STYLE[entry.severity]
    if not spans:
        return ansi_segments(entry.display, width, under)
    segments = ansi_segments(entry.display, None, under)
    if "".join(segment.text for segment in segments) != entry.text:
        # The styled text does not read as the plain one character for character (a tab, a control
        # character): highlight the plain text, without the pane's styles, so the offsets hold.
        segments = ansi_segments(plain(entry.text), None, under)
        if "".join(segment.text for segment in segments) != entry.text:
            segments = [Segment(entry.text, under)]
    segments = highlighted(segments, spans)
    if width is None:
        return segments
    return list(Segment.adjust_line_length(segments, width, under))


def highlighted(segments: Sequence[Segment], spans: Sequence[tuple[int, int]]) -> list[Segment]:
    """Segments with the characters in `spans` (sorted, not overlapping) in the highlight style."""
    result: list[Segment] = []
    position = 0
    spans = list(spans)
    index = 0
    for segment in segments:
        text, style = segment.text, segment.style or Style()
        start, end = position, position + len(text)
        cut = 0
        while index < len(spans) and spans[index][0] < end:
            low, high = max(spans[index][0], start), min(spans[index][1], end)
            if low > start + cut:
                result.append(Segment(text[cut:low - start], style))
            if high > low:
                result.append(Segment(text[low - start:high - start], style + HIGHLIGHT))
                cut = high - start
            if spans[index][1] <= end:
                index += 1
            else:
                break
        if cut < len(text):
            result.append(Segment(text[cut:], style))
        position = end
    return result
