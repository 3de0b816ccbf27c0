"""Detectors: pure functions from what a pane shows (plus events) to an agent state.

They never touch tmux or the store, so they are tested with plain strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentmux import demo
from agentmux.agents.state import Detected
from agentmux.state import AgentState

QUESTION_RE = re.compile(
    r"(\[(?:y/n|Y/n|y/N|yes/no)\]|\((?:y/n|Y/n|y/N|yes/no)\)|\?\s*$|(?:continue|proceed|confirm)\b.*:\s*$)",
    re.IGNORECASE,
)



def last_line(screen: str) -> str:
    """The last non-blank line of a screen, right-stripped."""
    for line in reversed(screen.splitlines()):
        if line.strip():
            return line.rstrip()
    return ""


@dataclass(frozen=True)
class Observation:
    """Everything a detector may look at for one agent at one moment."""

    screen: str
    """Plain text of the visible screen (no escapes)."""
    now: float
    started_at: float
    last_output_at: float | None
    """When the screen last changed; None when it has not changed since start."""
    idle_after: float
    pane_dead: bool = False
    exit_status: int | None = None
    exit_signal: int | None = None
    stop_requested: bool = False
    events: tuple[str, ...] = field(default_factory=tuple)


INIT_FAILED_RE = re.compile(r"^\[agentmux\] init command failed with status \d+: .*$", re.MULTILINE)
"""The line a pane script prints when an init command fails (agents/kinds.py), before it ends."""


def detect_ended(obs: Observation) -> Detected | None:
    """The state of an agent whose process has ended, or None while it runs."""
    if not obs.pane_dead:
        return None
    if obs.exit_signal:
        how = f"killed by signal {obs.exit_signal}"
    else:
        how = f"exited with status {obs.exit_status if obs.exit_status is not None else 'unknown'}"
    if obs.stop_requested:
        return Detected(AgentState.STOPPED, f"stopped ({how})")
    init = INIT_FAILED_RE.search(obs.screen)
    if init is not None:
        return Detected(AgentState.ERROR, init.group(0).strip().removeprefix("[agentmux] "))
    if obs.exit_status == 0 and not obs.exit_signal:
        return Detected(AgentState.EXITED, how)
    return Detected(AgentState.ERROR, how)


def quiet_for(obs: Observation) -> float:
    """Seconds since the screen last changed, or since the program started when it has not changed since
    (output from before a restart says nothing of the new program)."""
    since = obs.started_at if obs.last_output_at is None else max(obs.last_output_at, obs.started_at)
    return obs.now - since


def detect_command(obs: Observation) -> Detected:
    """Any terminal program: busy while output changes, idle when quiet, waiting at a question."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    quiet = quiet_for(obs)
    if obs.last_output_at is None and quiet < obs.idle_after and not obs.screen.strip():
        return Detected(AgentState.STARTING, "starting")
    if quiet < obs.idle_after:
        return Detected(AgentState.BUSY, "output changing")
    if QUESTION_RE.search(last_line(obs.screen)):
        return Detected(AgentState.WAITING, f"asks: {last_line(obs.screen).strip()[:80]}")
    return Detected(AgentState.IDLE, f"quiet for {obs.idle_after:g}s or more")


DEMO_SETTLE = 0.3
DEMO_PROMPT_RE = re.compile(re.escape(demo.PROMPT.rstrip()))
SHELL_PS1 = "[$?] $ "
"""The prompt agentmux gives a `shell` agent: the last command's exit status, then `$`."""
SHELL_PROMPT_RE = re.compile(r"\[(\d+)\] \$")


def detect_demo(obs: Observation) -> Detected:
    """The built-in demo agent: its prompt and its [y/n] question are known exactly."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    line = last_line(obs.screen)
    quiet = quiet_for(obs)
    if line.endswith(demo.QUESTION.rstrip()[-5:]) and quiet >= DEMO_SETTLE:
        return Detected(AgentState.WAITING, f"asks: {line.lstrip('? ').strip()}")
    if line.rstrip() == demo.PROMPT.rstrip() and quiet >= DEMO_SETTLE:
        return Detected(AgentState.IDLE, "at its prompt")
    if not obs.screen.strip() and obs.last_output_at is None:
        return Detected(AgentState.STARTING, "starting")
    return Detected(AgentState.BUSY, "working")


def detect_shell(obs: Observation) -> Detected:
    """An interactive shell with agentmux's prompt (`[STATUS] $ `): idle at the prompt, busy while a command
    runs (printing or not), waiting when a command asks a question and goes quiet."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    line = last_line(obs.screen)
    prompt = SHELL_PROMPT_RE.fullmatch(line)
    if prompt is not None:
        return Detected(AgentState.IDLE, f"at its prompt (last status {prompt.group(1)})")
    if not obs.screen.strip() and obs.last_output_at is None:
        return Detected(AgentState.STARTING, "starting")
    if quiet_for(obs) >= obs.idle_after and QUESTION_RE.search(line):
        return Detected(AgentState.WAITING, f"asks: {line.strip()[:80]}")
    return Detected(AgentState.BUSY, "running a command")
