"""Detectors: pure functions from what a pane shows (plus events) to an agent state.

They never touch tmux or the store, so they are tested with plain strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from agentmux import demo
from agentmux.agents.state import Detected
from agentmux.state import AgentState
from agentmux.store import HookEvent

QUESTION_RE = re.compile(
    r"(\[(?:y/n|Y/n|y/N|yes/no)\]|\((?:y/n|Y/n|y/N|yes/no)\)|\?\s*$|(?:continue|proceed|confirm)\b.*:\s*$)",
    re.IGNORECASE,
)



DETECT_LINES = 12
"""Detectors read the last lines of a screen (prompts and questions are there), not all of it (a kind may read
more: AgentKind.screen_lines)."""


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
    hook: HookEvent | None = None
    """The newest hook event of this run of the agent (claude agents), or None."""


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


API_PROMPT = "api> "
"""The prompt of an api agent (`agentmux api-agent`, agentmux/api/agent.py) when it waits for the next prompt."""
API_PROMPT_RE = re.compile(re.escape(API_PROMPT.rstrip()))
API_ERROR = "api error: "
"""How an api agent's error line begins (one line, e.g. `api error: authentication failed (401): ...`)."""
API_RETRYING = ", retrying in "
"""In an error line that is followed by another attempt (the agent is still at it)."""
API_WAITING = "api: waiting"
"""How an api agent's line begins while its request waits for a permit of the shared rate limiter."""
API_CANCELLED = "^C interrupted"
"""What an api agent prints when Ctrl-C stops a reply."""


def api_failure(lines: list[str]) -> str | None:
    """The error an api agent's last request ended with, when the line before its prompt is an error line
    (not one followed by a retry), else None. `lines`: non-blank lines, its prompt last."""
    before = lines[-2].strip() if len(lines) > 1 else ""
    if before.startswith(API_ERROR) and API_RETRYING not in before:
        return before
    return None


def detect_api(obs: Observation) -> Detected:
    """An api agent: idle at its prompt, error when the request before the prompt failed (its error line, until
    the next request), busy while a reply streams in or a failed attempt waits for its retry."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    lines = [line.rstrip() for line in obs.screen.splitlines() if line.strip()]
    if not lines:
        return Detected(AgentState.STARTING if obs.last_output_at is None else AgentState.BUSY, "starting")
    if lines[-1] == API_PROMPT.rstrip():
        failure = api_failure(lines)
        if failure is not None:
            return Detected(AgentState.ERROR, failure)
        return Detected(AgentState.IDLE, "at its prompt")
    if lines[-1].strip().startswith(API_ERROR):
        return Detected(AgentState.BUSY, lines[-1].strip())
    if lines[-1].strip().startswith(API_WAITING):  # for a permit of the shared rate limiter: nothing sent yet
        key = lines[-1].partition(" for the rate limit")[2].partition(":")[0]  # ` of key NAME`
        return Detected(AgentState.BUSY, f"waits for the rate limit{key}")
    return Detected(AgentState.BUSY, "replying")


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


@dataclass(frozen=True)
class ScreenMarker:
    """A line Claude Code (or another agent CLI) shows in one state: one row of a detector's table."""

    state: AgentState
    pattern: re.Pattern[str]
    reason: str
    """Said as the state's reason; `{0}` is the pattern's first group."""


CLAUDE_SCREEN: tuple[ScreenMarker, ...] = (
    ScreenMarker(AgentState.WAITING, re.compile(r"^\s*(Do you want to (?:proceed|make this edit|create|allow)[^?]*\?)",
                                                re.M), "asks: {0}"),
    ScreenMarker(AgentState.BUSY, re.compile(r"(API error · Retrying in \d+s · attempt \d+/\d+)"), "{0}"),
    ScreenMarker(AgentState.BUSY, re.compile(r"esc to interrupt"), "working (its screen)"),
    # a turn that ended in an API error: the error is the last thing said above the input box
    ScreenMarker(AgentState.ERROR, re.compile(r"^● (API Error: [^\n]*(?:\n  [^\n⎿]+)*)\n"
                                              r"(?:\n|  [^\n]*\n|✻[^\n]*\n)*─{20,}", re.M), "turn failed: {0}"),
    ScreenMarker(AgentState.IDLE, re.compile(r"\? for shortcuts"), "at its prompt (its screen)"),
)
"""Claude Code's screen in each state, first match wins: the fallback when its hooks are missing (a session
started by hand, an older CLI) and the cross-check of a hook that never came. A new CLI release that
changes a line needs one edit here (tests/unit/test_claude_screens.py has a captured screen per row)."""


CODEX_SCREEN: tuple[ScreenMarker, ...] = (
    ScreenMarker(AgentState.WAITING, re.compile(r"^ *(Would you like to [^?\n]*\?)\n(?:.*\n)*? *Press enter to confirm "
                                                r"or esc to cancel", re.M), "asks: {0}"),
    ScreenMarker(AgentState.BUSY, re.compile(r"(Reconnecting\.\.\. \d+/\d+) \([^()\n]* esc to interrupt\)"), "{0}"),
    ScreenMarker(AgentState.BUSY, re.compile(r"Working \([^()\n]* esc to interrupt\)"), "working (its screen)"),
    ScreenMarker(AgentState.ERROR, re.compile(r"^■ (?!Conversation interrupted)(.+(?:\n  \S.*)*)\n(?:[ \t]*\n)*"
                                              r"› .*(?:\n(?: .*)?)*\Z", re.M), "turn failed: {0}"),
    ScreenMarker(AgentState.IDLE, re.compile(r"\? for shortcuts"), "at its prompt (its screen)"),
)
"""The Codex CLI's screen in each state, first match wins: its approval dialog (`Would you like to run the
following command?` down to `Press enter to confirm or esc to cancel`), `Reconnecting... 2/5` while it retries
the API, its `Working (3s • esc to interrupt)` line, an error (`■ ...`, not `■ Conversation interrupted`) as the
last thing above its input box (the turn failed; gone once the next prompt is typed), and its footer (`? for
shortcuts`). Codex shows that footer while a reply streams in, so the footer says idle only once the screen is
quiet (detect_codex). Recorded from Codex CLI 0.171.0 (tests/codex/screens, remade by scripts/codex_screens.py;
tests/unit/test_codex_detect.py has a screen per row)."""


HOOK_STALE = 1.5
"""Seconds after its last hook event that a claude agent's idle screen overrides a busy or waiting hook."""


def detect_screen(table: tuple[ScreenMarker, ...], screen: str) -> Detected | None:
    """The first marker of `table` on the screen's bottom lines, or None."""
    bottom = "\n".join(screen.splitlines()[-30:])
    for marker in table:
        found = marker.pattern.search(bottom)
        if found is not None:
            group = " ".join(found.group(1).split()) if found.groups() else ""
            return Detected(marker.state, marker.reason.format(group)[:200])
    return None


def _hook_state(hook: HookEvent) -> Detected | None:
    """The state a hook event puts a claude agent in, or None for one that says nothing of it."""
    try:
        payload = json.loads(hook.payload)
    except ValueError:
        payload = {}
    event = hook.event
    if event in ("UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart",
                 "SubagentStop", "PreCompact"):
        tool = payload.get("tool_name")
        return Detected(AgentState.BUSY, f"working ({event}{': ' + str(tool) if tool else ''})", certain=True)
    if event == "PermissionRequest":
        if hook.detail.startswith(("allowed ", "refused ")):  # the policy answered it (agentmux/hook.py)
            return Detected(AgentState.BUSY, f"{_question(payload)}: {hook.detail}"[:120], certain=True)
        return Detected(AgentState.WAITING, f"asks: {_question(payload)}"[:120], certain=True)
    if event == "Notification":
        kind = hook.detail
        if kind in ("permission_prompt", "elicitation_dialog"):
            return Detected(AgentState.WAITING, f"asks: {str(payload.get('message') or kind)}"[:120], certain=True)
        return None
    if event in ("Stop", "SessionStart"):
        reason = "ready for a prompt" if event == "SessionStart" else "turn ended (Stop)"
        return Detected(AgentState.IDLE, reason, certain=True)
    if event == "StopFailure":
        return Detected(AgentState.ERROR, failure_reason(payload), certain=True)
    return None


RESET_RE = re.compile(r"\breset(?:s)?\s+(?:at\s+|in\s+)?([^·()]+?)\s*(?:[·()]|$)", re.I)


def failure_reason(payload: dict[str, object]) -> str:
    """Why a claude agent's turn failed, from its StopFailure: the kind of error (Claude Code's `error`, e.g.
    rate_limit) and when a limit resets when it says so, first, then what it said."""
    said = one_line_text(str(payload.get("last_assistant_message") or payload.get("error") or "the API call failed"))
    error = str(payload.get("error") or "").replace("_", " ").strip()
    error = "" if error == "unknown" else error  # Claude Code's word for an error it has no kind for (a 400)
    reset = RESET_RE.search(said)
    notes = [note for note in (error, f"resets {reset.group(1).rstrip('.')}" if reset else "") if note]
    return ((f"turn failed ({', '.join(notes)}): " if notes else "turn failed: ") + said)[:200]


def hook_question(hook: HookEvent) -> str:
    """`Bash: rm -rf build`: what a PermissionRequest hook event asks."""
    try:
        payload = json.loads(hook.payload)
    except ValueError:
        payload = {}
    return _question(payload if isinstance(payload, dict) else {})


def _question(payload: dict[str, object]) -> str:
    """`Bash: rm -rf build` from a PermissionRequest's tool name and input."""
    tool = str(payload.get("tool_name") or "a tool")
    tool_input = payload.get("tool_input")
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "url", "pattern"):
            if tool_input.get(key):
                return f"{tool}: {one_line_text(str(tool_input[key]))}"
    return tool


def one_line_text(text: str) -> str:
    return " ".join(text.split())


def detect_claude(obs: Observation) -> Detected:
    """Claude Code: its state from its newest hook event of this run; its screen where no hook has spoken
    (or none of this run), and where the screen shows a permission dialog the hooks have not said."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    screen = detect_screen(CLAUDE_SCREEN, obs.screen)
    hooked = _hook_state(obs.hook) if obs.hook is not None else None
    if hooked is not None and obs.hook is not None:
        if screen is not None and screen.state == AgentState.WAITING and hooked.state != AgentState.WAITING:
            return screen
        stale = obs.now - obs.hook.at >= HOOK_STALE
        if (screen is not None and screen.state == AgentState.IDLE and stale
                and hooked.state in (AgentState.BUSY, AgentState.WAITING)):
            # no Stop comes after a turn the user interrupted or a permission they denied: the screen says it
            return Detected(AgentState.IDLE, "at its prompt (the turn was interrupted or a permission denied)")
        return hooked
    if screen is not None:
        return screen
    if not obs.screen.strip():
        return Detected(AgentState.STARTING, "starting")
    return detect_command(obs)


BLANK_RUN_RE = re.compile(r"\n(?:[ \t]*\n)+")
"""Blank lines in a row. Codex keeps its transcript at the top of its screen and its input box at the bottom,
blank rows between: a detector reads its whole screen (CodexKind.screen_lines), these made one."""


def detect_codex(obs: Observation) -> Detected:
    """The Codex CLI, read from its screen (CODEX_SCREEN): its dialog, its working line and a failed turn at once;
    its footer says idle only once the screen is quiet (a reply streams in under it), else a plain program's
    rules (busy while output changes, idle when quiet)."""
    ended = detect_ended(obs)
    if ended is not None:
        return ended
    screen = detect_screen(CODEX_SCREEN, BLANK_RUN_RE.sub("\n\n", obs.screen))
    if screen is not None and screen.state != AgentState.IDLE:
        return screen
    plain = detect_command(obs)
    if screen is not None and plain.state == AgentState.IDLE:
        return screen
    return plain
