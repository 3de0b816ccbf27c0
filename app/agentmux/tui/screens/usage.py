"""The API usage view (U on the dashboard): what each agent and each model asked of the Messages API, live.

Three sections that Tab moves between: Agents (requests, errors, tokens by kind, the cost estimate and the budget
spent), Models (the same per model) and Waiting (who waits for a permit of the shared limiter, on which key, for
how long). `1` `2` `3` show today, the last 7 days or everything (UTC days). It shows the `UsageSummary` the
supervisor's thread reads (supervisor/ui.py; api/summary.py reads the ledger's daily rollup) and each `UiUpdate`
brings when it changed; waits count up on the screen's own clock. It never reads the store itself. Other
periods, p95 latency and JSON: `agentmux usage` (README: Rate limits and usage).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer, Static

from agentmux.agents.observer import format_age
from agentmux.api.summary import PERIODS, Totals, UsageSummary, money, tokens
from agentmux.tui.handle import app_of
from agentmux.tui.screens.coord import CoordSection, plain_table
from agentmux.tui.widgets.tile import BUDGET_WARNING

SECTIONS = (  # id, title, what to say when it is empty
    ("agents", "Agents", "no API requests in this period — api agents (kind = \"api\") and claude agents through "
                         "the gateway ([api.gateway]) are recorded"),
    ("models", "Models", "no API requests in this period"),
    ("waiting", "Waiting for the API", "nobody waits now — a request that finds its key's limits reached "
                                       "([api.keys.NAME]) waits here"),
)
TITLES = {key: title for key, title, _ in SECTIONS}
NOTE = ("costs are estimates, priced when each request was recorded ([api.prices], else agentmux's defaults); "
        "days are UTC days; `agentmux usage --since WHEN` for any period, with p95 latency")
TOKEN_COLUMNS = ("REQ", "ERR", "INPUT", "OUTPUT", "CACHE W", "CACHE R", "COST")


def _cells(totals: Totals) -> list[Text | str]:
    return [str(totals.requests), Text(str(totals.errors), style="bold red") if totals.errors else "0",
            tokens(totals.input), tokens(totals.output), tokens(totals.cache_write), tokens(totals.cache_read),
            Text(money(totals.cost), style="bold")]


def _budget(spent: float, budget: float | None) -> Text:
    """`$4.10 of $5 (82%)`, yellow from 80%, red when spent; `-` without a budget."""
    if budget is None:
        return Text("-", style="dim")
    share = spent / budget if budget > 0 else 1.0
    style = "bold white on red" if share >= 1 else "bold yellow" if share >= BUDGET_WARNING else ""
    return Text().append(f"{money(spent)} of {money(budget)} ({share:.0%})", style)  # a span: not the whole cell


def agents_view(summary: UsageSummary, period: int, budgets: Mapping[str, float | None]) -> RenderableType:
    """Per agent, costliest first, then a total row; the budget column is against the cost all told."""
    groups = summary.by("agent", period)
    if not groups:
        return Text(SECTIONS[0][2], style="dim")
    table = plain_table("AGENT", *TOKEN_COLUMNS, "BUDGET (ALL TOLD)*")
    for name, totals in groups:
        table.add_row(Text(name, style="bold"), *_cells(totals), _budget(summary.of(name)[2].cost, budgets.get(name)))
    if len(groups) > 1:
        table.add_row(Text("total", style="bold dim"), *_cells(summary.total(period)), "")
    return table


def models_view(summary: UsageSummary, period: int) -> RenderableType:
    groups = summary.by("model", period)
    if not groups:
        return Text(SECTIONS[1][2], style="dim")
    table = plain_table("MODEL*", *TOKEN_COLUMNS)
    for name, totals in groups:
        table.add_row(Text(name, style="bold"), *_cells(totals))
    return table


def waiting_view(summary: UsageSummary, now: float) -> RenderableType:
    if not summary.waiting:
        return Text(SECTIONS[2][2], style="dim")
    table = plain_table("AGENT", "KEY", "WAITED SO FAR*")
    for waiting in summary.waiting:
        table.add_row(Text(waiting.agent, style="bold"), waiting.key,
                      Text(format_age(now - waiting.since), style="bold yellow"))
    return table


class UsageScreen(Screen[None]):
    """Requests, tokens and cost per agent and per model, and who waits for the API; Escape goes back."""

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("1", "period(0)", "Today"),
        Binding("2", "period(1)", "7 days"),
        Binding("3", "period(2)", "All"),
        Binding("tab", "app.focus_next", "Next section"),
        Binding("shift+tab", "app.focus_previous", "Previous section"),
    ]
    AUTO_FOCUS = "#usage-agents"

    def __init__(self, summary: UsageSummary | None = None, period: int = 0) -> None:
        super().__init__()
        self.summary = summary
        self.period = period
        """The index in PERIODS of what the tables add up."""

    def compose(self) -> ComposeResult:
        yield Static(id="usage-bar")
        with Grid(id="usage-grid"):
            for key, title, _ in SECTIONS:
                yield CoordSection(key, title, view="usage")
        yield Footer()

    def on_mount(self) -> None:
        self.render_summary()
        self.set_interval(1.0, self.render_summary)  # the waits count up between summaries

    def show(self, summary: UsageSummary) -> None:
        """A new summary from the supervisor's thread (the ledger or the waiters changed)."""
        self.summary = summary
        self.render_summary()

    def action_period(self, period: int) -> None:
        self.period = period
        self.render_summary()

    def render_summary(self) -> None:
        summary, period = self.summary, self.period
        bar = Text()
        bar.append("API usage", style="bold")
        if summary is None:
            bar.append("  reading the store…", style="dim")
        else:
            for n, name in enumerate(PERIODS):
                totals = summary.total(n)
                said = f"{name} {money(totals.cost)} · {tokens(totals.tokens)} tokens"
                bar.append("  ")
                bar.append(f"[{n + 1}] {said}", style="bold reverse" if n == period else "")
        bar.append("   1 2 3: period · Tab: next section · Esc: back", style="dim")
        self.query_one("#usage-bar", Static).update(bar)
        now = app_of(self).clock()
        budgets = {spec.name: spec.budget for spec in app_of(self).config.agents}
        for section in self.query(CoordSection):
            body: RenderableType
            if summary is None:
                body = Text("reading…", style="dim")
            elif section.key == "agents":
                body = Group(agents_view(summary, period, budgets), Text(""), Text(NOTE, style="dim"))
            elif section.key == "models":
                body = models_view(summary, period)
            else:
                body = waiting_view(summary, now)
            title = TITLES[section.key]
            if summary is not None and section.key != "waiting":
                title += f" · {PERIODS[period]}"
            elif summary is not None and summary.waiting:
                title += f" · {len(summary.waiting)}"
            section.show(title, body)

    def action_back(self) -> None:
        self.app.pop_screen()
