"""New lines between two captures of the same screen."""

from __future__ import annotations

from agentmux.agents.detectors import strip_ansi


def visible_lines(screen: str) -> list[str]:
    """The screen's lines without trailing blank ones (a line of only escape codes is blank)."""
    lines = screen.split("\n")
    while lines and not strip_ansi(lines[-1]).strip():
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
    old = [strip_ansi(line) for line in before]
    new = [strip_ansi(line) for line in after]
    for shift in range(len(old) + 1):
        kept = old[shift:]
        if new[: len(kept)] == kept:
            return after[len(kept):]
        if kept and new[: len(kept) - 1] == kept[:-1] and len(new) >= len(kept):
            start = len(kept) - 1
            return after[start:] if new[start] != kept[-1] else after[start + 1:]
    return after
