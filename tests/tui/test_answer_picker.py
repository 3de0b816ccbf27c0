"""A waiting claude agent in the TUI: its tile shows the question and its last turn time, the notification
names the tool and its command (as written), and the choice picker (A) answers it with the digit of the
choice picked, from the dashboard and the zoom screen; y still answers yes.

The agent is a kind `claude` agent whose program is a small stand-in for Claude Code: it shows screens
recorded from Claude Code 2.1.197 (tests/claude/screens), idle, then, once told to, waiting on a permission,
and notes every key it gets. Its hook events are recorded the way Claude Code's hooks record them
(agentmux/hook.py), before the dialog shows, as Claude Code runs its PermissionRequest hook first; no Claude
Code CLI is needed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from textual.widgets import OptionList
from textual.widgets._toast import Toast

from agentmux import hook
from agentmux.agents.state import Detected
from agentmux.state import AgentState
from agentmux.store import Store
from agentmux.supervisor.ui import UiUpdate
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.answer import AnswerScreen
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.screens.zoom import ZoomScreen
from tests.conftest import ROOT, Env
from tests.snapshots.fixtures import CLAUDE_STATUSES, claude_config, make_app
from tests.tui.conftest import SIZE, tile, until
from tests.tui.test_app import focus_tile, tile_text

SCREENS = ROOT / "tests" / "claude" / "screens"
STAND_IN = """
import os, sys, termios, time, tty
screens, keys = sys.argv[1], sys.argv[2]
def show(name):
    sys.stdout.write("\\033[H\\033[2J" + open(os.path.join(screens, name), encoding="utf-8").read().rstrip("\\n"))
    sys.stdout.flush()
show("idle.txt")
while not os.path.exists(keys + ".ask"):
    time.sleep(0.05)
show("waiting.txt")
tty.setraw(0, termios.TCSANOW)
while True:
    key = os.read(0, 1)
    with open(keys, "ab") as out:
        out.write(key)
"""
COMMAND = "touch /home/user/project/x"


def claude_stand_in(env: Env, tmp_path: Path) -> Path:
    """A config with one claude agent `cc` running the stand-in; the file it notes its keys in."""
    program, keys = tmp_path / "stand_in.py", tmp_path / "keys"
    program.write_text(STAND_IN)
    keys.write_bytes(b"")
    env.write_config(f'''
[[agents]]
name = "cc"
kind = "claude"
command = "{sys.executable} {program} {SCREENS} {keys}"
''')
    return keys


def record_hook(env: Env, event: str, **payload: object) -> None:
    """An event of `cc` as its hook command records it (and wakes the TUI's supervisor loop). A PermissionRequest
    is recorded as by a hook that does not wait for agentmux's answer (the real one would wait in this thread):
    the picker answers by keys."""
    config = env.load()
    store = Store(config.store_path)
    before = store.last_hook_id("cc")
    if event == "PermissionRequest":
        with store.transaction() as db:
            db.execute("INSERT INTO hook_events (agent, event, at, session_id, payload) VALUES ('cc', ?, ?, '', ?)",
                       (event, time.time(), json.dumps({"hook_event_name": event, **payload})))
        hook._wake(str(config.settings.state_dir))
    else:
        environ = {"AGENTMUX_AGENT": "cc", "AGENTMUX_STORE": str(config.store_path),
                   "AGENTMUX_HOME": str(config.settings.state_dir)}
        hook.record(event, json.dumps({"hook_event_name": event, **payload}).encode(), environ)
    assert store.last_hook_id("cc") > before
    store.close()


def notes_of(app: AgentmuxApp) -> list[str]:
    """Every notification the app shows from now on, in order."""
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))[1]  # type: ignore[method-assign]
    return said


async def test_the_picker_answers_a_waiting_claude_agent_by_the_choice_picked(env: Env, tmp_path: Path) -> None:
    keys = claude_stand_in(env, tmp_path)
    app = AgentmuxApp(env.load())
    said = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        assert env.cli("up", "--no-serve").returncode == 0
        await until(pilot, lambda: "? for shortcuts" in tile_text(app, "cc"), what="cc's input box")
        record_hook(env, "Stop")  # the turn before this one
        record_hook(env, "UserPromptSubmit", prompt="make a file")
        record_hook(env, "PermissionRequest", tool_name="Bash", tool_input={"command": COMMAND})
        Path(f"{keys}.ask").touch()
        cc = tile(app, "cc")
        await until(pilot, lambda: "Do you want to proceed?" in "\n".join(cc.lines), what="the dialog on cc's tile")
        await until(pilot, lambda: cc.question == f"asks: Bash: {COMMAND}",
                    what=lambda: f"the question ({cc.question})")
        assert cc.status is not None and cc.status.state == AgentState.WAITING
        assert cc.last_turn().startswith("last turn ") and cc.last_turn().endswith("s ago"), cc.last_turn()
        bottom = "".join(segment.text for segment in cc.render_line(cc.size.height - 1))
        assert "last turn" in bottom, bottom
        row = "".join(segment.text for segment in cc.render_line(cc.size.height - 2))
        assert f"asks: Bash: {COMMAND}" in row, row
        await until(pilot, lambda: any(f"asks: Bash: {COMMAND}" in message for message in said),
                    what=lambda: f"the notification naming the command (said: {said})")
        assert any("cc is waiting for you" in message and "A picks an answer" in message for message in said), said

        # on the dashboard: A, then a digit
        await focus_tile(pilot, "cc")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AnswerScreen), what="the picker")
        picker = app.screen
        assert isinstance(picker, AnswerScreen)
        assert [c.number for c in picker.question.choices] == [1, 2, 3]
        assert picker.question.choices[1].label.startswith("Yes, and always allow")
        assert picker.question.lines[-1] == "Do you want to proceed?" and "Bash command" in picker.question.lines
        assert picker.query_one(OptionList).option_count == 3
        await pilot.press("2")
        await until(pilot, lambda: keys.read_bytes() == b"2", what=lambda: f"2 typed (keys: {keys.read_bytes()!r})")
        assert isinstance(app.screen, DashboardScreen)
        await until(pilot, lambda: any("answered cc: 2. Yes, and always allow" in m for m in said), what="the outcome")

        # y still answers yes, as before
        await pilot.press("y")
        await until(pilot, lambda: keys.read_bytes() == b"21", what=lambda: f"1 typed (keys: {keys.read_bytes()!r})")

        # zoomed: A, Escape cancels (nothing typed); A, arrows and Enter pick
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ZoomScreen), what="the zoom screen")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AnswerScreen), what="the picker over the zoom screen")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ZoomScreen), what="back to the zoom screen")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AnswerScreen), what="the picker again")
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: keys.read_bytes() == b"213", what=lambda: f"3 typed (keys: {keys.read_bytes()!r})")
        assert isinstance(app.screen, ZoomScreen)


async def test_the_picker_says_so_when_the_screen_offers_no_choices(env: Env, tmp_path: Path) -> None:
    """A demo agent asks `[y/n]` on its screen: no numbered choices to pick from, y and n answer it."""
    env.write_config('''
[[agents]]
name = "demo"
kind = "demo"
command = "--speed 0 --ask-rate 1 --fail-rate 0 --seed 1"
''')
    app = AgentmuxApp(env.load())
    said = notes_of(app)
    async with app.run_test(size=SIZE) as pilot:
        assert env.cli("up", "--no-serve").returncode == 0
        await until(pilot, lambda: "demo>" in tile_text(app, "demo"), what="the demo tile")
        demo = tile(app, "demo")
        await focus_tile(pilot, "demo")
        await pilot.press("A")
        await until(pilot, lambda: any("demo is not waiting for an answer" in m for m in said), what="not waiting")
        assert env.cli("send", "demo", "ask me").returncode == 0
        await until(pilot, lambda: demo.status is not None and demo.status.state == AgentState.WAITING,
                    timeout=30, what="waiting")
        assert demo.question is None, "a demo agent's question is on its screen's last line"
        await pilot.press("A")
        await until(pilot, lambda: any("shows no choices to pick from" in m for m in said), what="no choices")
        assert isinstance(app.screen, DashboardScreen)


async def test_the_notification_shows_the_command_as_written() -> None:
    """Brackets in a command are not read as markup (Textual's notify reads it by default: `[x]` and `[/]`
    were dropped, `[bold]` styled the rest)."""
    app = make_app(claude_config())
    command = "test -f [x] && echo [/] [bold]done"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.dashboard.apply(UiUpdate(statuses=CLAUDE_STATUSES))  # type: ignore[union-attr]
        await pilot.pause()
        app.attention("reviewer", Detected(AgentState.WAITING, f"asks: Bash: {command}"))
        await until(pilot, lambda: app.screen.query(Toast), what="the toast")
        shown = " ".join(str(toast.render()) for toast in app.screen.query(Toast))
        assert f"reviewer is waiting for you: asks: Bash: {command}" in shown, shown
        assert "A picks an answer" in shown, shown
