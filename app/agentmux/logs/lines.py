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

    The smallest scroll that makes the old screen's tail the new screen's head wins; lines rewritten
    in place (a spinner) count as new only when the last line changed, and then only that line.
    """
    if not before:
        return after
    for shift in range(len(before) + 1):
        kept = before[shift:]
        if after[: len(kept)] == kept:
            return after[len(kept):]
        # The last old line may still be growing or redrawn in place (a prompt, a spinner).
        if kept and after[: len(kept) - 1] == kept[:-1] and len(after) >= len(kept):
            changed = after[len(kept) - 1:]
            return changed if changed[0] != kept[-1] else changed[1:]
    return after
