"""Detectors and the debouncer: what state a user sees for what a pane shows. Plain strings, no tmux."""

from __future__ import annotations

from typing import Any

import pytest

from agentmux import ansi
from agentmux.agents.detectors import Observation, detect_command, detect_demo, last_line
from agentmux.agents.state import Debouncer, Detected
from agentmux.demo import PROMPT as DEMO_PROMPT
from agentmux.demo import QUESTION as DEMO_QUESTION
from agentmux.state import AgentState

IDLE_AFTER = 3.0
START = 1000.0


def observe(screen: str = "", *, quiet: float | None = None, age: float = 60.0, **kwargs: Any) -> Observation:
    """An observation `age` seconds after start; `quiet` seconds since the screen last changed (None: never)."""
    now = START + age
    return Observation(
        screen=ansi.plain(screen),  # as the observer does
        now=now,
        started_at=START,
        last_output_at=None if quiet is None else now - quiet,
        idle_after=IDLE_AFTER,
        **kwargs,
    )


# --- helpers -----------------------------------------------------------------------------------------------


def test_strip_ansi_removes_colour_cursor_and_title_escapes() -> None:
    raw = "\x1b[1;33mwarning\x1b[0m: \x1b[?25lsee \x1b]0;my title\x07\x1b[2Kthis\x1b[39m"
    assert ansi.plain(raw) == "warning: see this"


def test_strip_ansi_keeps_unicode_text() -> None:
    assert ansi.plain("\x1b[32m✓ done: añadir café\x1b[0m") == "✓ done: añadir café"


def test_last_line_skips_trailing_blank_lines_and_right_strips() -> None:
    assert last_line("first\nsecond   \n\n   \n") == "second"
    assert last_line("") == ""
    assert last_line("\n  \n") == ""


# --- command kind: ended ---------------------------------------------------------------------------------


def test_dead_pane_with_status_0_is_exited() -> None:
    detected = detect_command(observe("all done", quiet=5, pane_dead=True, exit_status=0))
    assert detected.state is AgentState.EXITED
    assert "status 0" in detected.reason


@pytest.mark.parametrize("status", [1, 2, 127])
def test_dead_pane_with_nonzero_status_is_error(status: int) -> None:
    detected = detect_command(observe("boom", quiet=5, pane_dead=True, exit_status=status))
    assert detected.state is AgentState.ERROR
    assert f"exited with status {status}" in detected.reason


def test_dead_pane_killed_by_signal_is_error() -> None:
    detected = detect_command(observe("", quiet=5, pane_dead=True, exit_status=None, exit_signal=9))
    assert detected.state is AgentState.ERROR
    assert "killed by signal 9" in detected.reason


@pytest.mark.parametrize(("status", "signal"), [(0, None), (1, None), (130, None), (None, 15), (None, 9)])
def test_dead_pane_after_a_requested_stop_is_stopped_whatever_the_status(
    status: int | None, signal: int | None
) -> None:
    detected = detect_command(
        observe("bye", quiet=1, pane_dead=True, exit_status=status, exit_signal=signal, stop_requested=True)
    )
    assert detected.state is AgentState.STOPPED


def test_a_dead_pane_wins_over_a_question_on_screen() -> None:
    detected = detect_command(observe("Continue? [y/N]", quiet=10, pane_dead=True, exit_status=1))
    assert detected.state is AgentState.ERROR


def test_stop_requested_while_still_running_does_not_hide_the_live_state() -> None:
    detected = detect_command(observe("working", quiet=0.1, stop_requested=True))
    assert detected.state is AgentState.BUSY


# --- command kind: alive ---------------------------------------------------------------------------------


def test_starting_before_any_output() -> None:
    assert detect_command(observe("", quiet=None, age=0.5)).state is AgentState.STARTING
    assert detect_command(observe("\n   \n", quiet=None, age=0.5)).state is AgentState.STARTING


def test_a_program_that_never_prints_becomes_idle_after_idle_after() -> None:
    assert detect_command(observe("", quiet=None, age=IDLE_AFTER + 1)).state is AgentState.IDLE


def test_busy_while_the_screen_changed_less_than_idle_after_ago() -> None:
    detected = detect_command(observe("compiling foo.c\ncompiling bar.c", quiet=IDLE_AFTER - 0.5))
    assert detected.state is AgentState.BUSY


def test_idle_when_quiet_for_idle_after() -> None:
    detected = detect_command(observe("compiling foo.c\nbuild finished\n$ ", quiet=IDLE_AFTER + 2))
    assert detected.state is AgentState.IDLE
    assert detect_command(observe("build finished", quiet=IDLE_AFTER)).state is AgentState.IDLE


@pytest.mark.parametrize(
    "question",
    [
        "Continue? [y/N]",
        "Continue? [y/N] ",
        "Overwrite file (yes/no)",
        "Proceed?",
        "Do you want to apply this edit? [Y/n]",
        "? Apply these changes? [y/n] ",
    ],
)
def test_waiting_when_quiet_and_the_last_line_is_a_question(question: str) -> None:
    detected = detect_command(observe(f"some output\nmore output\n{question}\n\n", quiet=IDLE_AFTER + 1))
    assert detected.state is AgentState.WAITING
    assert question.strip() in detected.reason


def test_a_question_while_output_still_changes_is_busy() -> None:
    detected = detect_command(observe("Continue? [y/N]", quiet=0.2))
    assert detected.state is AgentState.BUSY


def test_a_question_above_the_last_line_is_not_waiting() -> None:
    detected = detect_command(observe("Continue? [y/N] y\nok, continuing\ndone", quiet=IDLE_AFTER + 1))
    assert detected.state is AgentState.IDLE


@pytest.mark.parametrize(
    "coloured",
    [
        "\x1b[1;33mContinue? [y/N]\x1b[0m",
        "\x1b[33mOverwrite file\x1b[39m \x1b[2m(yes/no)\x1b[0m",
        "\x1b[1mProceed?\x1b[0m\x1b[K",
        "\x1b[38;5;208mProceed?\x1b[m  ",
    ],
)
def test_colour_codes_do_not_hide_the_question(coloured: str) -> None:
    detected = detect_command(observe(f"output\n{coloured}", quiet=IDLE_AFTER + 1))
    assert detected.state is AgentState.WAITING
    assert "\x1b" not in detected.reason


# --- demo kind -------------------------------------------------------------------------------------------

DEMO_BANNER = "demo agent alpha ready — type a task, 'exit' to quit"


def test_demo_idle_at_its_prompt_once_settled() -> None:
    detected = detect_demo(observe(f"{DEMO_BANNER}\n{DEMO_PROMPT}", quiet=1.0))
    assert detected.state is AgentState.IDLE


def test_demo_prompt_just_drawn_is_not_yet_idle() -> None:
    assert detect_demo(observe(f"{DEMO_BANNER}\n{DEMO_PROMPT}", quiet=0.05)).state is AgentState.BUSY


def test_demo_idle_after_a_finished_task() -> None:
    screen = f"{DEMO_BANNER}\n{DEMO_PROMPT}fix the bug\n● Reading src/app.py\n✓ done: fix the bug\n{DEMO_PROMPT}"
    assert detect_demo(observe(screen, quiet=1.0)).state is AgentState.IDLE


def test_demo_waiting_at_its_question() -> None:
    screen = f"{DEMO_BANNER}\n{DEMO_PROMPT}ask me\n● Editing src/app.py (+3 −1)\n{DEMO_QUESTION}"
    detected = detect_demo(observe(screen, quiet=1.0))
    assert detected.state is AgentState.WAITING
    assert "Apply these changes? [y/n]" in detected.reason


def test_demo_busy_with_a_spinner_line() -> None:
    screen = f"{DEMO_BANNER}\n{DEMO_PROMPT}refactor\n● Reading src/cli.py\n\x1b[33m⠹\x1b[0m working… 1.2s"
    assert detect_demo(observe(screen, quiet=0.05)).state is AgentState.BUSY
    # A spinner that happens not to have moved for a moment is still work, not idleness.
    assert detect_demo(observe(screen, quiet=5.0)).state is AgentState.BUSY


def test_demo_starting_before_any_output() -> None:
    assert detect_demo(observe("", quiet=None, age=0.2)).state is AgentState.STARTING


def test_demo_ended_states_follow_the_pane() -> None:
    assert detect_demo(observe("bye", pane_dead=True, exit_status=0)).state is AgentState.EXITED
    assert detect_demo(observe("bye", pane_dead=True, exit_status=1)).state is AgentState.ERROR
    stopped = observe("bye", pane_dead=True, exit_signal=15, stop_requested=True)
    assert detect_demo(stopped).state is AgentState.STOPPED


# --- debouncer -------------------------------------------------------------------------------------------

HOLD = 0.4
BUSY = Detected(AgentState.BUSY, "output changing")
IDLE = Detected(AgentState.IDLE, "quiet")
WAITING = Detected(AgentState.WAITING, "asks: Proceed?")


def test_a_flip_shorter_than_hold_is_not_shown() -> None:
    debouncer = Debouncer(BUSY, hold=HOLD)
    assert debouncer.feed(IDLE, 10.0).state is AgentState.BUSY
    assert debouncer.feed(IDLE, 10.1).state is AgentState.BUSY
    assert debouncer.feed(BUSY, 10.2).state is AgentState.BUSY
    # The earlier idle moment does not count towards a later one.
    assert debouncer.feed(IDLE, 10.45).state is AgentState.BUSY
    assert debouncer.feed(IDLE, 10.5).state is AgentState.BUSY


def test_a_state_held_for_hold_is_committed() -> None:
    debouncer = Debouncer(BUSY, hold=HOLD)
    assert debouncer.feed(IDLE, 0.0).state is AgentState.BUSY
    assert debouncer.feed(IDLE, 0.39).state is AgentState.BUSY
    assert debouncer.feed(IDLE, HOLD) == IDLE
    assert debouncer.current == IDLE


def test_switching_candidates_restarts_the_hold() -> None:
    debouncer = Debouncer(BUSY, hold=HOLD)
    debouncer.feed(IDLE, 0.0)
    debouncer.feed(WAITING, 0.3)
    assert debouncer.feed(WAITING, 0.5).state is AgentState.BUSY
    assert debouncer.feed(WAITING, 0.8).state is AgentState.WAITING


def test_same_state_updates_the_reason_at_once() -> None:
    debouncer = Debouncer(IDLE, hold=HOLD)
    newer = Detected(AgentState.IDLE, "quiet for 9s")
    assert debouncer.feed(newer, 1.0) == newer


@pytest.mark.parametrize(
    "ended",
    [
        Detected(AgentState.EXITED, "exited with status 0"),
        Detected(AgentState.ERROR, "exited with status 1"),
        Detected(AgentState.STOPPED, "stopped (killed by signal 15)"),
    ],
)
@pytest.mark.parametrize("before", [BUSY, IDLE, WAITING])
def test_ended_states_apply_at_once(before: Detected, ended: Detected) -> None:
    debouncer = Debouncer(before, hold=HOLD)
    assert debouncer.feed(ended, 5.0) == ended


def test_ended_state_applies_at_once_even_mid_candidate() -> None:
    debouncer = Debouncer(BUSY, hold=HOLD)
    debouncer.feed(IDLE, 0.0)
    error = Detected(AgentState.ERROR, "killed by signal 9")
    assert debouncer.feed(error, 0.1) == error
    # ...and the abandoned idle candidate does not come back later.
    assert debouncer.feed(error, 1.0) == error


def test_starting_applies_at_once() -> None:
    debouncer = Debouncer(Detected(AgentState.EXITED, "exited with status 0"), hold=HOLD)
    starting = Detected(AgentState.STARTING, "starting")
    assert debouncer.feed(starting, 1.0) == starting
    debouncer = Debouncer(IDLE, hold=HOLD)
    assert debouncer.feed(starting, 1.0) == starting


def test_a_restarted_agent_leaves_an_ended_state_at_once() -> None:
    debouncer = Debouncer(Detected(AgentState.STOPPED, "stopped"), hold=HOLD)
    assert debouncer.feed(BUSY, 1.0) == BUSY
