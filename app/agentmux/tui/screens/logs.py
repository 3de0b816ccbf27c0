"""The log viewer: the agents' log entries from the log database, filtered by agent and minimum severity, searched
by words and "phrases" or a regular expression (matches highlighted, `n`/`N` between them), following new entries
as they arrive; from a selected line, its agent's tile, its zoom, or its context (that agent's entries around it).

The UI never waits on the log database. Queries run in two thread workers of this screen ("lanes"), each with a
`LogStore` connection of its own: one loads the entries shown (the newest page; a page older or newer as the
user scrolls; the entries around a match or a moment), the other counts a search's matches. A lane runs only the
newest request it was given (a query that a newer request made pointless is interrupted) and posts its answer
as a message; the screen applies only the answer to the newest request it made. What is loaded is a window of
at most `MAX_WINDOW` entries of the results, moved a page at a time as the user scrolls."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection
from textual.worker import get_current_worker

from agentmux.errors import AgentmuxError
from agentmux.logs import LogEntry, LogQuery, LogStore, Severity
from agentmux.tui.handle import app_of
from agentmux.tui.widgets.logtext import LEVELS, agent_style, level_label
from agentmux.tui.widgets.logview import LogView

PAGE = 400
"""Entries loaded at a time (a page older or newer, the newest at the start)."""
MAX_WINDOW = 20_000
"""Entries kept loaded at most: scrolling on drops those farthest away (they load again when scrolled back to)."""
COUNT_CAP = 10_000
"""A search counts its matches up to this many (`10,000+ matches`)."""
LIVE_KEEP = 20_000
"""New entries kept while a load is under way, to add after it those it did not see."""
AGENT_WIDTH = 12
NO_ENTRIES = ["No log entries yet: agents' output appears here as they print.",
              "", "Esc goes back to the dashboard."]


@dataclass(frozen=True)
class Request:
    """What a lane is asked: `kind` says what (see `answer`), `query` holds the filters."""

    seq: int
    kind: str
    query: LogQuery
    edge: int = 0
    """The entry id a page or a search starts from, or the entry to load around."""
    match: LogQuery | None = None
    """kind "match": the filters and the search, the next match of which is loaded around."""
    forward: bool = True
    agents: bool = False
    """Also say which agents have entries."""


@dataclass
class LogsLoaded(Message):
    """A lane's answer: entries for the window (or a page of it)."""

    seq: int
    kind: str
    entries: list[LogEntry]
    has_older: bool
    has_newer: bool
    cursor_id: int | None = None
    found: bool = True
    """kind "match": False when no entry matches beyond the edge (the window is left as it is)."""
    agents: list[str] | None = None
    elapsed: float = 0.0


@dataclass
class MatchesCounted(Message):
    seq: int
    count: int
    capped: bool
    elapsed: float = 0.0


@dataclass
class LogsFailed(Message):
    seq: int
    error: str


class Lane:
    """The newest request for one worker thread; a request not yet taken is replaced by a newer one."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._request: Request | None = None
        self.closed = False

    def submit(self, request: Request) -> None:
        with self._ready:
            self._request = request
            self._ready.notify()

    def take(self, timeout: float) -> Request | None:
        with self._ready:
            if self._request is None and not self.closed:
                self._ready.wait(timeout)
            request, self._request = self._request, None
            return request

    @property
    def superseded(self) -> bool:
        """A newer request waits (or the screen closed): the query under way is pointless."""
        return self._request is not None or self.closed

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


def answer(store: LogStore, request: Request) -> Message:
    """Run one request on the lane's own connection."""
    query = request.query
    agents = store.agents() if request.agents else None
    if request.kind == "count":
        found = store.search(replace(query, limit=COUNT_CAP + 1))
        return MatchesCounted(request.seq, min(len(found), COUNT_CAP), len(found) > COUNT_CAP)
    if request.kind == "match":
        assert request.match is not None
        edge = {"after_id": request.edge} if request.forward else {"before_id": request.edge}
        hit = store.search(replace(request.match, limit=1, **edge))  # type: ignore[arg-type]
        if not hit:
            return LogsLoaded(request.seq, "match", [], False, False, found=False, agents=agents)
        return around(store, request, hit[0].id, agents)
    if request.kind == "around":
        return around(store, request, request.edge, agents)
    if request.kind == "oldest":
        entries = store.search(replace(query, after_id=0, limit=PAGE))
        return LogsLoaded(request.seq, "oldest", entries, False, len(entries) == PAGE,
                          entries[0].id if entries else None, agents=agents)
    if request.kind == "older":
        entries = store.search(replace(query, before_id=request.edge, limit=PAGE))
        return LogsLoaded(request.seq, "older", entries, len(entries) == PAGE, False, agents=agents)
    if request.kind == "newer":
        entries = store.search(replace(query, after_id=request.edge, limit=PAGE))
        return LogsLoaded(request.seq, "newer", entries, False, len(entries) == PAGE, agents=agents)
    entries = store.search(replace(query, limit=PAGE))  # "newest"
    return LogsLoaded(request.seq, "newest", entries, len(entries) == PAGE, False,
                      entries[-1].id if entries else None, agents=agents)


def around(store: LogStore, request: Request, entry_id: int, agents: list[str] | None) -> LogsLoaded:
    """Half a page up to and with the entry (or the last before it the filters let through), half after it."""
    half = PAGE // 2
    older = store.search(replace(request.query, before_id=entry_id + 1, limit=half))
    newer = store.search(replace(request.query, after_id=entry_id, limit=half))
    cursor = older[-1].id if older else newer[0].id if newer else None
    return LogsLoaded(request.seq, "around", older + newer, len(older) == half, len(newer) == half, cursor,
                      agents=agents)


@dataclass(frozen=True)
class Filters:
    """What the viewer lets through: agents (none: all), a minimum level, and (only-matches) the search."""

    agents: tuple[str, ...] = ()
    level: Severity | None = None
    search: LogQuery | None = None
    only_matches: bool = False

    def query(self) -> LogQuery:
        narrows = self.search if self.only_matches and self.search is not None else LogQuery()
        return LogQuery(agents=self.agents, level=self.level, text=narrows.text, regex=narrows.regex,
                        ignore_case=narrows.ignore_case)

    def matches(self) -> LogQuery | None:
        """The search within these filters (what `n` finds and the count counts)."""
        if self.search is None:
            return None
        return replace(self.query(), text=self.search.text, regex=self.search.regex,
                       ignore_case=self.search.ignore_case)

    def accepts(self, entry: LogEntry) -> bool:
        if self.agents and entry.agent not in self.agents:
            return False
        if self.level is not None and entry.severity < self.level:
            return False
        return not (self.only_matches and self.search is not None and not self.search.accepts(entry.text))


def search_query(text: str, regex: bool) -> LogQuery | None:
    """What the search box asks (None when empty); ValueError for a regular expression that is not one."""
    if not text.strip():
        return None
    return LogQuery(regex=text) if regex else LogQuery(text=text)


def agents_label(agents: Sequence[str]) -> str:
    if not agents:
        return "all agents"
    return ", ".join(agents) if len(agents) <= 3 else f"{len(agents)} agents"


class LogsScreen(Screen[None]):
    """Every agent's log, searchable; Escape goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(True)", "Next match"),
        Binding("N", "next_match(False)", "Previous match"),
        Binding("ctrl+r,r", "toggle_regex", "Regex/words", key_display="r"),
        Binding("f", "toggle_only_matches", "Only matching lines", show=False),
        Binding("a", "cycle_agent", "Agent"),
        Binding("A", "pick_agents", "Agents…"),
        Binding("l", "cycle_level(1)", "Level"),
        Binding("L", "cycle_level(-1)", "Level down", show=False),
        Binding("F,end,G", "follow", "Follow"),
        Binding("home,g", "oldest", "Oldest", show=False),
        Binding("c", "context", "Context"),
        Binding("t", "tile", "Tile"),
        Binding("enter,z", "zoom", "Zoom"),
        Binding("up", "move(-1)", "", show=False),
        Binding("down", "move(1)", "", show=False),
        Binding("pageup", "page(-1)", "", show=False),
        Binding("pagedown", "page(1)", "", show=False),
        Binding("left", "sideways(-8)", "", show=False),
        Binding("right", "sideways(8)", "", show=False),
    ]

    def __init__(self, agents: Sequence[str] = ()) -> None:
        super().__init__()
        self.filters = Filters(agents=tuple(agents))
        self.regex = False
        self.search_text = ""
        self.context: Filters | None = None
        """The user's filters while showing a line's context (Escape brings them back)."""
        self.following = True
        self.has_older = False
        self.has_newer = False
        self.working: str | None = "loading…"
        """What the view lane is doing for the screen (None: nothing)."""
        self.counting = False
        self.matches: tuple[int, bool, float] | None = None
        """The search's matches: count, whether there are more, seconds it took."""
        self.loaded_in: float | None = None
        self.note = ""
        """One line about the last thing asked (no more matches, a bad expression)."""
        self.unseen = 0
        """New entries that arrived below while not following."""
        self.known: set[str] = set()
        self.store_empty: bool | None = None
        self._seq = 0
        self._waiting: Request | None = None
        self._follow_next = True
        self._counting_seq = 0
        self._live: deque[LogEntry] = deque(maxlen=LIVE_KEEP)
        self._view_lane = Lane()
        self._count_lane = Lane()

    def compose(self) -> ComposeResult:
        yield Static(id="logs-bar")
        yield LogView(id="logs-view")
        yield Static(id="logs-where")
        yield Input(id="logs-search")
        yield Footer()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        fleet = tuple(app_of(self).config.names())
        self.known.update(fleet)
        self.view.fleet = fleet
        self.view.focus()
        self._search_box_hint()
        self.run_lane(self._view_lane)
        self.run_lane(self._count_lane)
        self._columns()
        self._load("newest", follow=True, agents=True)

    def on_unmount(self) -> None:
        self._view_lane.close()
        self._count_lane.close()

    # --- the lanes ---------------------------------------------------------------------------------------

    @work(thread=True, group="log-lanes", exit_on_error=False)
    def run_lane(self, lane: Lane) -> None:
        """Answer the lane's requests on a connection of this thread's own until the screen closes."""
        worker = get_current_worker()
        try:
            store = app_of(self).open_log_store()
        except AgentmuxError as exc:
            self.post_message(LogsFailed(-1, str(exc)))
            return
        store.db.set_progress_handler(lambda: int(lane.superseded or worker.is_cancelled), 1000)
        try:
            while not worker.is_cancelled and not lane.closed:
                request = lane.take(0.5)
                if request is None:
                    continue
                started = time.perf_counter()
                try:
                    message = answer(store, request)
                except sqlite3.OperationalError as exc:
                    if lane.superseded or worker.is_cancelled:
                        continue  # interrupted: a newer request makes it pointless
                    self.post_message(LogsFailed(request.seq, f"the log database: {exc}"))
                    continue
                except (sqlite3.Error, re.error, ValueError) as exc:
                    self.post_message(LogsFailed(request.seq, str(exc)))
                    continue
                if isinstance(message, LogsLoaded | MatchesCounted):
                    message.elapsed = time.perf_counter() - started
                self.post_message(message)
        finally:
            store.close()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _load(self, kind: str, edge: int = 0, follow: bool = False, agents: bool = False,
              forward: bool = True) -> None:
        """Ask the view lane for entries; `follow`: follow new entries once they are shown."""
        request = Request(self._next_seq(), kind, self.filters.query(), edge=edge, match=self.filters.matches(),
                          forward=forward, agents=agents)
        self._waiting = request
        self._follow_next = follow
        self.working = "searching…" if kind == "match" else "loading…"
        if kind in ("newest", "oldest", "around"):
            self.note = ""
        self._view_lane.submit(request)
        self._bars()

    def _count(self) -> None:
        matches = self.filters.matches()
        self.matches = None
        if matches is None:
            self.counting = False
            return
        self._counting_seq = self._next_seq()
        self.counting = True
        self._count_lane.submit(Request(self._counting_seq, "count", matches))

    @on(LogsLoaded)
    def loaded(self, message: LogsLoaded) -> None:
        request = self._waiting
        if request is None or message.seq != request.seq:
            return  # the answer to a request a newer one replaced
        self._waiting = None
        self.working = None
        if message.agents is not None:
            self.known.update(message.agents)
            self.store_empty = not message.agents
            self._columns()
        view = self.view
        if message.kind == "match" and not message.found:
            self.note = f"no match {'below' if request.forward else 'above'} (the search counts every match)"
        elif message.kind == "older":
            self.has_older = message.has_older
            view.prepend(message.entries)
            over = len(view.entries) - MAX_WINDOW
            if over > 0:
                view.drop_newest(over)
                self.has_newer = True
        elif message.kind == "newer":
            self.has_newer = message.has_newer
            view.append(message.entries)
            if not self.has_newer:
                self._catch_up()
            self._trim_oldest()
        else:
            self.loaded_in = message.elapsed
            self.has_older, self.has_newer = message.has_older, message.has_newer
            ids = [entry.id for entry in message.entries]
            cursor = len(ids) - 1
            if message.cursor_id is not None and message.cursor_id in ids:
                cursor = ids.index(message.cursor_id)
            view.set_entries(message.entries, cursor)
            if not self.has_newer:
                self._catch_up()
            self.following = self._follow_next and not self.has_newer
            if self.following:
                view.end()
                self.unseen = 0
        self._empty_text()
        self._moved()

    def _catch_up(self) -> None:
        """The window reaches the newest entry: add the new entries that arrived while it loaded."""
        view = self.view
        last = view.entries[-1].id if view.entries else 0
        newer = [entry for entry in self._live if entry.id > last]
        if newer:
            view.append(newer)

    def _trim_oldest(self) -> None:
        view = self.view
        over = len(view.entries) - MAX_WINDOW
        if over > 0:
            view.drop_oldest(over)
            self.has_older = True

    @on(MatchesCounted)
    def counted(self, message: MatchesCounted) -> None:
        if message.seq != self._counting_seq:
            return
        self.counting = False
        self.matches = (message.count, message.capped, message.elapsed)
        self._bars()

    @on(LogsFailed)
    def failed(self, message: LogsFailed) -> None:
        if self._waiting is not None and message.seq in (self._waiting.seq, -1):
            self._waiting = None
            self.working = None
        if message.seq in (self._counting_seq, -1):
            self.counting = False
        self.note = f"✗ {message.error}"
        self._empty_text()
        self._bars()

    # --- live entries ------------------------------------------------------------------------------------

    def add_live(self, entries: Iterable[LogEntry]) -> None:
        """New entries from the feed (oldest first): those the filters let through are shown at the end when
        the window reaches it, and followed when following."""
        if not self.is_mounted:
            return  # its first load, when mounted, reads them from the database
        entries = list(entries)
        self.known.update(entry.agent for entry in entries)
        accepted = [entry for entry in entries if self.filters.accepts(entry)]
        if not accepted:
            return
        self.store_empty = False
        self._live.extend(accepted)
        waiting = self._waiting
        if self.has_newer or (waiting is not None and waiting.kind not in ("older",)):
            return  # the window does not reach the end, or a load will add them (`_catch_up`)
        view = self.view
        last = view.entries[-1].id if view.entries else 0
        newer = [entry for entry in accepted if entry.id > last]
        if not newer:
            return
        view.append(newer)
        if self.following:
            self._trim_oldest()
            view.end()
        else:
            self.unseen += len(newer)
            if len(view.entries) > MAX_WINDOW:  # not followed: the newest go, to load again at the end
                view.drop_newest(len(view.entries) - MAX_WINDOW)
                self.has_newer = True
        self._empty_text()
        self._bars()

    # --- moving ------------------------------------------------------------------------------------------

    def _moved(self) -> None:
        """After the selection or the scroll position changed: load what comes next, say where it is."""
        view = self.view
        if self.following and view.cursor == len(view.entries) - 1:
            self.unseen = 0
        if self._waiting is None and view.entries:
            margin = max(2 * view.rows, 50)
            if self.has_older and view.top < margin:
                self._load("older", edge=view.entries[0].id, follow=self.following)
            elif self.has_newer and view.top + view.rows > len(view.entries) - margin:
                self._load("newer", edge=view.entries[-1].id, follow=self.following)
        self._bars()

    def _select(self, index: int) -> None:
        view = self.view
        if not view.entries:
            return
        view.cursor = max(0, min(index, len(view.entries) - 1))
        view.show_cursor()
        self.following = view.cursor == len(view.entries) - 1 and not self.has_newer
        if self.following:
            view.end()
        self._moved()

    def action_move(self, delta: int) -> None:
        self._select(self.view.cursor + delta)

    def action_page(self, delta: int) -> None:
        view = self.view
        rows = view.rows
        view.scroll_quietly(view.top + delta * rows)
        self._select(view.cursor + delta * rows)

    def action_sideways(self, delta: int) -> None:
        view = self.view
        view.scroll_to(x=view.scroll_offset.x + delta, animate=False)

    @on(LogView.Scrolled)
    def scrolled(self, message: LogView.Scrolled) -> None:
        """The view scrolled under the selection (the wheel, the scroll bar, a new size): the selection stays on
        screen; scrolled to the end, following again; scrolled away from it, not following."""
        view = self.view
        if not view.entries:
            return
        if view.at_end and not self.has_newer and (self.following or message.down):
            self.following = True
            view.end()
        else:
            self.following = False
            top, rows = view.top, view.rows
            view.cursor = max(top, min(view.cursor, top + rows - 1, len(view.entries) - 1))
            view.refresh()
        self._moved()

    @on(LogView.Clicked)
    def clicked(self, message: LogView.Clicked) -> None:
        self._select(message.index)

    def action_follow(self) -> None:
        """Follow new entries (loading the newest first when the window does not reach them)."""
        if self.has_newer or (self._waiting is not None and self._waiting.kind != "older"):
            self._load("newest", follow=True)
            return
        self.following = True
        self.unseen = 0
        self.view.end()
        self._moved()

    def action_oldest(self) -> None:
        self.following = False
        if self.has_older:
            self._load("oldest")
            return
        self._select(0)

    # --- filters -----------------------------------------------------------------------------------------

    def _refilter(self, filters: Filters) -> None:
        """Show what these filters let through, at the same place (the selected entry, or the newest one
        before it that passes), or the newest when following."""
        self.filters = filters
        self._live.clear()
        self._columns()
        selected = self.view.selected
        if self.following or selected is None:
            self._load("newest", follow=True)
        else:
            self._load("around", edge=selected.id)
        self._count()

    def _user_filters(self, filters: Filters) -> None:
        """The user changed a filter: it also ends a context view."""
        self.context = None
        self._refilter(filters)

    def action_cycle_agent(self) -> None:
        names = sorted(self.known)
        current = self.filters.agents
        if not names:
            self.notify("No agents yet", severity="warning")
            return
        if len(current) == 1 and current[0] in names:
            index = names.index(current[0]) + 1
            agents = (names[index],) if index < len(names) else ()
        else:
            agents = () if current else (names[0],)
        self._user_filters(replace(self.filters, agents=agents))

    def action_pick_agents(self) -> None:
        def done(agents: tuple[str, ...] | None) -> None:
            if agents is not None:
                self._user_filters(replace(self.filters, agents=agents))

        self.app.push_screen(AgentsScreen(sorted(self.known | set(self.filters.agents)), self.filters.agents), done)

    def action_cycle_level(self, step: int) -> None:
        index = LEVELS.index(self.filters.level)
        self._user_filters(replace(self.filters, level=LEVELS[(index + step) % len(LEVELS)]))

    def action_toggle_only_matches(self) -> None:
        if self.filters.search is None:
            self.notify("Search first (/): f then shows only the matching lines", severity="warning")
            return
        self._user_filters(replace(self.filters, only_matches=not self.filters.only_matches))

    def _columns(self) -> None:
        agents = self.filters.agents
        show = len(agents) != 1
        names = self.known if not agents else set(agents)
        width = min(AGENT_WIDTH, max([5, *(len(name) for name in names)]))
        self.view.set_columns(show, width)

    # --- search ------------------------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.value = self.search_text
        box.add_class("-shown")
        self.set_focus(box)

    def _search_box_hint(self) -> None:
        box = self.query_one("#logs-search", Input)
        if self.regex:
            box.placeholder = "regular expression (ctrl+r: words instead) · Enter searches · Escape closes"
        else:
            box.placeholder = 'words or "a phrase", any case (ctrl+r: a regular expression) · Enter searches'

    @on(Input.Submitted, "#logs-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        if self._search(event.value):
            self._close_search_box()

    def _search(self, text: str) -> bool:
        """Search for this (empty: no search); False when it is not a valid expression (said in the bar)."""
        try:
            search = search_query(text, self.regex)
        except ValueError as exc:
            self.note = f"✗ {exc}"
            self._bars()
            return False
        self.search_text = text
        self.note = ""
        only = self.filters.only_matches and search is not None
        filters = replace(self.filters, search=search, only_matches=only)
        self.view.set_search(search)
        if only or self.filters.only_matches:
            self.filters = filters
            self._refilter(filters)
            return True
        self.filters = filters
        self._count()
        if search is not None:
            self._jump_nearest()
        self._bars()
        return True

    def _close_search_box(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.remove_class("-shown")
        self.set_focus(self.view)  # now: the next key (n) is the view's

    def action_toggle_regex(self) -> None:
        self.regex = not self.regex
        self._search_box_hint()
        box = self.query_one("#logs-search", Input)
        if box.has_class("-shown"):
            self._bars()
            return
        if self.search_text:
            self._search(self.search_text)
        self._bars()

    def _jump_nearest(self) -> None:
        """To the match nearest the selection, looking up first (the newest match when following)."""
        view, search = self.view, self.filters.search
        if search is None:
            return
        for index in range(view.cursor, -1, -1):
            if search.accepts(view.entries[index].text):
                self._jump(index)
                return
        for index in range(view.cursor + 1, len(view.entries)):
            if search.accepts(view.entries[index].text):
                self._jump(index)
                return
        if self.has_older and view.entries:
            self._load("match", edge=view.entries[0].id, forward=False)
        elif self.has_newer and view.entries:
            self._load("match", edge=view.entries[-1].id, forward=True)
        else:
            self.note = "no match in what the filters show"

    def _jump(self, index: int) -> None:
        view = self.view
        if index != view.cursor:
            view.cursor = index
            view.show_cursor(center=not (view.top <= index < view.top + view.rows))
            self.following = index == len(view.entries) - 1 and not self.has_newer
        self._moved()

    def action_next_match(self, forward: bool) -> None:
        view, search = self.view, self.filters.search
        if search is None:
            self.notify("No search: / searches", severity="warning")
            return
        if self._waiting is not None and self._waiting.kind in ("match", "around", "newest", "oldest"):
            return  # the answer to the last jump comes first
        order = range(view.cursor + 1, len(view.entries)) if forward else range(view.cursor - 1, -1, -1)
        for index in order:
            if search.accepts(view.entries[index].text):
                self.note = ""
                self._jump(index)
                return
        beyond = self.has_newer if forward else self.has_older
        if beyond and view.entries:
            self._load("match", edge=view.entries[-1 if forward else 0].id, forward=forward)
        else:
            self.note = f"no match {'below' if forward else 'above'}"
            self._bars()

    # --- from a line -------------------------------------------------------------------------------------

    def _selected(self) -> LogEntry | None:
        entry = self.view.selected
        if entry is None:
            self.notify("No line selected", severity="warning")
        return entry

    def action_context(self) -> None:
        """The selected line's agent's entries around it, every level, no search filter (Escape: back)."""
        entry = self._selected()
        if entry is None:
            return
        if self.context is None:
            self.context = self.filters
        self.following = False
        self.filters = Filters(agents=(entry.agent,), search=self.filters.search)
        self._live.clear()
        self._columns()
        self._load("around", edge=entry.id)
        self._count()

    def _leave_context(self) -> None:
        filters, self.context = self.context, None
        if filters is not None:
            self._refilter(replace(filters, search=self.filters.search,
                                   only_matches=filters.only_matches and self.filters.search is not None))

    def action_tile(self) -> None:
        entry = self._selected()
        if entry is not None:
            app_of(self).show_tile(entry.agent)

    def action_zoom(self) -> None:
        entry = self._selected()
        if entry is not None:
            app_of(self).zoom(entry.agent)

    def action_back(self) -> None:
        box = self.query_one("#logs-search", Input)
        if box.has_class("-shown"):
            self._close_search_box()
        elif self.context is not None:
            self._leave_context()
        else:
            self.app.pop_screen()

    # --- what the bars say -------------------------------------------------------------------------------

    def _empty_text(self) -> None:
        view = self.view
        if view.entries:
            view.empty_text = []
        elif self.working is not None:
            view.empty_text = [self.working]
        elif self.store_empty is not False and not self._live and self.filters == Filters():
            view.empty_text = NO_ENTRIES
        else:
            view.empty_text = [f"No entries of {agents_label(self.filters.agents)} at "
                               f"{level_label(self.filters.level)}"
                               + (" match the search." if self.filters.only_matches else "."), "",
                               "a: another agent · l: another level · f: every line, not only matches"
                               if self.filters.only_matches else "a: another agent · l: another level"]
        view.refresh()

    def _bars(self) -> None:
        if not self.is_mounted:
            return
        filters, view = self.filters, self.view
        bar = Text()
        bar.append("Logs", style="bold")
        if self.context is not None and filters.agents:
            bar.append("  context of ", style="dim")
            bar.append(filters.agents[0], style=agent_style(filters.agents[0], view.fleet))
            bar.append(" (Esc: back to your filters)", style="dim")
        else:
            bar.append(f"  {agents_label(filters.agents)}")
            bar.append(f" · {level_label(filters.level)}")
        if filters.search is not None:
            what = "regex" if filters.search.regex is not None else "words"
            bar.append(" · search ", style="dim")
            bar.append(self.search_text, style="bold")
            bar.append(f" ({what}{', only matching lines' if filters.only_matches else ''})", style="dim")
            if self.counting:
                bar.append(" · counting…", style="dim")
            elif self.matches is not None:
                count, more, took = self.matches
                bar.append(f" · {count:,}{'+' if more else ''} match{'es' if count != 1 or more else ''}",
                           style="bold" if count else "bold yellow")
                bar.append(f" ({took * 1000:.0f} ms)", style="dim")
        elif self.regex:
            bar.append(" · regex mode", style="dim")
        if self.working is not None:
            bar.append(f" · {self.working}", style="bold cyan")
        elif self.loaded_in is not None:
            bar.append(f" · loaded in {self.loaded_in * 1000:.0f} ms", style="dim")
        self.query_one("#logs-bar", Static).update(bar)
        self.query_one("#logs-where", Static).update(self._where())

    def _where(self) -> Text:
        view = self.view
        line = Text()
        if self.following:
            line.append("● following", style="bold green")
        else:
            line.append("‖ not following", style="yellow")
            if self.unseen:
                line.append(f" · {self.unseen} new below", style="bold")
            line.append(" (F follows)", style="dim")
        entry = view.selected
        if entry is not None:
            line.append("   ")
            line.append(entry.agent, style=agent_style(entry.agent, view.fleet))
            line.append(f" · {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry.at))}"
                        f" · {entry.severity.label} · {entry.stream.label}", style="dim")
            older = "+" if self.has_older else ""
            newer = "+" if self.has_newer else ""
            line.append(f" · line {view.cursor + 1} of {older}{len(view.entries)}{newer} loaded", style="dim")
        if self.note:
            line.append(f"   {self.note}", style="bold yellow")
        return line


class AgentsScreen(ModalScreen[tuple[str, ...] | None]):
    """Pick the agents whose entries the viewer shows (none picked: every agent's)."""

    BINDINGS = [
        Binding("enter", "apply", "Show these", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, agents: Sequence[str], chosen: Sequence[str]) -> None:
        super().__init__()
        self.agents = list(agents)
        self.chosen = set(chosen)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="agents-dialog"):
            yield Label("Show the entries of", classes="dialog-title")
            yield SelectionList[str](*(Selection(name, name, name in self.chosen) for name in self.agents),
                                     id="agents-list")
            yield Static("Space picks · Enter shows them (none picked: every agent) · Escape cancels",
                         classes="field-label")

    def action_apply(self) -> None:
        picked = set(self.query_one(SelectionList).selected)
        self.dismiss(tuple(name for name in self.agents if name in picked))

    def action_cancel(self) -> None:
        self.dismiss(None)
