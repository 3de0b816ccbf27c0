"""The TUI against a real tmux server on a private socket, driven with Textual's Pilot."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from agentmux.state import AgentState
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.screens.zoom import PaneView, ZoomScreen
from agentmux.tui.widgets.tile import AgentTile
from tests.conftest import Env
from tests.tui.conftest import SIZE, tile, until


async def focus_tile(pilot: Pilot[None], name: str) -> None:
    """Focus an agent's tile and wait until it has the focus, so the next key acts on it.

    Once its tiles are laid out, the dashboard focuses the first one itself through the same deferred
    `Widget.focus`: a request of ours made before that one landed would be overridden by it (and Enter
    would zoom the first agent, not this one), so the screen's first focus is awaited first.
    """
    app = pilot.app
    assert isinstance(app, AgentmuxApp)
    await until(pilot, lambda: app.screen.focused is not None, what="the dashboard's first focus")
    tile(app, name).focus()
    await until(pilot, lambda: app.screen.focused is tile(app, name), what=f"focus on {name}")


def highlighted(view: PaneView, row: int) -> list[str]:
    """The text of the search highlights on the view's row (counted from its top)."""
    strip = view.render_line(row)
    return [segment.text for segment in strip
            if segment.style is not None and segment.style.bgcolor is not None
            and segment.style.bgcolor.name == "yellow"]


def tile_text(app: AgentmuxApp, name: str) -> str:
    try:
        return "\n".join(tile(app, name).lines)
    except Exception:  # noqa: BLE001 - not mounted yet
        return ""


def sinks(tmp_path: Path, names: Sequence[str]) -> str:
    return "".join(f'''
[[agents]]
name = "{name}"
command = "echo ready; exec cat > {tmp_path}/{name}.txt"
''' for name in names)


async def start_all(env: Env, pilot: Pilot[None], names: Sequence[str]) -> None:
    assert env.cli("up").returncode == 0
    for name in names:
        await until(pilot, lambda name=name: "ready" in tile_text(pilot.app, name), what=f"{name} on screen")


async def test_tiles_mirror_what_agents_print_with_colours(env: Env) -> None:
    env.write_config(r"""
[[agents]]
name = "painter"
command = '''printf '\033[31mred alert\033[0m and \033[1;32mgreen bold\033[0m\n'; exec sleep 600'''
""")
    assert env.cli("up").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "red alert" in tile_text(app, "painter"), what="the line on the tile")
        painter = tile(app, "painter")
        row = next(i for i, line in enumerate(painter.lines) if "red alert" in line)
        segments = list(painter.render_line(painter.BODY_TOP + row))
        red = next(s for s in segments if "red alert" in s.text)
        green = next(s for s in segments if "green bold" in s.text)
        assert red.style is not None and red.style.color is not None and red.style.color.number == 1  # ANSI red
        assert green.style is not None and green.style.bold and green.style.color is not None
        assert "painter" in painter.header_text().plain and "command" in painter.header_text().plain


async def test_a_state_change_shows_on_the_tile(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "demo"
kind = "demo"
command = "--speed 0.5 --ask-rate 0 --fail-rate 0"
''')
    assert env.cli("up").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        demo = None

        def state() -> AgentState | None:
            nonlocal demo
            try:
                demo = tile(app, "demo")
            except Exception:  # noqa: BLE001
                return None
            return demo.status.state if demo.status else None

        await until(pilot, lambda: state() == AgentState.IDLE, what="idle")
        assert demo is not None and "● idle" in demo.header_text().plain
        assert env.cli("send", "demo", "sleep 3").returncode == 0
        await until(pilot, lambda: state() == AgentState.BUSY, what="busy")
        assert "◐ busy" in demo.header_text().plain
        assert not demo.has_class("-attention")
        assert env.cli("send", "demo", "ask me").returncode == 0  # typed ahead; read at the next prompt
        await until(pilot, lambda: state() == AgentState.WAITING, timeout=20, what="waiting")
        assert demo.has_class("-attention") and "? waiting" in demo.header_text().plain


async def test_sending_a_prompt_reaches_the_focused_agent(env: Env, tmp_path: Path) -> None:
    env.write_config(sinks(tmp_path, ["one", "two"]))
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await start_all(env, pilot, ["one", "two"])
        await focus_tile(pilot, "two")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "prompt",
                    what="the send dialog, ready for typing")
        await pilot.press(*"hello from the tui")
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "two.txt").read_text() == "hello from the tui\n",
                    what=lambda: f"text in two (two: {(tmp_path / 'two.txt').read_text()!r}, "
                                 f"one: {(tmp_path / 'one.txt').read_text()!r}, focused: {app.focused!r})")
        assert (tmp_path / "one.txt").read_text() == ""


async def test_broadcast_reaches_every_selected_agent(env: Env, tmp_path: Path) -> None:
    names = ["a1", "a2", "a3"]
    env.write_config(sinks(tmp_path, names))
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await start_all(env, pilot, names)
        await focus_tile(pilot, "a1")
        # typed in one burst, as a fast typist or a paste does: each key acts where the keys before it left focus
        for key, character in (("space", " "), ("right", None), ("right", None), ("space", " ")):
            app.post_message(events.Key(key, character))
        await until(pilot, lambda: isinstance(app.focused, AgentTile) and app.focused.agent == "a3",
                    what="focus on a3")
        await pilot.pause()
        assert [t.agent for t in app.screen.query(AgentTile) if t.selected] == ["a1", "a3"]
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "prompt",
                    what="the send dialog, ready for typing")
        await pilot.press(*"all hands")
        await pilot.press("enter")
        for name in ("a1", "a3"):
            await until(pilot, lambda name=name: (tmp_path / f"{name}.txt").read_text() == "all hands\n",
                        what=f"text in {name}")
        assert (tmp_path / "a2.txt").read_text() == ""


async def test_zoom_shows_the_agent_and_escape_returns_to_the_grid(env: Env) -> None:
    env.write_config('''
[[agents]]
name = "talker"
command = "for i in $(seq 1 120); do echo line-$i; done; exec sleep 600"

[[agents]]
name = "other"
command = "exec sleep 600"
''')
    assert env.cli("up").returncode == 0
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "line-120" in tile_text(app, "talker"), what="output on the tile")
        await focus_tile(pilot, "talker")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ZoomScreen), what="zoom")
        zoom = app.screen
        assert isinstance(zoom, ZoomScreen) and zoom.agent == "talker"
        view = zoom.query_one(PaneView)
        # History from tmux: the first lines, long scrolled off the 30-row pane, are there too.
        await until(pilot, lambda: any(line.strip() == "line-1" for line in view.lines),
                    what=lambda: f"scrollback (the view holds {len(view.lines)} lines from {view.lines[:1]})")
        # The search moves the view to the first line holding the text and highlights it there; n goes
        # on to the next such line (line-70), p back.
        await pilot.press("slash", *"line-7", "enter")
        seven = next(i for i, line in enumerate(view.lines) if line.strip() == "line-7")
        seventy = next(i for i, line in enumerate(view.lines) if line.strip() == "line-70")
        await until(pilot, lambda: view.scroll_offset.y == seven,
                    what=lambda: f"the view at line {seven} (it is at {view.scroll_offset.y})")
        assert highlighted(view, 0) == ["line-7"]
        assert highlighted(view, 1) == []  # line-8 holds no match
        await pilot.press("escape", "n")
        await until(pilot, lambda: view.scroll_offset.y == seventy, what="the next match")
        assert highlighted(view, 0) == ["line-7"]  # of "line-70", only the match
        await pilot.press("p")
        await until(pilot, lambda: view.scroll_offset.y == seven, what="the previous match")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="back on the grid")
        assert app.screen.focused is tile(app, "talker")


async def test_the_add_form_writes_the_config_and_the_tile_appears(env: Env, tmp_path: Path) -> None:
    env.write_config(sinks(tmp_path, ["first"]))
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await start_all(env, pilot, ["first"])
        await pilot.press("plus")
        await until(pilot, lambda: app.screen.__class__.__name__ == "AddAgentScreen", what="the form")
        app.screen.query_one("#name").focus()
        await pilot.press(*"bad name!")
        await pilot.press("ctrl+s")
        assert "not a valid name" in str(app.screen.query_one("#form-error").render())
        app.screen.query_one("#name").value = "second"  # type: ignore[attr-defined]
        app.screen.query_one("#command").value = "echo ready; exec sleep 600"  # type: ignore[attr-defined]
        for bad, said in (("A=1 A=2", "A is given twice"), ("A='unclosed", "No closing quotation")):
            app.screen.query_one("#env").value = bad  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            assert said in str(app.screen.query_one("#form-error").render())
            assert app.screen.__class__.__name__ == "AddAgentScreen", "the form stays open with what was typed"
        app.screen.query_one("#env").value = "MODE=fast"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: 'name = "second"' in env.config_path.read_text(), what="the config written")
        text = env.config_path.read_text()
        assert 'command = "echo ready; exec sleep 600"' in text and "MODE" in text
        await until(pilot, lambda: "ready" in tile_text(app, "second"), what="the new agent's tile")


async def test_attach_suspends_the_tui_runs_tmux_attach_and_resumes(env: Env, tmp_path: Path) -> None:
    env.write_config(sinks(tmp_path, ["target"]))
    app = AgentmuxApp(env.load())
    ran: list[list[str]] = []
    suspended: list[bool] = []

    @contextmanager
    def fake_suspend() -> Iterator[None]:  # the headless test driver cannot give the terminal away
        suspended.append(True)
        yield

    def runner(argv: Sequence[str]) -> int:
        assert suspended, "the TUI is suspended before tmux attach runs"
        ran.append(list(argv))
        return subprocess.run(["true"]).returncode  # a harmless stand-in for the real attach

    app.attach_runner = runner
    app.suspend = fake_suspend  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await start_all(env, pilot, ["target"])
        await focus_tile(pilot, "target")
        await pilot.press("a")
        await until(pilot, lambda: ran, what="the attach command")
        assert ran[0][-3:] == ["attach-session", "-t", "=target"] and env.socket in ran[0]
        assert isinstance(app.screen, DashboardScreen) and app.screen.focused is tile(app, "target")


async def test_first_run_offers_the_demo_fleet(env: Env) -> None:
    env.write_config("")
    app = AgentmuxApp(env.load())
    try:
        async with app.run_test(size=SIZE) as pilot:
            empty = app.screen.query_one("#empty")
            await until(pilot, lambda: empty.display, what="the first-run offer")
            assert "demo fleet" in str(empty.render())
            await pilot.press("D")
            await until(pilot, lambda: len(app.screen.query(AgentTile)) == 6,
                        what=lambda: f"six demo tiles (tiles: {len(app.screen.query(AgentTile))}, screen "
                                     f"{app.screen!r}, config {app.config.path}, notifications: "
                                     f"{[n.message for n in app._notifications]})")
            # the banner or the prompt: with autopilot on, the banner may already have scrolled off the tile
            await until(pilot, lambda: "demo" in tile_text(app, "backend"),
                        what=lambda: f"a demo agent running (tile: {tile_text(app, 'backend')!r}; "
                                     f"notifications: {[n.message for n in app._notifications]})")
            assert not empty.display
        # quit and open again: the demo fleet still runs (it outlives the TUI), so it is shown, not "No agents"
        again = AgentmuxApp(env.load())
        async with again.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(again.screen.query(AgentTile)) == 6, what="the running demo fleet")
            assert not again.screen.query_one("#empty").display
        listing = env.cli("--demo", "ls")
        assert listing.returncode == 0 and "backend" in listing.stdout and "reviewer" in listing.stdout
        assert env.cli("ls", "--demo").returncode == 0
    finally:
        subprocess.run(["tmux", "-L", "agentmux-demo", "kill-server"], capture_output=True, env=env.environ)


async def test_an_agent_added_from_another_terminal_appears_and_a_broken_edit_is_said(env: Env,
                                                                                   tmp_path: Path) -> None:
    env.write_config(sinks(tmp_path, ["one"]))
    app = AgentmuxApp(env.load())
    async with app.run_test(size=SIZE) as pilot:
        await start_all(env, pilot, ["one"])
        added = env.cli("add", "two", "--kind", "demo", "--command", "--speed 0", "--start")
        assert added.returncode == 0, added.stderr
        await until(pilot, lambda: "demo>" in tile_text(app, "two"), what="the new agent's tile")
        # forms and actions use the file as it is now
        await until(pilot, lambda: app.config.names() == ["one", "two"], what="the file read again")
        env.config_path.write_text(env.config_path.read_text() + "\n[[agents]]\nname = \n")
        await until(pilot, lambda: any("still using the config read before" in n.message
                                       for n in app._notifications), what="the broken edit said")
        assert app.config.names() == ["one", "two"]
