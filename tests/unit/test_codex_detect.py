"""The codex kind: its screen table, detector, answers and task outcome, on screens recorded from the real Codex
CLI 0.171.0 (tests/codex/screens, remade by scripts/codex_screens.py; README: The codex kind)."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentmux import ansi, config
from agentmux.agents.answers import choices, pick
from agentmux.agents.detectors import (
    BLANK_RUN_RE,
    CODEX_SCREEN,
    DETECT_LINES,
    Observation,
    detect_codex,
    detect_command,
    detect_screen,
)
from agentmux.agents.kinds import KINDS, AgentKind, CodexKind, kind_of
from agentmux.agents.observer import AgentStatus, last_lines
from agentmux.agents.restarts import Restarter
from agentmux.config import AgentSpec
from agentmux.config.kinds import KIND_RULES
from agentmux.state import AgentState

SCREENS = Path(__file__).resolve().parents[1] / "codex" / "screens"
NAMES = ("idle", "busy", "interrupted", "streaming", "waiting", "retrying", "error", "failed")


def screen(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text()


def observe(text: str, quiet: float = 5.0, pane_dead: bool = False, exit_status: int | None = None) -> Observation:
    """The screen as the observer hands it to the codex detector (the lines the kind reads), `quiet` seconds after
    it last changed (idle_after 2 s)."""
    seen = ansi.plain("\n".join(last_lines(text, kind_of("codex").screen_lines)))
    return Observation(screen=seen, now=100.0, started_at=10.0, last_output_at=100.0 - quiet, idle_after=2.0,
                       pane_dead=pane_dead, exit_status=exit_status)


@pytest.mark.parametrize(("name", "state", "reason"), [
    ("idle", AgentState.IDLE, "at its prompt (its screen)"),
    ("interrupted", AgentState.IDLE, "at its prompt (its screen)"),
    ("busy", AgentState.BUSY, "working (its screen)"),
    ("retrying", AgentState.BUSY, "Reconnecting... 2/3"),
    ("waiting", AgentState.WAITING, "asks: Would you like to run the following command?"),
    ("error", AgentState.ERROR, "turn failed: We’re currently experiencing high demand, which may cause temporary "
                                "errors."),
    ("failed", AgentState.ERROR, 'turn failed: {"error": {"message": "The fake rejects this request.", "type": '
                                 '"server_error", "code": null}}'),
])
def test_each_screen_marker_on_a_recorded_screen(name: str, state: AgentState, reason: str) -> None:
    detected = detect_codex(observe(screen(name)))
    assert (detected.state, detected.reason) == (state, reason)
    assert not detected.certain  # a guess from the screen: debounced


def squeezed(name: str) -> str:
    """A recorded screen as detect_codex reads it: its blank lines in a row made one."""
    return BLANK_RUN_RE.sub("\n\n", screen(name))


def test_every_marker_of_the_table_has_a_recorded_screen_and_matches_only_there() -> None:
    first = {name: detect_screen(CODEX_SCREEN, squeezed(name)) for name in NAMES}
    matched = {id(marker) for name in NAMES for marker in CODEX_SCREEN if marker.pattern.search(squeezed(name))}
    assert matched == {id(marker) for marker in CODEX_SCREEN}
    assert {name: found.state for name, found in first.items() if found is not None} == {
        "idle": AgentState.IDLE, "interrupted": AgentState.IDLE, "streaming": AgentState.IDLE,
        "busy": AgentState.BUSY, "retrying": AgentState.BUSY, "waiting": AgentState.WAITING,
        "error": AgentState.ERROR, "failed": AgentState.ERROR}
    assert detect_screen(CODEX_SCREEN, "some other program\n$ ") is None


def test_a_reply_streaming_in_under_the_idle_footer_is_busy_until_the_screen_is_quiet() -> None:
    """Codex shows no working line while a reply streams: its footer is there, the screen still changing."""
    assert detect_codex(observe(screen("streaming"), quiet=0.2)).state == AgentState.BUSY
    assert detect_codex(observe(screen("idle"), quiet=0.2)).state == AgentState.BUSY
    assert detect_codex(observe(screen("streaming"), quiet=5.0)).state == AgentState.IDLE


def test_the_working_line_and_the_dialog_say_their_state_at_once() -> None:
    assert detect_codex(observe(screen("busy"), quiet=0.1)).state == AgentState.BUSY
    assert detect_codex(observe(screen("waiting"), quiet=0.1)).state == AgentState.WAITING
    assert detect_codex(observe(screen("busy"), quiet=60.0)).state == AgentState.BUSY  # thinking, printing nothing


def test_an_error_scrolled_above_a_later_prompt_is_not_the_state() -> None:
    """failed.txt shows the earlier turn's error too, above `› fail`: only the last turn's counts."""
    text = screen("failed")
    assert "■ We’re currently experiencing high demand" in text
    assert "The fake rejects" in detect_codex(observe(text)).reason
    working = "› try again\n\n• Working (1s • esc to interrupt)\n\n› Ask Codex to do anything"
    busy_again = screen("error").replace("› Ask Codex to do anything", working)
    assert detect_codex(observe(busy_again)).state == AgentState.BUSY


def test_an_ended_codex_is_read_like_any_program() -> None:
    assert detect_codex(observe(screen("idle"), pane_dead=True, exit_status=0)).state == AgentState.EXITED
    assert detect_codex(observe(screen("busy"), pane_dead=True, exit_status=1)).state == AgentState.ERROR
    assert detect_codex(observe("", quiet=0.1)).state == AgentState.BUSY  # like a command: no screen yet


# --- answers -----------------------------------------------------------------------------------------------


def test_the_choices_of_codexs_approval_dialog_are_read_from_its_screen() -> None:
    offered = choices(screen("waiting"))
    assert [(c.number, c.label) for c in offered] == [
        (1, "Yes, proceed (y)"),
        (2, "Yes, and don't ask again for commands that start with `touch made-by-codex.txt` (p)"),
        (3, "No, and tell Codex what to do differently (esc)"),
    ]


@pytest.mark.parametrize(("answer", "number"), [("yes", 1), ("y", 1), ("always", 2), ("no", 3), ("n", 3), ("2", 2)])
def test_an_answer_picks_its_choice_of_codexs_dialog(answer: str, number: int) -> None:
    """The digit of the choice, not a typed word and Enter: `always` typed was read as keys (its `y` approves once),
    and a typed `y` with no dialog on screen became a prompt to the model."""
    assert pick(answer, choices(screen("waiting"))).number == number


def test_a_codex_agent_is_answered_by_choice_and_a_command_agent_by_a_typed_line() -> None:
    assert kind_of("codex").choice_dialog and kind_of("claude").choice_dialog
    assert not kind_of("command").choice_dialog and not kind_of("shell").choice_dialog


# --- the kind ----------------------------------------------------------------------------------------------


def test_the_codex_kind_needs_no_command_and_runs_codex_without_its_daemon(tmp_path: Path) -> None:
    assert KIND_RULES["codex"].problem(AgentSpec(name="a", kind="codex", cwd=tmp_path)) is None
    kind = kind_of("codex")
    assert isinstance(kind, CodexKind) and kind.detect is detect_codex and not kind.hooked
    assert kind.program(AgentSpec(name="a", kind="codex", cwd=tmp_path)) == "codex --no-daemon"
    spec = AgentSpec(name="a", kind="codex", command="codex -m o3 --cd 'a b'", cwd=tmp_path)
    assert shlex.split(kind.program(spec)) == ["codex", "-m", "o3", "--cd", "a b", "--no-daemon"]
    spec = AgentSpec(name="a", kind="codex", command="/opt/codex --no-daemon", cwd=tmp_path)
    assert kind.program(spec) == "/opt/codex --no-daemon"
    assert kind.interrupt_keys == ("Escape",)  # Ctrl-C on an idle Codex quits it


def test_the_command_kind_is_unchanged() -> None:
    command = KINDS["command"]
    assert type(command) is AgentKind and command.detect is detect_command
    assert (command.stop_keys, command.interrupt_keys, command.prompt) == (("C-c",), ("C-c",), None)
    assert not command.hooked and not command.choice_dialog
    assert kind_of("nope") is command
    assert KIND_RULES["command"].requires_command
    # a Codex screen run as a plain command: quiet means idle, nothing is read from its markers
    assert detect_command(observe(screen("waiting"))).state == AgentState.IDLE
    assert detect_command(observe(screen("error"))).state == AgentState.IDLE


def test_codex_reads_its_whole_screen_and_the_other_kinds_their_last_lines() -> None:
    """At an agent's default size (200x50) Codex's dialog starts 14 lines from the bottom and a failed turn's
    error sits above a run of blank rows: neither is in the last 12 lines the other kinds read."""
    assert kind_of("codex").screen_lines is None
    assert {name: kind.screen_lines for name, kind in KINDS.items() if name != "codex"} == {
        name: DETECT_LINES for name in KINDS if name != "codex"}
    for name, state in (("waiting", AgentState.WAITING), ("error", AgentState.ERROR)):
        bottom = ansi.plain("\n".join(last_lines(screen(name), DETECT_LINES)))
        assert detect_codex(replace(observe(screen(name)), screen=bottom)).state != state
        assert detect_codex(observe(screen(name))).state == state


# --- a failed turn: the program runs on ----------------------------------------------------------------------


def status_of(state: AgentState, alive: bool) -> AgentStatus:
    return AgentStatus(name="cx", kind="codex", state=state, reason="turn failed: overloaded", since=1.0,
                       session="cx", pane_id="%1", pid=123, process_alive=alive, exit_status=None, started_at=1.0,
                       last_output_at=1.0, in_config=True)


def test_a_restart_policy_restarts_a_program_that_ended_not_one_whose_turn_failed(tmp_path: Path) -> None:
    loaded = config.parse(tmp_path / "agentmux.toml", '[[agents]]\nname = "cx"\nkind = "codex"\nrestart = "always"\n')
    restarter = Restarter(SimpleNamespace(config=loaded))  # type: ignore[arg-type]
    assert restarter.wants(status_of(AgentState.ERROR, alive=False))
    assert restarter.wants(status_of(AgentState.EXITED, alive=False))
    assert not restarter.wants(status_of(AgentState.ERROR, alive=True))
