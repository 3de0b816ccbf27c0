"""The captured-line reader gives the same text and styles as rich's full ANSI decoder, cut to a width."""

from __future__ import annotations

import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from agentmux import ansi
from agentmux.ansi import ansi_segments

LINES = [
    "plain text",
    "\x1b[31mred\x1b[0m and \x1b[1;32mgreen bold\x1b[0m",
    "\x1b[38;5;208morange 256\x1b[39m default \x1b[48;5;17mnavy bg\x1b[49m",
    "\x1b[38;2;10;20;30mrgb fg\x1b[48;2;200;100;50m and bg\x1b[m",
    "\x1b[1mbold\x1b[22m \x1b[2mdim\x1b[22m \x1b[3mitalic\x1b[23m \x1b[4munder\x1b[24m",
    "\x1b[5mblink\x1b[25m \x1b[7mrev\x1b[27m \x1b[9mstrike\x1b[29m \x1b[1;2mboth\x1b[22mneither",
    "\x1b[91mbright red\x1b[0m \x1b[104mbright blue bg\x1b[0m",
    "\x1b[1;31mbold red\x1b[39m still bold\x1b[0m",
    "wide 漢字 chars \x1b[35mmagenta\x1b[0m",
]


def effective(style: Style) -> Style:
    """What a style does on a plain base: rich spells resets out (not bold, default colour), we leave them out."""
    def colour(value):  # noqa: ANN001, ANN202
        return None if value is None or value.is_default else value
    return Style(color=colour(style.color), bgcolor=colour(style.bgcolor), bold=style.bold or None,
                 dim=style.dim or None, italic=style.italic or None, underline=style.underline or None,
                 blink=style.blink or None, reverse=style.reverse or None, strike=style.strike or None)


def rich_reading(line: str) -> list[tuple[str, Style]]:
    """(text, style) per character as rich's decoder reads the line."""
    console = Console(width=500)
    out = []
    for segment in Text.from_ansi(line).render(console, end=""):
        out.extend((char, effective(segment.style or Style.null())) for char in segment.text)
    return out


def our_reading(segments: list[Segment]) -> list[tuple[str, Style]]:
    return [(char, effective(segment.style or Style.null())) for segment in segments for char in segment.text]


@pytest.mark.parametrize("line", LINES)
def test_same_text_and_styles_as_rich(line: str) -> None:
    ours = our_reading(ansi_segments(line))
    theirs = rich_reading(line)
    assert "".join(c for c, _ in ours) == "".join(c for c, _ in theirs)
    for (char, mine), (_, rich_style) in zip(ours, theirs, strict=True):
        assert mine == rich_style, f"style of {char!r} in {line!r}: {mine} != {rich_style}"


def test_cut_and_padded_to_a_width_on_a_base_style() -> None:
    base = Style(bgcolor="grey11")
    segments = ansi_segments("\x1b[31mred\x1b[0m and more text than fits", width=10, base=base)
    assert sum(s.cell_length for s in segments) == 10
    assert "".join(s.text for s in segments) == "red and mo"
    assert all(s.style is not None and s.style.bgcolor == base.bgcolor for s in segments)
    short = ansi_segments("ab", width=5, base=base)
    assert "".join(s.text for s in short) == "ab   "


def test_wide_characters_never_overflow_the_width() -> None:
    segments = ansi_segments("ab漢字cd", width=5)
    assert sum(s.cell_length for s in segments) == 5


def test_other_escapes_and_controls_are_dropped() -> None:
    line = "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ \x1b[2Kcleared\x1b[?25h\x07 done\ttab"
    text = "".join(s.text for s in ansi_segments(line))
    assert text == "link cleared done    tab"
    assert ansi.plain("\x1b[31mred\x1b[0m plain") == "red plain"


@pytest.mark.parametrize(("codes", "expected"), [
    ("4:3", Style(underline=True)),  # curly underline, as tmux writes it
    ("4:2", Style(underline=True)),
    ("4;4:0", Style()),  # underline off
    ("58;5;196", Style()),  # underline colour: read past, not blink
    ("58;2;0;1;31", Style()),  # not a reset, bold and red
    ("58:2::255:0:0;1", Style(bold=True)),
    ("38:2::10:20:30", Style(color=Color.from_rgb(10, 20, 30))),
    ("38:2:10:20:30", Style(color=Color.from_rgb(10, 20, 30))),
    ("48:5:17", Style(bgcolor="color(17)")),
    ("5:3", Style()),  # tmux's overline: ignored, not blink and italic
    ("38;5;300", Style(color="color(255)")),
])
def test_colon_forms_and_underline_colour(codes: str, expected: Style) -> None:
    [segment] = ansi_segments(f"\x1b[{codes}mx")
    assert effective(segment.style or Style.null()) == effective(expected)
