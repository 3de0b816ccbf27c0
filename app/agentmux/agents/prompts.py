"""Prompts that arrive: typing into Claude Code counts only when Claude Code says it took the prompt.

Pasted and followed at once by Enter, a prompt can sit in Claude Code's input box unsubmitted (the Enter
is taken by its paste handling), and the next prompt is then appended to it. So agentmux pastes the text,
waits until the screen has settled, presses Enter, and waits for the agent's UserPromptSubmit hook event;
without one it presses Enter again (an Enter on an empty input box does nothing), and after the last try
it clears what it typed (Escape twice) and says so. (README: The claude kind, Prompts.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from agentmux.errors import AgentmuxError
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


def submit(fleet: _Fleet, name: str, pane_id: str, text: str,
           clock: Callable[[], float] = time.monotonic) -> None:
    """Paste `text` into the claude agent's pane and press Enter until Claude Code confirms the prompt."""
    before = fleet.store.last_hook_id(name)
    screen = _screen(fleet.tmux, pane_id)
    fleet.tmux.send_text(pane_id, text, enter=False)
    _settle(fleet.tmux, pane_id, screen, clock)
    for _ in range(TRIES):
        fleet.tmux.send_keys(pane_id, "Enter")
        deadline = clock() + CONFIRM_WAIT
        while clock() < deadline:
            if fleet.store.prompt_submitted_after(name, before):
                return
            time.sleep(0.03)
    fleet.tmux.send_keys(pane_id, "Escape")
    time.sleep(0.1)
    fleet.tmux.send_keys(pane_id, "Escape")
    raise PromptNotTaken(f"{name} did not take the prompt ({TRIES} tries of Enter, no UserPromptSubmit from its "
                         "hooks): what was typed has been cleared from its input box")


def _screen(tmux: TmuxServer, pane_id: str) -> str:
    return tmux.capture([CaptureRequest(pane_id, escapes=False)]).get(pane_id, "")


def _settle(tmux: TmuxServer, pane_id: str, before: str, clock: Callable[[], float]) -> None:
    """Wait until the paste has changed the screen and it has stayed still for SETTLE seconds."""
    deadline = clock() + PASTE_WAIT
    last, since = before, clock()
    while clock() < deadline:
        time.sleep(0.03)
        now_screen = _screen(tmux, pane_id)
        if now_screen != last:
            last, since = now_screen, clock()
        elif last != before and clock() - since >= SETTLE:
            return
