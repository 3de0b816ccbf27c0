"""One agent full-screen, with its scrollback from tmux and search."""

from __future__ import annotations

from collections import OrderedDict

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from agentmux import ansi
from agentmux.agents.observer import AgentStatus
from agentmux.ansi import visible_lines
from agentmux.errors import AgentmuxError
from agentmux.state import AgentState
from agentmux.tmux.backend import CaptureRequest
from agentmux.tui.handle import app_of
from agentmux.tui.widgets.tile import state_badge

HISTORY_LINES = 5000
ZOOM_INTERVAL = 0.1


class PaneView(ScrollView, can_focus=True):
    """The pane's history and screen as scrollable lines, with search matches highlighted."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.pattern = ""
        self._strips: OrderedDict[tuple[str, str], Strip] = OrderedDict()

    def set_lines(self, lines: list[str]) -> None:
        at_bottom = self.scroll_offset.y >= self.max_scroll_y - 1
        self.lines = lines
        width = max((Text.from_ansi(line).cell_len for line in lines[-200:]), default=0)
        self.virtual_size = Size(width, len(lines))
        if at_bottom:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def _strip(self, line: str) -> Strip:
        key = (line, self.pattern)
        strip = self._strips.get(key)
        if strip is None:
            text = Text.from_ansi(line)
            if self.pattern:
                text.highlight_words([self.pattern], style="black on yellow", case_sensitive=False)
            strip = Strip(text.render(self.app.console, end=""))
            self._strips[key] = strip
            if len(self._strips) > 4096:
                self._strips.popitem(last=False)
        return strip

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if 0 <= index < len(self.lines):
            x = self.scroll_offset.x
            return self._strip(self.lines[index]).crop_extend(x, x + width, self.rich_style).apply_style(
                self.rich_style)
        return Strip.blank(width, self.rich_style)

    def find(self, pattern: str, forward: bool = True) -> int | None:
        """Scroll to the next line (after the top one) that holds the pattern; its index, or None."""
        self.pattern = pattern
        self.refresh()
        if not pattern:
            return None
        needle = pattern.lower()
        count = len(self.lines)
        top = self.scroll_offset.y
        order = range(top + 1, top + 1 + count) if forward else range(top - 1, top - 1 - count, -1)
        for step in order:
            index = step % count if count else 0
            if needle in ansi.plain(self.lines[index]).lower():
                self.scroll_to(y=index, animate=False)
                return index
        return None


class ZoomScreen(Screen[None]):
    """The zoomed agent; Escape goes back to the grid exactly as it was."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("p", "previous_match", "Previous match", show=False),
        Binding("a", "attach", "Attach"),
        Binding("s", "send", "Send"),
        Binding("A", "pick_answer", "Answer…"),
        Binding("Y", "answer('y')", "Answer yes", show=False),
        Binding("N", "answer('n')", "Answer no", show=False),
        Binding("G,end", "bottom", "Follow", show=False),
        Binding("g,home", "top", "Top", show=False),
    ]

    def __init__(self, agent: str, status: AgentStatus | None) -> None:
        super().__init__()
        self.agent = agent
        self.status = status

    def compose(self) -> ComposeResult:
        yield Static(id="zoombar")
        yield PaneView()
        yield Input(placeholder="search (Enter finds the next line; Escape closes)", id="search")
        yield Footer()

    def on_mount(self) -> None:
        self.show_status(self.status)
        view = self.query_one(PaneView)
        view.focus()
        last = app_of(self).last_screen(self.agent)
        if last is not None:
            view.set_lines(last)  # what the grid saw last, until history arrives
        if app_of(self).fleet is not None:
            self.follow_pane()

    def show_status(self, status: AgentStatus | None) -> None:
        self.status = status
        bar = Text()
        bar.append(f"{self.agent} ", style="bold")
        if status is not None:
            bar.append(f"{status.kind} ", style="dim")
            bar.append_text(state_badge(status.state))
            bar.append(f" {status.reason}", style="dim")
        answer = " · A answer" if status is not None and status.state == AgentState.WAITING else ""
        bar.append(f"   Esc back · / search · a attach · s send{answer}", style="dim")
        self.query_one("#zoombar", Static).update(bar)

    @work(thread=True, exclusive=True, group="zoom", exit_on_error=False)
    def follow_pane(self) -> None:
        """Capture this pane with its history whenever it changes (the zoomed agent gets the fastest rate)."""
        worker = get_current_worker()
        fleet = app_of(self).fleet
        if fleet is None:
            return
        tmux = fleet.tmux
        last_signal: tuple[int, int, int, int, bool] | None = None
        last_text = None
        while not worker.is_cancelled:
            try:
                pane = next((p for p in tmux.list_panes() if p.agent == self.agent), None)
                if pane is not None and (pane.change_signal != last_signal or last_text is None):
                    text = tmux.capture([CaptureRequest(pane.pane_id, start=-HISTORY_LINES)]).get(pane.pane_id)
                    if text is not None:
                        text = fleet.redactor(self.agent, pane)(text)  # its secrets never reach the screen
                        last_signal = pane.change_signal
                        if text != last_text:
                            last_text = text
                            self.app.call_from_thread(self.show_history, visible_lines(text))
            except AgentmuxError:
                pass  # tmux went away for a moment: try again at the next tick
            worker.cancelled_event.wait(ZOOM_INTERVAL)

    def show_history(self, lines: list[str]) -> None:
        self.query_one(PaneView).set_lines(lines)

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_class("-shown"):
            search.remove_class("-shown")
            self.query_one(PaneView).focus()
            return
        self.app.pop_screen()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("-shown")
        search.focus()

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        found = self.query_one(PaneView).find(event.value)
        if event.value and found is None:
            self.notify(f"{event.value!r} is not in {self.agent}'s output", severity="warning")

    def action_next_match(self) -> None:
        view = self.query_one(PaneView)
        view.find(view.pattern, forward=True)

    def action_previous_match(self) -> None:
        view = self.query_one(PaneView)
        view.find(view.pattern, forward=False)

    def action_bottom(self) -> None:
        self.query_one(PaneView).scroll_end(animate=False)

    def action_top(self) -> None:
        self.query_one(PaneView).scroll_home(animate=False)

    def action_attach(self) -> None:
        app_of(self).attach(self.agent)

    def action_send(self) -> None:
        app_of(self).ask_and_send([self.agent])

    def action_answer(self, answer: str) -> None:
        app_of(self).answer(self.agent, answer)

    def action_pick_answer(self) -> None:
        app_of(self).pick_answer(self.agent)
