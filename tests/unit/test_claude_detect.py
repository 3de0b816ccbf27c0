"""The claude kind's detector: hook events first, the screen table as the fallback, on screens captured from
the real Claude Code CLI 2.1.197 (tests/claude/screens; README: The claude kind)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmux.agents.detectors import CLAUDE_SCREEN, Observation, detect_claude, detect_screen
from agentmux.state import AgentState
from agentmux.store import HookEvent

SCREENS = Path(__file__).resolve().parents[1] / "claude" / "screens"


def screen(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text()


def observe(text: str, hook: HookEvent | None = None) -> Observation:
    return Observation(screen=text, now=100.0, started_at=10.0, last_output_at=99.9, idle_after=2.0, hook=hook)


def hook(event: str, detail: str = "", **payload: object) -> HookEvent:
    return HookEvent(1, "cc", event, detail, 50.0, "s1", json.dumps({"hook_event_name": event, **payload}))


@pytest.mark.parametrize(("name", "state", "reason"), [
    ("idle", AgentState.IDLE, "at its prompt (its screen)"),
    ("busy", AgentState.BUSY, "working (its screen)"),
    ("retrying", AgentState.BUSY, "API error · Retrying in 2s · attempt 2/10"),
    ("waiting", AgentState.WAITING, "asks: Do you want to proceed?"),
    ("api-error", AgentState.ERROR, "turn failed: API Error: Request rejected (429) · Number of requests has exceeded "
     "your rate limit. Limit resets at 2026-12-02T09:00:00Z"),
])
def test_each_screen_marker_on_a_captured_screen_with_hooks_missing(name: str, state: AgentState,
                                                                    reason: str) -> None:
    detected = detect_claude(observe(screen(name)))
    assert (detected.state, detected.reason) == (state, reason)
    assert not detected.certain  # a guess from the screen: debounced


def test_every_marker_of_the_table_has_a_captured_screen() -> None:
    matched = {id(marker) for name in ("idle", "busy", "retrying", "waiting", "api-error") for marker in CLAUDE_SCREEN
               if marker.pattern.search(screen(name))}
    assert matched == {id(marker) for marker in CLAUDE_SCREEN}
    assert detect_screen(CLAUDE_SCREEN, "some other program\n$ ") is None


@pytest.mark.parametrize(("event", "detail", "payload", "state", "reason"), [
    ("SessionStart", "", {"source": "startup"}, AgentState.IDLE, "ready for a prompt"),
    ("UserPromptSubmit", "", {"prompt": "hi"}, AgentState.BUSY, "working (UserPromptSubmit)"),
    ("PreToolUse", "", {"tool_name": "Bash"}, AgentState.BUSY, "working (PreToolUse: Bash)"),
    ("PermissionRequest", "", {"tool_name": "Bash", "tool_input": {"command": "rm -rf\nbuild"}},
     AgentState.WAITING, "asks: Bash: rm -rf build"),
    ("Notification", "permission_prompt", {"message": "Claude needs your permission to use Bash"},
     AgentState.WAITING, "asks: Claude needs your permission to use Bash"),
    ("Stop", "", {}, AgentState.IDLE, "turn ended (Stop)"),
    ("StopFailure", "", {"last_assistant_message": "API Error: 529 Overloaded"}, AgentState.ERROR,
     "turn failed: API Error: 529 Overloaded"),
])
def test_a_hook_event_decides_the_state_at_once(event: str, detail: str, payload: dict[str, object],
                                                state: AgentState, reason: str) -> None:
    detected = detect_claude(observe(screen("busy"), hook(event, detail, **payload)))
    assert (detected.state, detected.reason, detected.certain) == (state, reason, True)


def test_a_permission_dialog_on_screen_wins_over_a_hook_that_said_busy() -> None:
    detected = detect_claude(observe(screen("waiting"), hook("PreToolUse", tool_name="Bash")))
    assert detected.state == AgentState.WAITING


def test_an_idle_prompt_notification_says_nothing_of_the_state() -> None:
    detected = detect_claude(observe(screen("busy"), hook("Notification", "idle_prompt")))
    assert detected.state == AgentState.BUSY


def test_an_idle_screen_long_after_a_busy_or_waiting_hook_is_idle() -> None:
    """No Stop comes after a permission the user denied or a turn they interrupted."""
    for event in ("PermissionRequest", "PreToolUse"):
        stale = hook(event, tool_name="Bash")  # at 50.0, the look at 100.0
        assert detect_claude(observe(screen("idle"), stale)).state == AgentState.IDLE
        fresh = HookEvent(1, "cc", event, "", 99.5, "s1", stale.payload)
        assert detect_claude(observe(screen("idle"), fresh)).state != AgentState.IDLE


def test_a_rate_limit_says_when_it_resets_first() -> None:
    """The StopFailure Claude Code 2.1.197 sent after its last retry of a 429 (its `error` and what it said)."""
    said = ("API Error: Request rejected (429) · Number of requests has exceeded your rate limit. Limit resets at "
            "2026-12-02T09:00:00Z")
    detected = detect_claude(observe(screen("idle"), hook("StopFailure", error="rate_limit",
                                                          last_assistant_message=said)))
    assert (detected.state, detected.reason) == (AgentState.ERROR,
                                                 f"turn failed (rate limit, resets 2026-12-02T09:00:00Z): {said}")


def test_an_api_error_long_gone_from_the_last_turn_is_not_an_error() -> None:
    """Only an error right above the input box is the last turn's: after a good turn the screen is idle."""
    text = screen("api-error").replace("✻ Cogitated for 3m 4s", "❯ try again\n\n● It worked this time.")
    assert detect_screen(CLAUDE_SCREEN, text) is None or detect_screen(CLAUDE_SCREEN, text).state != AgentState.ERROR
