"""Answering an agent that waits: which key picks which choice of the question on its screen.

Claude Code asks with a numbered list under `Do you want to proceed?` (`❯ 1. Yes`, `2. Yes, and always
allow ...`, `3. No`), the Codex CLI under `Would you like to run the following command?` (`› 1. Yes, proceed
(y)`, `2. Yes, and don't ask again for commands that start with ... (p)`, `3. No, and tell Codex what to do
differently (esc)`); in both a digit picks a choice. Other programs ask `[y/n]` and read a typed line.

A plain yes or no to a claude agent goes first to its PermissionRequest hook when that waits for one
(agentmux/hook.py): `to_hook` hands the decision to the hook's socket, and Claude Code takes it as the
hook's answer, so no key has to land in the right dialog.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass

from agentmux.errors import UsageError
from agentmux.hook import ANSWER_PREFIX

CHOICE_RE = re.compile(r"^\s*(?:[❯›]\s*)?(\d)\.\s+(\S.*?)\s*$")
QUESTION_STARTS = ("Do you want to", "Would you like to")
KEY_HINT_RE = re.compile(r"\s*\([^()]*\)$")
"""The key a choice's label names at its end (Codex: `(y)`, `(esc)`), left out when its words are read."""
WORDS = ("yes", "no", "always")


@dataclass(frozen=True)
class Choice:
    number: int
    label: str


def choices(screen: str) -> list[Choice]:
    """The numbered choices of the last question on the screen (Claude Code's permission dialog, Codex's approval
    dialog)."""
    lines = screen.splitlines()
    start = max((i for i, line in enumerate(lines) if any(words in line for words in QUESTION_STARTS)),
                default=None)
    if start is None:
        return []
    found: list[Choice] = []
    for line in lines[start + 1:]:
        match = CHOICE_RE.match(line)
        if match is not None:
            found.append(Choice(int(match.group(1)), match.group(2)))
        elif found and line.strip() and not line.startswith("    "):
            break
    return found


def pick(answer: str, offered: list[Choice]) -> Choice:
    """The choice `answer` means: yes (the first Yes that is not an always), always (Yes, and always/don't ask
    again), no, or a number."""
    word = answer.strip().lower()
    word = {"y": "yes", "n": "no", "a": "always"}.get(word, word)
    if word.isdigit():
        for choice in offered:
            if choice.number == int(word):
                return choice
        raise UsageError(f"there is no choice {word}: {describe(offered)}")
    labels = [(choice, KEY_HINT_RE.sub("", choice.label).lower().rstrip(".")) for choice in offered]
    for choice, label in labels:
        if word == "yes" and label == "yes":
            return choice
        if word == "always" and _always(label):
            return choice
        if word == "no" and label.startswith("no"):
            return choice
    for choice, label in labels:
        if word == "yes" and label.startswith("yes,") and not _always(label):  # Codex: `Yes, proceed`
            return choice
    raise UsageError(f"{answer!r} is none of the choices: {describe(offered)} (answer yes, no, always or a number)")


def _always(label: str) -> bool:
    return label.startswith("yes,") and ("always" in label or "don't ask" in label)


def describe(offered: list[Choice]) -> str:
    return "; ".join(f"{choice.number}. {choice.label}" for choice in offered) or "no choices are shown"


HOOK_WORDS = {"yes": "allow", "y": "allow", "allow": "allow", "no": "deny", "n": "deny", "deny": "deny"}
"""The answers a waiting PermissionRequest hook can give; any other (always, a number, text) is a key."""


def hook_decision(answer: str) -> str | None:
    """allow or deny, when the answer is one a PermissionRequest hook can give, else None."""
    return HOOK_WORDS.get(answer.strip().lower())


def to_hook(reply: str, behavior: str, message: str = "") -> bool:
    """Hand the decision to the PermissionRequest hook waiting on the socket its event's row names (`reply`:
    NAME:SECRET, agentmux/hook.py); False when none waits."""
    token, _, secret = reply.partition(":")
    answer = {"secret": secret, "behavior": behavior, "message": message}
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)  # a stopped hook, or a queue filled by someone else, must not hang the answer
    try:
        sender.sendto(json.dumps(answer).encode(), ANSWER_PREFIX + token)
    except OSError:
        return False  # gone: the question was answered in the pane, or it gave up waiting
    finally:
        sender.close()
    return True
