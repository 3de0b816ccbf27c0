"""Prompts that arrive: typing into Claude Code counts only when Claude Code says it took the prompt.

Pasted and followed at once by Enter, a prompt can sit in Claude Code's input box unsubmitted (the Enter
is taken by its paste handling), and the next prompt is then appended to it. So agentmux pastes the text,
waits until the screen has settled, presses Enter, and waits for the agent's UserPromptSubmit hook event;
without one it presses Enter again (an Enter on an empty input box does nothing), and after the last try
it clears what it typed (Escape twice) and says so. An agent whose hooks have not spoken since it started
(hooks disabled in the user's settings, an older CLI) has its screen confirm instead: after Enter, a
working, asking or idle screen other than the one the paste left. (README: The claude kind, Prompts.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from agentmux.agents.detectors import CLAUDE_SCREEN, detect_screen
from agentmux.errors import AgentmuxError
from agentmux.state import AgentState
from agentmux.store import Store
from agentmux.tmux.backend import CaptureRequest, TmuxServer

SETTLE = 0.15
"""Seconds the screen must stay unchanged after the paste before Enter is pressed."""
PASTE_WAIT = 2.0
"""Longest wait for the pasted text to show before pressing Enter anyway."""
CONFIRM_WAIT = 3.0
"""Seconds to wait for the UserPromptSubmit hook after each Enter."""
TRIES = 3


class PromptNotTaken(AgentmuxError):
    """Claude Code did not take a prompt; what was typed has been cleared."""


class _Fleet(Protocol):
    tmux: TmuxServer
    store: Store


class Submission:
    """A prompt on its way into a claude agent, one step at a time, never waiting: the dispatcher advances it
    at each look, so the supervisor's loop goes on meanwhile. Creating it pastes the text."""

    def __init__(self, fleet: _Fleet, name: str, pane_id: str, text: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fleet, self.name, self.pane_id, self.clock = fleet, name, pane_id, clock
        self.before = fleet.store.last_hook_id(name)
        record = fleet.store.agent(name)
        self.hooks = fleet.store.hook_since(name, record.started_at if record is not None else None)
        """Its hooks have spoken since it started; if not (hooks disabled, an older CLI), its screen confirms."""
        self.pasted_over = self.last = _screen(fleet.tmux, pane_id)
        fleet.tmux.send_text(pane_id, text, enter=False)
        now = clock()
        self.since, self.deadline = now, now + PASTE_WAIT
        self.tries = 0

    def step(self) -> bool:
        """True once Claude Code took the prompt; False while it is on its way. Raises PromptNotTaken (what
        was typed cleared) when the last Enter went unconfirmed."""
        now = self.clock()
        if self.tries == 0:  # waiting for the paste to show and settle
            screen = _screen(self.fleet.tmux, self.pane_id)
            if screen != self.last:
                self.last, self.since = screen, now
            elif (self.last != self.pasted_over and now - self.since >= SETTLE) or now >= self.deadline:
                self._enter(now)
            return False
        if self.fleet.store.prompt_submitted_after(self.name, self.before):
            return True
        if not self.hooks and self._screen_took_it():
            return True
        if now < self.deadline:
            return False
        if self.tries < TRIES:
            self._enter(now)
            return False
        seen = detect_screen(CLAUDE_SCREEN, _screen(self.fleet.tmux, self.pane_id))
        if seen is not None and seen.state in (AgentState.BUSY, AgentState.WAITING):
            return True  # at work on it: its hook's row went missing (an Escape now would interrupt the turn)
        self.fleet.tmux.send_keys(self.pane_id, "Escape")
        time.sleep(0.1)
        self.fleet.tmux.send_keys(self.pane_id, "Escape")
        raise PromptNotTaken(f"{self.name} did not take the prompt ({TRIES} tries of Enter, no UserPromptSubmit "
                             "from its hooks): what was typed has been cleared from its input box")

    def _screen_took_it(self) -> bool:
        """The fallback without hooks: after Enter the screen says Claude Code works on it, or shows the input
        box empty again (a quick turn already over)."""
        screen = _screen(self.fleet.tmux, self.pane_id)
        if screen == self.last:
            return False
        seen = detect_screen(CLAUDE_SCREEN, screen)
        return seen is not None and seen.state in (AgentState.BUSY, AgentState.WAITING, AgentState.IDLE,
                                                   AgentState.ERROR)

    def _enter(self, now: float) -> None:
        self.fleet.tmux.send_keys(self.pane_id, "Enter")
        self.tries += 1
        self.deadline = now + CONFIRM_WAIT


def submit(fleet: _Fleet, name: str, pane_id: str, text: str,
           clock: Callable[[], float] = time.monotonic) -> None:
    """Paste `text` into the claude agent's pane and press Enter until Claude Code confirms the prompt (waiting
    for it: the CLI's send)."""
    submission = Submission(fleet, name, pane_id, text, clock)
    while not submission.step():
        time.sleep(0.03)


def _screen(tmux: TmuxServer, pane_id: str) -> str:
    return tmux.capture([CaptureRequest(pane_id, escapes=False)]).get(pane_id, "")
