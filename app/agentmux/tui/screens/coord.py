"""The coordination view (C on the dashboard): what the agents hold, wait for and tell each other, live.

Five sections, each a scrollable table that Tab moves between: Locks (holders with mode, fencing token and lease
left, then who waits, in the order they will be served), Reservations (file patterns with owner, mode, time left,
reason), Barriers (open generations with who has arrived; the last outcome of one that ended lately), Messages (the
newest, with who has not read them yet, and the unread counts) and Shared state (keys with version, writer and
value). It shows the `CoordSummary` the supervisor's thread reads (supervisor/ui.py: when the store changed, and
once a second) and each `UiUpdate` brings when it changed; the time left and the ages count down on the screen's own
clock in between. It never reads the store itself.
"""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from agentmux.agents.observer import format_age
from agentmux.coord.summary import MAX_KEYS, CoordSummary
from agentmux.tui.handle import app_of

SECTIONS = (  # id, title, what to do when it is empty
    ("locks", "Locks", "no locks — agents take them with `agentmux lock acquire NAME`"),
    ("reservations", "Reservations", "no reservations — agents reserve files with `agentmux reserve PATH…`"),
    ("barriers", "Barriers", "no barriers — agents meet at one with `agentmux barrier wait NAME --parties N`"),
    ("state", "Shared state", "no shared keys — agents set them with `agentmux state set KEY VALUE`"),
    ("messages", "Messages", "no messages — agents send them with `agentmux msg send TO TEXT`"),
)
IMPORTANCE_STYLE = {"urgent": "bold white on red", "high": "bold yellow", "normal": "", "low": "dim"}
MODE_STYLE = {"exclusive": "bold", "shared": "cyan"}


def format_left(seconds: float) -> str:
    """Time left on a lease: 41s, 4m10s, 2h05m, 3d."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{seconds / 86400:.0f}d"


def clock_time(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


NAME_WIDTH = 24
"""Owner names are cut beyond this many cells (they may be 128 long): the long columns keep their room."""


def plain_table(*columns: str) -> Table:
    """A plain table of one-line cells, shortened with an ellipsis. A header ending in `*` (or `**`: twice the
    share) is a long column: the long columns share the room the short ones leave, the short ones are as wide as
    their widest cell (names up to NAME_WIDTH)."""
    table = Table(box=None, expand=True, show_edge=False, pad_edge=False, header_style="bold dim")
    for column in columns:
        ratio = len(column) - len(column.rstrip("*"))
        table.add_column(column.rstrip("*"), no_wrap=True, overflow="ellipsis", ratio=ratio or None,
                         max_width=None if ratio else NAME_WIDTH)
    return table


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _empty(text: str) -> Text:
    return Text(text, style="dim")


def locks_view(summary: CoordSummary, now: float) -> RenderableType:
    """Lock, holder, mode, token, lease left, waiting: one row per holder (a shared lock has several), the lock's
    waiters on its first row, in the order they will be served."""
    if not summary.locks:
        return _empty(SECTIONS[0][2])
    table = plain_table("LOCK", "HOLDER", "MODE", "TOKEN", "LEFT", "WAITING*")
    table.columns[5].no_wrap = False  # every waiter is named
    for lock in summary.locks:
        waiting = Text(", ".join(w.owner + (" (shared)" if w.mode == "shared" else "") for w in lock.waiters),
                       style="yellow")
        if not lock.holders:
            table.add_row(Text(lock.name, style="bold"), Text("— free, being handed on", style="dim"), "", "", "",
                          waiting)
            continue
        for n, holder in enumerate(lock.holders):
            left = holder.expires_at - now
            table.add_row(Text(lock.name, style="bold") if n == 0 else "", holder.owner,
                          Text(holder.mode, style=MODE_STYLE[holder.mode]), str(holder.token),
                          Text(format_left(left), style="bold red" if left < 10 else ""), waiting if n == 0 else "")
    return table


def reservations_view(summary: CoordSummary, now: float) -> RenderableType:
    if not summary.reservations:
        return _empty(SECTIONS[1][2])
    several = len({item.root for item in summary.reservations}) > 1  # else the title says where
    table = plain_table("PATTERN**", "OWNER", "MODE", "LEFT", "REASON*", *(["IN*"] if several else []))
    for item in summary.reservations:
        table.add_row(Text(item.pattern, style="bold"), item.owner, Text(item.mode, style=MODE_STYLE[item.mode]),
                      format_left(item.expires_at - now), item.reason,
                      *([Text(item.root, style="dim")] if several else []))
    return table


def barriers_view(summary: CoordSummary, now: float) -> RenderableType:
    """Name, generation, arrived of parties with their names for an open one; how the last one ended, and when."""
    if not summary.barriers:
        return _empty(SECTIONS[2][2])
    table = plain_table("BARRIER", "GEN", "ARRIVED", "WHO / OUTCOME*")
    table.columns[3].no_wrap = False  # everyone arrived is named
    for barrier in summary.barriers:
        if barrier.state == "open":
            table.add_row(Text(barrier.name, style="bold"), str(barrier.generation),
                          Text(f"{len(barrier.arrived)}/{barrier.parties}", style="bold yellow"),
                          Text(", ".join(barrier.arrived) or "nobody yet", style="" if barrier.arrived else "dim"))
            continue
        ago = format_age(now - barrier.ended_at) if barrier.ended_at is not None else "-"
        if barrier.state == "passed":
            outcome = Text(f"✓ passed {ago} ago", style="green")
        else:
            outcome = Text(f"✗ broken {ago} ago", style="red")
            if barrier.reason:
                outcome.append(f": {barrier.reason}")
        table.add_row(Text(barrier.name, style="dim"), Text(str(barrier.generation), style="dim"),
                      Text(f"{len(barrier.arrived)}/{barrier.parties}", style="dim"), outcome)
    return table


def messages_view(summary: CoordSummary) -> RenderableType:
    """Time, from → to (a recipient who has not read it in bold, with ✉), thread, importance, first line; newest
    first."""
    if not summary.messages:
        return _empty(SECTIONS[4][2])
    table = plain_table("TIME", "FROM → TO*", "THREAD", "IMPORTANCE", "TEXT**")
    for item in summary.messages:
        unread = set(item.unread_by)
        route = Text(item.sender, style="bold")
        route.append(" → ")
        for n, recipient in enumerate(item.recipients):
            if n:
                route.append(", ")
            route.append(recipient + ("✉" if recipient in unread else ""), style="bold" if recipient in unread
                         else "dim")
        table.add_row(Text(clock_time(item.sent_at), style="dim"), route, item.thread,
                      Text(item.importance, style=IMPORTANCE_STYLE.get(item.importance, "")), item.body)
    return table


def state_view(summary: CoordSummary, now: float) -> RenderableType:
    if not summary.keys:
        return _empty(SECTIONS[3][2])
    table = plain_table("KEY*", "VER", "BY", "AGE", "VALUE**")
    for item in summary.keys:
        table.add_row(Text(item.key, style="bold"), str(item.version), item.updated_by,
                      Text(format_age(now - item.updated_at), style="dim"), item.value)
    if summary.key_count <= len(summary.keys):
        return table
    return Group(table, Text(f"… and {summary.key_count - len(summary.keys)} more (the first {MAX_KEYS} by key are "
                             "shown; `agentmux state ls PREFIX` lists any)", style="dim"))


def titles(summary: CoordSummary | None) -> dict[str, str]:
    """Each section's title, with its count."""
    if summary is None:
        return {key: title for key, title, _ in SECTIONS}
    holders = sum(len(lock.holders) for lock in summary.locks)
    waiting = sum(len(lock.waiters) for lock in summary.locks)
    opened = sum(1 for barrier in summary.barriers if barrier.state == "open")
    unread = ", ".join(f"{name} {count}" for name, count in summary.unread.items())
    return {
        "locks": f"Locks · {len(summary.locks)}" + (f" · {waiting} waiting" if waiting else "")
                 + (f" · {holders} holds" if holders > len(summary.locks) else ""),
        "reservations": f"Reservations · {len(summary.reservations)}" + (
            f" · in {roots.pop()}" if len(roots := {item.root for item in summary.reservations}) == 1 else ""),
        "barriers": f"Barriers · {opened} open" + (f" · {len(summary.barriers) - opened} ended lately"
                                                   if len(summary.barriers) > opened else ""),
        "state": f"Shared state · {summary.key_count} keys",
        "messages": f"Messages · {len(summary.messages)} newest" + (f" · unread: {unread}" if unread else ""),
    }


class CoordSection(VerticalScroll, can_focus=True):
    """One section: a titled frame around a table that scrolls (↑↓ PgUp PgDn) while it has focus."""

    def __init__(self, key: str, title: str, view: str = "coord") -> None:
        super().__init__(id=f"{view}-{key}", classes="coord-section")
        self.key = key
        self.view = view
        """The view it is part of (its ids start with it): the usage view has sections of this kind too."""
        self.border_title = title

    def compose(self) -> ComposeResult:
        yield Static(Text("reading…", style="dim"), id=f"{self.view}-{self.key}-body", classes="coord-body")

    def show(self, title: str, body: RenderableType) -> None:
        self.border_title = title
        self.query_one(Static).update(body)


class CoordScreen(Screen[None]):
    """Locks, reservations, barriers, messages and shared state, live; Escape goes back."""

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("tab", "app.focus_next", "Next section"),
        Binding("shift+tab", "app.focus_previous", "Previous section"),
    ]
    AUTO_FOCUS = "#coord-locks"

    def __init__(self, summary: CoordSummary | None = None) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        yield Static(id="coord-bar")
        with Grid(id="coord-grid"):
            for key, title, _ in SECTIONS:
                yield CoordSection(key, title)
        yield Footer()

    def on_mount(self) -> None:
        self.render_summary()
        self.set_interval(1.0, self.render_summary)  # leases and ages count down between summaries

    def show(self, summary: CoordSummary) -> None:
        """A new summary from the supervisor's thread (the store changed, or something ended)."""
        self.summary = summary
        self.render_summary()

    def render_summary(self) -> None:
        summary = self.summary
        now = app_of(self).clock()
        named = titles(summary)
        bar = Text()
        bar.append("Coordination", style="bold")
        if summary is None:
            bar.append("  reading the store…", style="dim")
        else:
            opened = sum(1 for barrier in summary.barriers if barrier.state == "open")
            counts = [_plural(len(summary.locks), "lock"), _plural(len(summary.reservations), "reservation"),
                      f"{_plural(opened, 'barrier')} open", _plural(sum(summary.unread.values()), "unread message"),
                      _plural(summary.key_count, "shared key")]
            bar.append("  " + " · ".join(counts))
        bar.append("   Tab: next section · ↑↓ PgUp PgDn: scroll · Esc: back", style="dim")
        self.query_one("#coord-bar", Static).update(bar)
        for section in self.query(CoordSection):
            section.show(named[section.key], Text("reading…", style="dim") if summary is None
                         else self._body(section.key, summary, now))

    @staticmethod
    def _body(key: str, summary: CoordSummary, now: float) -> RenderableType:
        if key == "locks":
            return locks_view(summary, now)
        if key == "reservations":
            return reservations_view(summary, now)
        if key == "barriers":
            return barriers_view(summary, now)
        if key == "messages":
            return messages_view(summary)
        return state_view(summary, now)

    def action_back(self) -> None:
        self.app.pop_screen()
