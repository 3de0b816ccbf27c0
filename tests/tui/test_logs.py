"""The log panel and the log viewer against a real log database (a SQLite file in the test's state folder,
written here as the lease holder's capture would write it) and, where tiles are needed, real agents in tmux on
the test's private socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from agentmux.config import Config
from agentmux.logs import LogEntry, LogStore, Severity
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens.dashboard import DashboardScreen
from agentmux.tui.screens.logs import PAGE, AgentsScreen, LogsScreen
from agentmux.tui.screens.zoom import ZoomScreen
from agentmux.tui.widgets.logview import LogView
from agentmux.tui.widgets.panels import LogPanel, LogTail
from agentmux.tui.widgets.tile import AgentTile
from tests.conftest import Env
from tests.tui.conftest import SIZE, tile, until

LEVELS = (Severity.INFO, Severity.DEBUG, Severity.WARNING, Severity.INFO, Severity.ERROR)


def entry(agent: str, text: str, severity: Severity = Severity.INFO, at: float | None = None) -> LogEntry:
    return LogEntry(at=time.time() if at is None else at, agent=agent, text=text, severity=severity)


def fill(config: Config, entries: Sequence[LogEntry]) -> None:
    """Store entries as the capture would (the TUI's feed and viewer read them from the file)."""
    store = LogStore(config.logs_path, config.logs)
    try:
        store.append(entries)
    finally:
        store.close()


def fleet_log(count: int, agents: Sequence[str] = ("api", "web", "worker"), start: float | None = None,
              text: Callable[[int], str] = lambda n: f"line {n}") -> list[LogEntry]:
    """`count` entries, one every 10 ms, the agents in turn, severities in turn (info, debug, warning, info, error)."""
    start = time.time() - count / 100 if start is None else start
    return [entry(agents[n % len(agents)], text(n), LEVELS[n % len(LEVELS)], at=start + n / 100)
            for n in range(count)]


def viewer(app: AgentmuxApp) -> LogsScreen:
    screen = app.screen
    assert isinstance(screen, LogsScreen), f"the log viewer is not on top: {screen!r}"
    return screen


def settled(app: AgentmuxApp) -> bool:
    """The viewer on top has every answer it asked for (entries loaded, matches counted)."""
    screen = app.screen
    return isinstance(screen, LogsScreen) and screen.working is None and not screen.counting


def texts(app: AgentmuxApp) -> list[str]:
    return [e.text for e in viewer(app).view.entries]


def selected(app: AgentmuxApp) -> LogEntry | None:
    return viewer(app).view.selected


async def open_viewer(pilot: Pilot[None]) -> LogsScreen:
    app = pilot.app
    assert isinstance(app, AgentmuxApp)
    await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
    await pilot.press("L")
    await until(pilot, lambda: settled(app), what="the viewer's first entries")
    return viewer(app)


def highlights(view: LogView, row: int) -> list[str]:
    """The text highlighted as a search match on the view's row (counted from its top)."""
    return [segment.text for segment in view.render_line(row)
            if segment.style is not None and segment.style.bgcolor is not None
            and segment.style.bgcolor.name == "yellow"]


async def test_filter_by_agent_and_severity_and_new_entries_that_pass(env: Env) -> None:
    env.write_config()
    config = env.load()
    fill(config, fleet_log(300))
    opened: list[threading.Thread] = []
    app = AgentmuxApp(config)
    real_open = app.open_log_store

    def open_in_worker() -> LogStore:
        opened.append(threading.current_thread())
        return real_open()

    app.open_log_store = open_in_worker  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_viewer(pilot)
        assert len(screen.view.entries) == 300 and not screen.has_older
        assert screen.following and screen.view.cursor == 299
        # every query runs on a connection opened in a worker thread, never the UI's
        assert len(opened) == 2 and all(thread is not threading.main_thread() for thread in opened)
        await pilot.press("a")  # all -> api
        await until(pilot, lambda: settled(app) and screen.filters.agents == ("api",), what="api only")
        assert {e.agent for e in screen.view.entries} == {"api"} and len(screen.view.entries) == 100
        assert not screen.view.show_agent  # one agent: no agent column
        await pilot.press("a")  # -> web
        await until(pilot, lambda: settled(app) and screen.filters.agents == ("web",), what="web only")
        assert {e.agent for e in screen.view.entries} == {"web"}
        await pilot.press("l")  # debug hidden
        await until(pilot, lambda: settled(app) and screen.filters.level == Severity.INFO, what="info and up")
        assert Severity.DEBUG not in {e.severity for e in screen.view.entries}
        await pilot.press("l")
        await until(pilot, lambda: settled(app) and screen.filters.level == Severity.WARNING, what="warning and up")
        assert {e.severity for e in screen.view.entries} == {Severity.WARNING, Severity.ERROR}
        assert all(e.agent == "web" for e in screen.view.entries)
        assert "web · ≥ warning" in str(screen.query_one("#logs-bar").render())
        # some agents: the picker
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen), what="the agents picker")
        picker = app.screen.query_one(SelectionList)
        picker.deselect_all()
        picker.select("api")
        picker.select("worker")
        await pilot.press("enter")
        await until(pilot, lambda: settled(app) and viewer(app).filters.agents == ("api", "worker"),
                    what="api and worker")
        assert {e.agent for e in screen.view.entries} == {"api", "worker"}
        assert {e.severity for e in screen.view.entries} == {Severity.WARNING, Severity.ERROR}
        assert screen.view.show_agent
        # live: what passes the filters arrives at the end and is followed; the rest never shows
        await pilot.press("end")
        await until(pilot, lambda: screen.following, what="following")
        fill(config, [entry("web", "web error", Severity.ERROR), entry("api", "api info"),
                      entry("worker", "worker warning", Severity.WARNING)])
        await until(pilot, lambda: texts(app)[-1:] == ["worker warning"], what="the new warning, followed")
        assert "web error" not in texts(app) and "api info" not in texts(app)
        assert selected(app) is not None and selected(app).text == "worker warning"  # type: ignore[union-attr]
        # back to every agent at every level
        await pilot.press("l", "l")
        await until(pilot, lambda: settled(app) and screen.filters.level is None, what="every level")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen), what="the agents picker")
        app.screen.query_one(SelectionList).deselect_all()
        await pilot.press("enter")
        await until(pilot, lambda: settled(app) and viewer(app).filters.agents == (), what="every agent")
        assert texts(app)[-3:] == ["web error", "api info", "worker warning"]


async def test_search_highlights_counts_and_jumps_between_matches(env: Env) -> None:
    env.write_config()
    config = env.load()

    def text(n: int) -> str:
        return f"request {n}: Connection refused (errno 111)" if n % 50 == 7 else f"request {n}: ok"

    fill(config, fleet_log(300, text=text))  # matches at 7, 57, ..., 257: six
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_viewer(pilot)
        view = screen.view
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.focused, Input), what="the search box")
        await pilot.press(*'"connection refused"', "enter")
        await until(pilot, lambda: settled(app) and screen.matches is not None, what="the matches counted")
        assert screen.matches is not None and screen.matches[:2] == (6, False)
        assert "6 matches" in str(screen.query_one("#logs-bar").render())
        # from the end, the nearest match above: the newest
        await until(pilot, lambda: selected(app) is not None and selected(app).text.startswith("request 257:"),  # type: ignore[union-attr]
                    what="the newest match selected")
        assert not screen.following
        row = view.cursor - view.top
        assert highlights(view, row) == ["Connection refused"]  # any case; the phrase kept whole
        await pilot.press("N")
        await until(pilot, lambda: selected(app).text.startswith("request 207:"), what="the match above")  # type: ignore[union-attr]
        await pilot.press("N", "N")
        await until(pilot, lambda: selected(app).text.startswith("request 107:"), what="two more up")  # type: ignore[union-attr]
        await pilot.press("n")
        await until(pilot, lambda: selected(app).text.startswith("request 157:"), what="the match below")  # type: ignore[union-attr]
        await pilot.press("n", "n", "n")  # 207, 257, then none: it stays and says so
        await until(pilot, lambda: "no match below" in screen.note, what="no more matches")
        assert selected(app).text.startswith("request 257:")  # type: ignore[union-attr]
        # a regular expression (ctrl+r in the box), case-sensitive
        await pilot.press("slash", "ctrl+r")
        box = screen.query_one("#logs-search", Input)
        box.value = ""
        await pilot.press(*r"request 1\d7: Conn", "enter")
        await until(pilot, lambda: settled(app) and screen.matches is not None and screen.search_text.endswith("Conn"),
                    what="the expression's matches")
        assert screen.filters.search is not None and screen.filters.search.regex == r"request 1\d7: Conn"
        assert screen.matches is not None and screen.matches[0] == 2  # 107 and 157
        assert selected(app).text.startswith("request 157:")  # type: ignore[union-attr]
        # only the matching lines (f), then every line again
        await pilot.press("f")
        await until(pilot, lambda: settled(app) and len(view.entries) == 2, what="only the two matches")
        await pilot.press("f")
        await until(pilot, lambda: settled(app) and len(view.entries) == 300, what="every line again")
        assert selected(app).text.startswith("request 157:")  # type: ignore[union-attr]
        # a bad expression is said, the box stays open
        await pilot.press("slash")
        box.value = "refused ("
        await pilot.press("enter")
        await until(pilot, lambda: "not a regular expression" in screen.note, what="the refusal")
        assert box.has_class("-shown")


async def test_follow_stops_when_scrolled_up_and_resumes_at_the_end(env: Env) -> None:
    env.write_config()
    config = env.load()
    fill(config, fleet_log(200))
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_viewer(pilot)
        view = screen.view
        assert screen.following and view.at_end
        fill(config, [entry("api", "first new")])
        await until(pilot, lambda: texts(app)[-1:] == ["first new"], what="a new entry")
        assert screen.following and selected(app).text == "first new" and view.at_end  # type: ignore[union-attr]
        await pilot.press("up")
        await until(pilot, lambda: not screen.following, what="following off")
        held = selected(app)
        fill(config, [entry("api", "second new"), entry("web", "third new")])
        await until(pilot, lambda: texts(app)[-1:] == ["third new"], what="more new entries")
        assert selected(app) == held and not screen.following and screen.unseen == 2
        assert "2 new below" in str(screen.query_one("#logs-where").render())
        await pilot.press("end")
        await until(pilot, lambda: screen.following, what="following on again")
        assert selected(app).text == "third new" and view.at_end  # type: ignore[union-attr]
        # the wheel or the scroll bar: scrolled up, not following; scrolled to the end, following again
        view.scroll_to(y=0, animate=False)
        await until(pilot, lambda: not screen.following, what="following off after scrolling up")
        assert view.top <= view.cursor < view.top + view.rows  # the selection stayed on screen
        view.scroll_to(y=view.max_scroll_y, animate=False)
        await until(pilot, lambda: screen.following, what="following on at the end")
        assert selected(app).text == "third new"  # type: ignore[union-attr]
        # page up, then down to the end: following again
        await pilot.press("pageup", "pageup")
        await until(pilot, lambda: not screen.following, what="following off after PgUp")
        await pilot.press("pagedown", "pagedown", "pagedown")
        await until(pilot, lambda: screen.following, what="following after paging down to the end")
        fill(config, [entry("web", "fourth new")])
        await until(pilot, lambda: selected(app) is not None and selected(app).text == "fourth new",  # type: ignore[union-attr]
                    what="the newest followed")


async def test_older_entries_load_as_the_user_scrolls_up(env: Env) -> None:
    env.write_config()
    config = env.load()
    fill(config, fleet_log(3 * PAGE + 50, text=lambda n: f"entry {n}" + (" needle" if n == 3 else "")))
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_viewer(pilot)
        view = screen.view
        assert len(view.entries) == PAGE and screen.has_older  # the newest page only
        assert view.entries[0].text == f"entry {2 * PAGE + 50}"
        while True:  # PgUp until a page older loads
            old, top, rows, cursor = list(view.entries), view.top, view.rows, view.cursor
            await pilot.press("pageup")
            await until(pilot, lambda: settled(app), what="the page up")
            if len(view.entries) > len(old):
                break
            assert view.top > 0, "at the top with no older page loaded"
        # a page older was put above: the screen shows what it showed, the same entry selected
        assert len(view.entries) == 2 * PAGE
        assert view.entries[0].text == f"entry {PAGE + 50}" and screen.has_older
        assert view.entries[view.top] == old[max(0, top - rows)]
        assert view.selected == old[max(0, cursor - rows)]
        ids = [e.id for e in view.entries]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # Home: the oldest page; End: the newest again, following
        await pilot.press("home")
        await until(pilot, lambda: settled(app) and view.entries[0].text == "entry 0", what="the oldest page")
        assert not screen.has_older and screen.has_newer and view.cursor == 0
        await pilot.press("end")
        await until(pilot, lambda: settled(app) and screen.following, what="the newest again")
        assert view.entries[-1].text == f"entry {3 * PAGE + 49}" and not screen.has_newer
        # a match older than anything loaded: N loads the entries around it
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: settled(app) and selected(app) is not None and "needle" in selected(app).text,  # type: ignore[union-attr]
                    what="the old match loaded and selected")
        assert selected(app).text == "entry 3 needle" and screen.has_newer  # type: ignore[union-attr]


async def test_empty_states_say_what_to_do(env: Env) -> None:
    env.write_config()
    config = env.load()
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_viewer(pilot)
        assert screen.view.empty_text[0].startswith("No log entries yet: agents' output appears here")
        fill(config, [entry("api", "hello")])
        await until(pilot, lambda: texts(app) == ["hello"], what="the first entry, live")
        await pilot.press("l", "l", "l")  # errors only
        await until(pilot, lambda: settled(app) and screen.filters.level == Severity.ERROR, what="errors only")
        assert screen.view.empty_text[0] == "No entries of all agents at ≥ error."
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="back on the dashboard")


TWO_AGENTS = '''
[[agents]]
name = "one"
command = "exec sleep 600"  # silent: the log holds only what the test stores

[[agents]]
name = "two"
command = "exec sleep 600"
'''


async def test_log_panel_jump_to_tile_zoom_and_context(env: Env) -> None:
    env.write_config(TWO_AGENTS)
    config = env.load()
    assert env.cli("up", "--no-serve").returncode == 0
    start = time.time() - 100
    fill(config, [entry("one" if n % 2 else "two", f"{'one' if n % 2 else 'two'} says {n}",
                        Severity.ERROR if n == 41 else Severity.INFO, at=start + n) for n in range(60)])
    app = AgentmuxApp(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(AgentTile) and isinstance(app.screen.focused, AgentTile),
                    what="the tiles")
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        tail = dashboard.query_one(LogTail)
        # the panel shows the focused agent's ring from the feed, then what arrives
        tile(app, "one").focus()
        await until(pilot, lambda: [e.agent for e in tail.entries][-1:] == ["one"] and len(tail.entries) == 30,
                    what=lambda: f"one's entries in the panel (it shows {len(tail.entries)})")
        fill(config, [entry("two", "two later"), entry("one", "one later")])
        await until(pilot, lambda: tail.entries[-1].text == "one later", what="the new entry of one")
        assert "two later" not in [e.text for e in tail.entries]
        tile(app, "two").focus()
        await until(pilot, lambda: tail.entries and tail.entries[-1].text == "two later", what="two's ring")
        assert {e.agent for e in tail.entries} == {"two"}
        await pilot.press("o")
        await until(pilot, lambda: {e.agent for e in tail.entries} == {"one", "two"} and tail.show_agent,
                    what="every agent's entries")
        assert tail.entries[-1].text == "one later"
        # Enter on the panel opens the viewer with what the panel shows (every agent)
        tail.focus()
        await until(pilot, lambda: app.screen.focused is tail, what="focus in the log panel")
        assert dashboard.query_one(LogPanel).scope is None
        await pilot.press("enter")
        await until(pilot, lambda: settled(app), what="the viewer")
        screen = viewer(app)
        assert screen.filters.agents == () and texts(app)[-1] == "one later"
        # select one's error, then: its context, its zoom, its tile
        await pilot.press("l", "l", "l")
        await until(pilot, lambda: settled(app) and texts(app) == ["one says 41"], what="the error only")
        await pilot.press("c")
        await until(pilot, lambda: settled(app) and screen.context is not None, what="the context")
        assert screen.filters.agents == ("one",) and screen.filters.level is None
        assert selected(app) is not None and selected(app).text == "one says 41"  # type: ignore[union-attr]
        assert {e.agent for e in screen.view.entries} == {"one"} and len(screen.view.entries) == 31
        assert "context of one" in str(screen.query_one("#logs-bar").render())
        await pilot.press("escape")  # back to the filters, still on that line
        await until(pilot, lambda: settled(app) and screen.context is None, what="the filters back")
        assert screen.filters.level == Severity.ERROR and texts(app) == ["one says 41"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ZoomScreen), what="the zoom")
        assert app.screen.agent == "one"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), what="back in the viewer")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.focused is tile(app, "one"),
                    what="one's tile focused on the dashboard")
