"""The choice picker: what a waiting agent asks and the choices its screen offers (Claude Code's permission
dialog), picked with a digit, or the arrows and Enter; Escape cancels. The pick is answered as
`agentmux answer NAME N` is (Fleet.answer)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from agentmux.agents import answers
from agentmux.agents.answers import Choice
from agentmux.agents.lifecycle import Fleet
from agentmux.errors import AgentmuxError
from agentmux.tmux.backend import CaptureRequest

RULE_RE = re.compile(r"^\s*[─━═]{8,}\s*$")
"""A horizontal rule across the screen: Claude Code draws one above its permission dialog."""
QUESTION_LINES = 8
"""Lines of the dialog's text shown above its choices, at most (the last ones: the question is there)."""


@dataclass(frozen=True)
class Question:
    """What an agent waits on, as its screen showed it when the picker opened."""

    agent: str
    asks: str
    """The agent's state reason (`asks: Bash: rm -rf build`)."""
    lines: tuple[str, ...]
    """The dialog's text down to its question (`Bash command`, the command, `Do you want to proceed?`)."""
    choices: tuple[Choice, ...]


def question_lines(screen: str) -> tuple[str, ...]:
    """The dialog's text above its choices: from the rule over the dialog down to `Do you want to …?`, blank
    lines left out, indented as on the screen (less the margin the lines share)."""
    lines = screen.splitlines()
    ask = max((i for i, line in enumerate(lines) if "Do you want to" in line), default=None)
    if ask is None:
        return ()
    top = max((i for i in range(ask) if RULE_RE.match(lines[i])), default=-1)
    shown = [line.rstrip() for line in lines[top + 1:ask + 1] if line.strip()][-QUESTION_LINES:]
    return tuple(textwrap.dedent("\n".join(shown)).splitlines())


def read_question(fleet: Fleet, name: str, asks: str) -> Question:
    """The agent's question and choices from a capture of its pane now, its secrets masked (blocking: tmux)."""
    pane = fleet.pane(name)
    if pane is None or pane.dead:
        raise AgentmuxError(f"{name} is not running")
    screen = fleet.tmux.capture([CaptureRequest(pane.pane_id, escapes=False)]).get(pane.pane_id, "")
    screen = fleet.redactor(name, pane)(screen)
    return Question(name, asks, question_lines(screen), tuple(answers.choices(screen)))


class AnswerScreen(ModalScreen[int | None]):
    """The question and its choices; a digit or Enter picks one (its number is the result), Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        *(Binding(str(number), f"pick({number})", f"Pick choice {number}", show=False) for number in range(1, 10)),
    ]
    AUTO_FOCUS = "#choices"

    def __init__(self, question: Question) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        question = self.question
        numbers = [choice.number for choice in question.choices]
        keys = f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 1 else str(numbers[0]) if numbers else "a digit"
        with Vertical(classes="dialog", id="answer"):
            title = Text(f"{question.agent} ", style="bold")
            title.append(question.asks, style="bold magenta")
            yield Label(title, classes="dialog-title")
            if question.lines:
                text = Text("\n".join(question.lines[:-1]))
                text.append(("\n" if len(question.lines) > 1 else "") + question.lines[-1], style="bold")
                yield Static(text, id="answer-question")
            yield OptionList(*(Option(Text(f"{choice.number}. {choice.label}"), id=str(choice.number))
                               for choice in question.choices), id="choices")
            yield Static(f"{keys} picks, or ↑↓ and Enter · Esc cancels", classes="field-label", markup=False)

    @on(OptionList.OptionSelected, "#choices")
    def selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(int(event.option.id))

    def action_pick(self, number: int) -> None:
        if any(choice.number == number for choice in self.question.choices):
            self.dismiss(number)
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(None)
