"""Terminal text: plain text without escapes, a screen's lines, and a fast reader of the ANSI lines tmux
captures (`capture-pane -e`): text and SGR styles as rich Segments.

`rich.text.Text.from_ansi` handles every escape a terminal may see, and costs accordingly; a captured pane line
holds only printable text and SGR (colour and attribute) sequences, which tmux writes itself. This reader handles
those (16, 256 and RGB colours, bold, dim, italic, underline, blink, reverse, strike and their resets, the
colon forms tmux writes for underline styles and colours), ignores what a tile cannot show (underline colour,
overline), drops any other escape, and cuts the line to a width as it goes, so a 200-column line shown in
a 40-column tile costs only its first 40 columns. Styles are built once per distinct SGR state.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

ESCAPE_RE = re.compile(
    r"\x1b\[([0-9;:]*)m"  # SGR: the only escape kept
    r"|\x1b\[[0-9;:?<=>]*[ -/]*[@-~]"  # any other CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (hyperlinks, titles)
    r"|\x1b[@-_]"  # other two-byte escapes
)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# SGR state: (foreground, background, bold, dim, italic, underline, blink, reverse, strike)
SgrState = tuple[Any, ...]
_PLAIN: SgrState = (None, None, False, False, False, False, False, False, False)
_SET = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 6, 7: 7, 9: 8, 21: 5}  # 21 (double underline) shows as underline
_RESET = {22: (2, 3), 23: (4,), 24: (5,), 25: (6,), 27: (7,), 29: (8,)}


def _number(text: str) -> int:
    return min(int(text), 255) if text.isdigit() else 0


def _extended_colour(params: list[int], index: int) -> tuple[Color | None, int]:
    """38;5;N or 38;2;R;G;B starting at params[index] (the 5 or 2); returns the colour and the next index."""
    if index < len(params) and params[index] == 5 and index + 1 < len(params):
        return Color.from_ansi(params[index + 1]), index + 2
    if index < len(params) and params[index] == 2 and index + 3 < len(params):
        red, green, blue = params[index + 1:index + 4]
        return Color.from_rgb(red, green, blue), index + 4
    return None, len(params)


def _colon_group(values: list[Any], group: str) -> None:
    """One colon-separated parameter (ITU T.416 style), as tmux writes some: 4:3 (curly underline),
    38:2::R:G:B, 48:5:N, 58:... (underline colour, ignored). Anything else with colons is ignored."""
    parts = group.split(":")
    code = _number(parts[0])
    if code == 4:
        values[5] = _number(parts[1]) > 0 if len(parts) > 1 else True
    elif code in (38, 48) and len(parts) > 2:
        mode = _number(parts[1])
        colour = None
        if mode == 5:
            colour = Color.from_ansi(_number(parts[2]))
        elif mode == 2 and len(parts) >= 5:
            red, green, blue = (_number(part) for part in parts[-3:])  # 38:2:R:G:B or 38:2:CS:R:G:B
            colour = Color.from_rgb(red, green, blue)
        if colour is not None:
            values[0 if code == 38 else 1] = colour


@lru_cache(maxsize=4096)
def _apply_sgr(state: SgrState, codes: str) -> SgrState:
    """The SGR state after one escape's parameters."""
    values = list(state)
    groups = codes.split(";") if codes else ["0"]
    params = [_number(group) if ":" not in group else -1 for group in groups]
    index = 0
    while index < len(params):
        code = params[index]
        index += 1
        if code == -1:
            _colon_group(values, groups[index - 1])
        elif code == 0:
            values = list(_PLAIN)
        elif code in _SET:
            values[_SET[code]] = True
        elif code in _RESET:
            for slot in _RESET[code]:
                values[slot] = False
        elif 30 <= code <= 37:
            values[0] = Color.from_ansi(code - 30)
        elif 90 <= code <= 97:
            values[0] = Color.from_ansi(code - 90 + 8)
        elif code == 39:
            values[0] = None
        elif 40 <= code <= 47:
            values[1] = Color.from_ansi(code - 40)
        elif 100 <= code <= 107:
            values[1] = Color.from_ansi(code - 100 + 8)
        elif code == 49:
            values[1] = None
        elif code in (38, 48, 58):  # 58: underline colour, read past and ignored
            colour, index = _extended_colour(params, index)
            if colour is not None and code != 58:
                values[0 if code == 38 else 1] = colour
    return tuple(values)


@lru_cache(maxsize=4096)
def _style(state: SgrState, base: Style | None) -> Style:
    fg, bg, bold, dim, italic, underline, blink, reverse, strike = state
    style = Style(color=fg, bgcolor=bg, bold=bold or None, dim=dim or None, italic=italic or None,
                  underline=underline or None, blink=blink or None, reverse=reverse or None, strike=strike or None)
    return style if base is None else base + style


def ansi_segments(line: str, width: int | None = None, base: Style | None = None) -> list[Segment]:
    """The segments of one captured line, cut to `width` cells and padded to it with `base` when given.

    `base` is the style under the line's own (a tile's background); it is also the style of the padding.
    """
    segments: list[Segment] = []
    append = segments.append
    state = _PLAIN
    used = 0
    position = 0
    pieces: list[tuple[str, SgrState]] = []
    for match in ESCAPE_RE.finditer(line):
        if match.start() > position:
            pieces.append((line[position:match.start()], state))
        position = match.end()
        codes = match.group(1)
        if codes is not None:
            state = _apply_sgr(state, codes)
    if position < len(line):
        pieces.append((line[position:], state))
    for text, piece_state in pieces:
        if width is not None and used >= width:
            break
        if not text.isprintable():
            text = CONTROL_RE.sub("", text.replace("\t", "    "))
            if not text:
                continue
        cells = len(text) if text.isascii() else cell_len(text)
        if width is not None and used + cells > width:
            text = text[:width - used] if text.isascii() else set_cell_size(text, width - used)
            cells = width - used
        used += cells
        append(Segment(text, _style(piece_state, base)))
    if width is not None and used < width:
        padding = " " * (width - used)
        if segments and segments[-1].style == base:  # one segment, however the line was reached
            segments[-1] = Segment(segments[-1].text + padding, base)
        else:
            append(Segment(padding, base))
    return segments


def plain(text: str) -> str:
    """Text without colour, cursor and other escapes (the one place escapes are stripped: detectors, logs, search)."""
    return ESCAPE_RE.sub("", text)


def visible_lines(screen: str) -> list[str]:
    """The screen's lines without trailing blank ones (a line of only escape codes is blank)."""
    lines = screen.split("\n")
    while lines and not plain(lines[-1]).strip():
        lines.pop()
    return lines


def new_lines(before: list[str], after: list[str]) -> list[str]:
    """Lines of `after` that were not on the screen `before`, assuming the screen scrolls up.

    Lines are compared by their text without escapes: tmux writes each line's colours relative to the
    line above, so a line that scrolled to the top can come back with other escapes. The smallest scroll
    that makes the old screen's tail the new screen's head wins; a last line rewritten in place (a
    prompt being typed, a spinner) counts as new only when it changed.
    """
    if not before:
        return after
    old = [plain(line) for line in before]
    new = [plain(line) for line in after]
    for shift in range(len(old) + 1):
        kept = old[shift:]
        if new[: len(kept)] == kept:
            return after[len(kept):]
        if kept and new[: len(kept) - 1] == kept[:-1] and len(new) >= len(kept):
            start = len(kept) - 1
            return after[start:] if new[start] != kept[-1] else after[start + 1:]
    return after


def one_line(text: str) -> str:
    """A message as one printable line: control characters, line and paragraph separators and lone
    surrogates (bytes that were not UTF-8) are written as escapes (`\\n`, `\\x1e`), so text a user gave never
    breaks an error into several lines or a terminal's state."""
    return "".join(_escape(char) if _unprintable(char) else char for char in text)


BIDI_CONTROLS = frozenset({0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
"""Characters that reorder the text around them on screen (a right-to-left override hides what follows)."""


def _unprintable(char: str) -> bool:
    code = ord(char)
    return (code < 32 or 127 <= code < 160 or code in (0x2028, 0x2029) or 0xD800 <= code < 0xE000
            or code in BIDI_CONTROLS)


def _escape(char: str) -> str:
    return repr(char)[1:-1]  # \n, \t, \x1e, \u2028, \udcff


def printable(text: str) -> str:
    """Text as shown to a person, lines kept: like `one_line`, but newlines and tabs stay. A task's text
    may hold any character (a shell agent takes them); shown raw, an escape would move the cursor, retitle
    the terminal or recolour what follows."""
    return "".join(_escape(char) if _unprintable(char) and char not in "\n\t" else char for char in text)
