"""The dashboard: the live agent grid, the queue and log panels, and every action on agents."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from agentmux.agents.observer import AgentStatus
from agentmux.ansi import visible_lines
from agentmux.api.summary import UsageSummary, money
from agentmux.coord.summary import CoordSummary
from agentmux.state import AgentState
from agentmux.supervisor.ui import QueueView, UiUpdate
from agentmux.tui.handle import app_of
from agentmux.tui.widgets.grid import AgentGrid
from agentmux.tui.widgets.panels import LogPanel, LogTail
from agentmux.tui.widgets.queue import QueuePanel, TaskList
from agentmux.tui.widgets.tile import ATTENTION, AgentTile, TileUsage

EMPTY_TEXT = """[b]No agents yet.[/b]

Press [b reverse] D [/] to start the demo fleet: six simulated coding agents, no API key needed.
Press [b reverse] + [/] to add your own agent (saved to the config file).
Press [b reverse] ? [/] for every key.

Config: {path}"""


def coordination_line(summary: CoordSummary | None) -> str:
    """`3 locks held · 2 waiting · 3 unread`: the top bar's word on coordination (empty when nothing goes on)."""
    if summary is None:
        return ""
    held = sum(len(lock.holders) for lock in summary.locks)
    waiting = sum(len(lock.waiters) for lock in summary.locks) + sum(
        len(barrier.arrived) for barrier in summary.barriers if barrier.state == "open")
    unread = sum(summary.unread.values())
    said = [f"{held} {'lock' if held == 1 else 'locks'} held" if held else "",
            f"{waiting} waiting" if waiting else "", f"{unread} unread" if unread else ""]
    return " · ".join(part for part in said if part)


def usage_line(summary: UsageSummary | None) -> str:
    """`$3.21 today · 2 wait for the API`: the top bar's word on API usage (empty when no agent used the API)."""
    if summary is None or not summary.rows and not summary.waiting:
        return ""
    said = [f"{money(summary.total(0).cost)} today" if summary.rows else "",
            f"{len(summary.waiting)} {'waits' if len(summary.waiting) == 1 else 'wait'} for the API"
            if summary.waiting else ""]
    return " · ".join(part for part in said if part)


class DashboardScreen(Screen[None]):
    """The screen people live in."""

    AUTO_FOCUS = "AgentTile"
    """Never the queue panel's list (Textual's default, the first focusable widget): tiles come first."""

    BINDINGS = [
        Binding("enter", "zoom", "Zoom"),
        Binding("a", "attach", "Attach"),
        Binding("s", "send", "Send"),
        Binding("b", "broadcast", "Broadcast"),
        Binding("y", "answer('y')", "Yes"),
        Binding("n", "answer('n')", "No"),
        Binding("A", "pick_answer", "Answer…"),
        Binding("w", "next_attention", "Next waiting"),
        Binding("e", "add_task", "Queue task"),
        Binding("L", "open_logs", "Logs"),
        Binding("C", "open_coord", "Coordination", show=False),
        Binding("U", "open_usage", "API usage", show=False),
        Binding("tab", "focus_queue", "Queue panel"),
        Binding("plus", "add_agent", "Add", key_display="+"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("space", "select", "Select for broadcast", show=False),
        Binding("escape", "clear_selection", "Clear selection", show=False),
        Binding("u", "start", "Start (up)", show=False),
        Binding("x", "stop", "Stop (down)", show=False),
        Binding("r", "restart", "Restart", show=False),
        Binding("K", "kill", "Kill now", show=False),
        Binding("delete", "remove", "Remove agent", show=False),
        Binding("D", "demo", "Start the demo fleet", show=False),
        Binding("up", "move(0, -1)", "Move up", show=False),
        Binding("down", "move(0, 1)", "Move down", show=False),
        Binding("left", "move(-1, 0)", "Move left", show=False),
        Binding("right", "move(1, 0)", "Move right", show=False),
        Binding("pageup", "page(-1)", "Previous page", show=False),
        Binding("pagedown", "page(1)", "Next page", show=False),
        Binding("l", "toggle_panel('log')", "Show/hide log", show=False),
        Binding("t", "toggle_panel('queue')", "Show/hide queue", show=False),
        Binding("o", "log_all", "Log: focused agent / all", show=False),
        Binding("O", "queue_all", "Queue: focused agent / all", show=False),
        Binding("p", "toggle_pause", "Pause/resume the agent's queue", show=False),
        Binding("less_than_sign", "resize_side(4)", "Wider side panel", show=False, key_display="<"),
        Binding("greater_than_sign", "resize_side(-4)", "Narrower side panel", show=False, key_display=">"),
        Binding("exclamation_mark", "toggle_bell", "Bell on attention", show=False, key_display="!"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, AgentStatus] = {}
        self.screens: dict[str, list[str]] = {}
        self.queue: QueueView | None = None
        self.coord: CoordSummary | None = None
        """The last coordination summary (locks, barriers, messages...): the tiles' badges and the view's start."""
        self.usage: UsageSummary | None = None
        """The last API usage summary: the tiles' cost and wait badges, the top bar's word and the view's start."""
        self._last_agent: str | None = None
        """The agent of the tile focused last: the queue panel's (and the keys') agent while the panel has focus."""
        self._topbar = ""

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with Horizontal(id="main"):
            yield AgentGrid(id="grid")
            yield Static(EMPTY_TEXT.format(path=app_of(self).config.path), id="empty")
            with Vertical(id="side"):
                yield QueuePanel(id="queue", clock=app_of(self).clock)
                yield LogPanel(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.set_interval(1.0, self.tick_ages)
        self.update_topbar()

    # --- data from the mirror ----------------------------------------------------------------------------

    @property
    def grid(self) -> AgentGrid:
        return self.query_one(AgentGrid)

    def apply(self, update: UiUpdate) -> None:
        if update.statuses is not None:
            self.statuses = {s.name: s for s in update.statuses}
            self.sync_tiles(update.statuses)
        grid = self.grid
        for name, screen in update.screens.items():
            lines = visible_lines(screen)
            tile = grid.tile(name)
            if tile is not None and tile.display:
                tile.show_lines(lines)
            self.screens[name] = lines
        if update.logs:
            self.query_one(LogPanel).add_entries(update.logs)
        for name, detected in update.changes:
            if detected.state in ATTENTION:
                app_of(self).attention(name, detected)
        if update.queue is not None:
            self.show_queue(update.queue)
        if update.coord is not None:
            self.show_coord(update.coord)
        if update.usage is not None or update.config is not None and self.usage is not None:
            self.show_usage(update.usage or self.usage)  # a budget may have changed with the config
        self.update_topbar()

    def show_queue(self, view: QueueView) -> None:
        """A new look at the queue: tile depths and the panel (each redraws only what reads differently)."""
        self.queue = view
        for tile in self.grid.tiles:
            tile.show_queue(view.depth(tile.agent), tile.agent in view.paused)
        self.query_one(QueuePanel).show_view(view)

    def show_coord(self, summary: CoordSummary) -> None:
        """A new coordination summary: each tile's badges (redrawn only where they read differently)."""
        self.coord = summary
        for tile in self.grid.tiles:
            tile.show_coord(summary.of(tile.agent))

    def show_usage(self, summary: UsageSummary | None) -> None:
        """A new usage summary: each tile's cost (against its budget) and wait for a permit."""
        if summary is None:
            return
        self.usage = summary
        budgets = {spec.name: spec.budget for spec in app_of(self).config.agents}
        for tile in self.grid.tiles:
            waiting = summary.waits(tile.agent)
            tile.show_usage(TileUsage(cost=summary.of(tile.agent)[2].cost, budget=budgets.get(tile.agent),
                                      waiting_since=None if waiting is None else waiting.since))

    def sync_tiles(self, statuses: list[AgentStatus]) -> None:
        """One tile per agent, in the order of the statuses; each shows its status."""
        grid = self.grid
        names = [s.name for s in statuses]
        if [t.agent for t in grid.tiles] != names:
            focused = self.focused_agent()
            for tile in grid.tiles:
                if tile.agent not in names:
                    tile.remove()
            existing = {t.agent for t in grid.tiles}
            new = [AgentTile(name, clock=app_of(self).clock) for name in names if name not in existing]
            if new:
                grid.mount(*new)
                if self.queue is not None:
                    self.show_queue(self.queue)
                if self.coord is not None:
                    self.show_coord(self.coord)
                self.show_usage(self.usage)
            grid.call_after_refresh(self._order_and_reflow, names, focused)
            app_of(self).settle_memory_soon()
        for status in statuses:
            shown = grid.tile(status.name)
            if shown is not None:
                shown.show_status(status)
                if status.name in self.screens and not shown.lines:
                    shown.show_lines(self.screens[status.name])
        self.query_one("#empty").display = not statuses
        grid.display = bool(statuses)

    def _order_and_reflow(self, names: list[str], focused: str | None) -> None:
        grid = self.grid
        tiles = {t.agent: t for t in grid.tiles}
        ordered = [tiles[n] for n in names if n in tiles]
        for index, tile in enumerate(ordered):
            if index:
                grid.move_child(tile, after=ordered[index - 1])
        grid.reflow()
        target = tiles.get(focused or "") or (ordered[0] if ordered else None)
        if target is not None and not isinstance(self.focused, AgentTile | TaskList | LogTail):
            target.focus()

    def tick_ages(self) -> None:
        for tile in self.grid.tiles:
            if tile.display:
                tile.refresh_header()
        self.query_one(QueuePanel).tick()

    def update_topbar(self) -> None:
        counts: dict[AgentState, int] = {}
        for status in self.statuses.values():
            counts[status.state] = counts.get(status.state, 0) + 1
        bar = Text()
        bar.append("agentmux", style="bold")
        bar.append(f"  socket {app_of(self).config.settings.socket}", style="dim")
        bar.append(f" · {len(self.statuses)} agents")
        for state in (AgentState.BUSY, AgentState.IDLE, AgentState.WAITING, AgentState.ERROR):
            if counts.get(state):
                style = "bold magenta" if state == AgentState.WAITING else "bold red" if state == AgentState.ERROR \
                    else ""
                bar.append(f" · {counts[state]} {state.value}", style=style)
        grid = self.grid
        if grid.pages > 1:
            bar.append(f" · page {grid.page + 1}/{grid.pages} (PgUp/PgDn)")
        selected = [t.agent for t in grid.tiles if t.selected]
        if selected:
            bar.append(f" · {len(selected)} selected", style="bold")
        coord = coordination_line(self.coord)
        if coord:
            bar.append(f" · {coord} (C)", style="dim")
        usage = usage_line(self.usage)
        if usage:
            bar.append(f" · {usage} (U)", style="dim")
        if bar.plain != self._topbar:
            self._topbar = bar.plain
            self.query_one("#topbar", Static).update(bar, layout=False)

    @on(AgentGrid.PageChanged)
    def page_changed(self) -> None:
        app_of(self).set_visible(self.grid.visible_names())
        for tile in self.grid.tiles:
            if tile.display and tile.agent in self.screens:
                tile.show_lines(self.screens[tile.agent])
        self.update_topbar()

    def on_descendant_focus(self) -> None:
        if isinstance(self.focused, AgentTile):
            self._last_agent = self.focused.agent
        agent = self.focused_agent()
        self.query_one(LogPanel).follow(agent)
        self.query_one(QueuePanel).follow(agent)
        app_of(self).set_focused(agent)

    # --- helpers -----------------------------------------------------------------------------------------

    def focused_agent(self) -> str | None:
        """The focused tile's agent; while the queue or log panel has focus, the agent of the tile focused last."""
        if isinstance(self.focused, AgentTile):
            return self.focused.agent
        if isinstance(self.focused, TaskList | LogTail) and self._last_agent is not None \
                and self.grid.tile(self._last_agent) is not None:
            return self._last_agent
        return None

    def targets(self) -> list[str]:
        """The selected agents, else the focused one."""
        selected = [t.agent for t in self.grid.tiles if t.selected]
        if selected:
            return selected
        agent = self.focused_agent()
        return [agent] if agent else []

    def _need_agent(self) -> str | None:
        agent = self.focused_agent()
        if agent is None:
            self.notify("No agent is focused (add one with +, or press D for the demo fleet)", severity="warning")
        return agent

    # --- actions -----------------------------------------------------------------------------------------

    def action_zoom(self) -> None:
        agent = self._need_agent()
        if agent:
            app_of(self).zoom(agent)

    def action_attach(self) -> None:
        agent = self._need_agent()
        if agent:
            app_of(self).attach(agent)

    def action_send(self) -> None:
        agent = self._need_agent()
        if agent:
            app_of(self).ask_and_send([agent])

    def action_broadcast(self) -> None:
        selected = [t.agent for t in self.grid.tiles if t.selected]
        targets = selected or [s.name for s in self.statuses.values() if s.state.is_live]
        if not targets:
            self.notify("No running agents to broadcast to", severity="warning")
            return
        app_of(self).ask_and_send(targets)

    def action_answer(self, answer: str) -> None:
        agent = self._need_agent()
        if agent:
            app_of(self).answer(agent, answer)

    def action_pick_answer(self) -> None:
        agent = self._need_agent()
        if agent:
            app_of(self).pick_answer(agent)

    def action_select(self) -> None:
        if isinstance(self.focused, AgentTile):
            self.focused.set_selected(not self.focused.selected)
            self.update_topbar()

    def action_clear_selection(self) -> None:
        for tile in self.grid.tiles:
            if tile.selected:
                tile.set_selected(False)
        self.update_topbar()

    def action_next_attention(self) -> None:
        tiles = self.grid.tiles
        if not tiles:
            return
        start = tiles.index(self.focused) + 1 if isinstance(self.focused, AgentTile) else 0
        for offset in range(len(tiles)):
            candidate = tiles[(start + offset) % len(tiles)]
            status = self.statuses.get(candidate.agent)
            if status is not None and status.state in ATTENTION:
                self.grid.show_tile(candidate)
                self.focus_tile(candidate)
                return
        self.notify("No agent needs you right now")

    def focus_tile(self, tile: AgentTile) -> None:
        """Focus now, not after the next refresh (Widget.focus waits): the next key of a burst, typed or
        pasted, must act on this tile."""
        self.set_focus(tile)

    def action_move(self, dx: int, dy: int) -> None:
        if not isinstance(self.focused, AgentTile):
            if self.grid.tiles:
                self.focus_tile(self.grid.tiles[0])
            return
        target = self.grid.neighbour(self.focused, dx, dy)
        if target is not None:
            if not target.display:
                self.grid.show_tile(target)
            self.focus_tile(target)

    def action_page(self, delta: int) -> None:
        grid = self.grid
        grid.page = max(0, min(grid.pages - 1, grid.page + delta))
        first = next((t for t in grid.tiles if t.display), None)
        if first is not None:
            self.focus_tile(first)

    def action_add_agent(self) -> None:
        app_of(self).add_agent()

    def action_help(self) -> None:
        app_of(self).action_help()

    def action_demo(self) -> None:
        if self.statuses:
            self.notify("The demo fleet is offered when no agents are configured; "
                        "run `agentmux-tui --demo` to see it next to your fleet", severity="warning")
            return
        app_of(self).start_demo()

    def action_start(self) -> None:
        targets = self.targets()
        if targets:
            app_of(self).lifecycle("start", targets)

    def action_stop(self) -> None:
        self._confirmed("stop", "Stop {}?", "Each gets its quit keys (Ctrl-C), then signals; cleanup commands run.")

    def action_restart(self) -> None:
        self._confirmed("restart", "Restart {}?", "Stopped gracefully, then started again with its init commands.")

    def action_kill(self) -> None:
        self._confirmed("kill", "Kill {} now?", "SIGKILL at once, no graceful stop; cleanup commands run.")

    def action_remove(self) -> None:
        self._confirmed("remove", "Remove {}?", "Stops it, runs cleanup, closes its tmux session and deletes its "
                        "block from the config file.")

    def _confirmed(self, action: str, question: str, detail: str) -> None:
        from agentmux.tui.screens.dialogs import ConfirmScreen

        targets = self.targets()
        if not targets:
            self._need_agent()
            return
        who = targets[0] if len(targets) == 1 else f"{len(targets)} agents ({', '.join(targets)})"

        def done(yes: bool | None) -> None:
            if yes:
                app_of(self).lifecycle(action, targets)

        self.app.push_screen(ConfirmScreen(question.format(who), detail), done)

    def action_toggle_panel(self, which: str) -> None:
        panel = self.query_one(f"#{which}")
        leaving = panel.display and self.focused is not None and panel in self.focused.ancestors
        panel.display = not panel.display
        side = self.query_one("#side")
        side.set_class(not any(child.display for child in side.children), "-hidden")
        if leaving:
            self._focus_grid()

    # --- the queue ---------------------------------------------------------------------------------------

    def action_focus_queue(self) -> None:
        """Into the queue panel (shown if hidden), or back to the tile focused last."""
        listing = self.query_one(TaskList)
        if self.focused is listing:
            self._focus_grid()
            return
        panel = self.query_one(QueuePanel)
        if not panel.display or self.query_one("#side").has_class("-hidden"):
            panel.display = True
            self.query_one("#side").remove_class("-hidden")
        self.set_focus(listing)

    def action_leave_queue(self) -> None:
        self._focus_grid()

    def _focus_grid(self) -> None:
        tiles = self.grid.tiles
        tile = self.grid.tile(self._last_agent) if self._last_agent else None
        tile = tile or (tiles[0] if tiles else None)
        if tile is None:
            self.set_focus(None)
            return
        if not tile.display:
            self.grid.show_tile(tile)
        self.focus_tile(tile)

    def action_queue_all(self) -> None:
        self.query_one(QueuePanel).toggle_all()

    def action_add_task(self) -> None:
        agents = list(self.statuses) or list(app_of(self).config.names())
        app_of(self).add_task(agents, self.focused_agent())

    def action_toggle_pause(self) -> None:
        """Pause or resume the focused agent's queue (in the panel listing all agents: the highlighted
        task's agent)."""
        panel = self.query_one(QueuePanel)
        task = panel.highlighted_task() if self.focused is self.query_one(TaskList) and panel.show_all else None
        agent = task.agent if task is not None else self._need_agent()
        if agent:
            app_of(self).toggle_pause(agent)

    def action_log_all(self) -> None:
        self.query_one(LogPanel).toggle_all()

    def action_open_logs(self) -> None:
        """The log viewer, showing what the log panel shows (the focused agent's entries, or every agent's)."""
        app_of(self).open_logs(self.query_one(LogPanel).scope)

    def action_open_usage(self) -> None:
        """The usage view: each agent's and model's requests, tokens and cost, and who waits for the API."""
        app_of(self).open_usage()

    def action_open_coord(self) -> None:
        """The coordination view: locks, reservations, barriers, messages and shared state, live."""
        app_of(self).open_coord()

    def focus_agent(self, name: str) -> bool:
        """Focus the agent's tile (turning to its page); False when it has none."""
        tile = self.grid.tile(name)
        if tile is None:
            return False
        if not tile.display:
            self.grid.show_tile(tile)
        self.focus_tile(tile)
        return True

    def action_resize_side(self, delta: int) -> None:
        side = self.query_one("#side")
        width = side.styles.width.value if side.styles.width is not None else 52
        side.styles.width = int(max(24, min(120, width + delta)))

    def action_toggle_bell(self) -> None:
        app_of(self).bell_on_attention = not app_of(self).bell_on_attention
        self.notify(f"Bell on attention: {'on' if app_of(self).bell_on_attention else 'off'}")
