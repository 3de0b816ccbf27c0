"""Which key answers which choice of a question on screen (agents/answers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmux.agents.answers import Choice, choices, pick
from agentmux.errors import UsageError

WAITING = (Path(__file__).resolve().parents[1] / "claude" / "screens" / "waiting.txt").read_text()


def test_the_choices_of_claude_codes_permission_dialog_are_read_from_its_screen() -> None:
    offered = choices(WAITING)
    assert [c.number for c in offered] == [1, 2, 3]
    assert offered[0].label == "Yes" and offered[2].label == "No"
    assert offered[1].label.startswith("Yes, and always allow")


@pytest.mark.parametrize(("answer", "number"), [("yes", 1), ("y", 1), ("always", 2), ("no", 3), ("n", 3), ("2", 2)])
def test_an_answer_picks_its_choice(answer: str, number: int) -> None:
    assert pick(answer, choices(WAITING)).number == number


@pytest.mark.parametrize("answer", ["7", "maybe"])
def test_an_answer_that_is_no_choice_is_refused_naming_the_choices(answer: str) -> None:
    with pytest.raises(UsageError, match="1. Yes; 2. Yes, and always allow"):
        pick(answer, choices(WAITING))


def test_a_dialog_of_two_choices() -> None:
    screen = " Do you want to make this edit to app.py?\n ❯ 1. Yes\n   2. No, and tell Claude what to do\n"
    assert pick("no", choices(screen)) == Choice(2, "No, and tell Claude what to do")
    with pytest.raises(UsageError):
        pick("always", choices(screen))
