"""Small modal dialogs: confirm, send a prompt, add an agent, help."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from typing import Any

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from agentmux import config as config_module
from agentmux.config import AgentSpec, Config, parse_pairs
from agentmux.config.kinds import KIND_RULES
from agentmux.errors import ConfigError, UsageError


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no before something destructive."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail)
            with Horizontal(classes="buttons"):
                yield Button("No (n)", id="no")
                yield Button("Yes (y)", id="yes", variant="error")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class SendScreen(ModalScreen[str | None]):
    """Type a prompt for one agent or several."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#prompt"

    def __init__(self, targets: list[str]) -> None:
        super().__init__()
        self.targets = targets

    def compose(self) -> ComposeResult:
        who = self.targets[0] if len(self.targets) == 1 else f"{len(self.targets)} agents: {', '.join(self.targets)}"
        with Vertical(classes="dialog"):
            yield Label(f"Send to {who}", classes="dialog-title")
            yield Input(placeholder="prompt, then Enter (Escape cancels)", id="prompt")
            yield Static("The text is typed into the agent exactly as written, then Enter.", classes="field-label")

    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value if event.value.strip() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AddAgentScreen(ModalScreen[AgentSpec | None]):
    """A form for a new agent; validated exactly as the config file is."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    AUTO_FOCUS = "#name"

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.start_now = True

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Label(f"Add an agent to {self.config.path}", classes="dialog-title")
            yield Label("Name", classes="field-label")
            yield Input(placeholder="e.g. backend", id="name")
            yield Label("Kind", classes="field-label")
            yield Select([(f"{k.name} — {k.description}", k.name) for k in KIND_RULES.values()], value="command",
                         allow_blank=False, id="kind")
            yield Label("Command (a /bin/sh command line; for demo: extra options)", classes="field-label")
            yield Input(placeholder="e.g. claude, npm test -- --watch", id="command")
            yield Label("Working directory", classes="field-label")
            yield Input(value=os.getcwd(), id="cwd")
            yield Label("Environment (KEY=VALUE, separated by spaces; quote values with spaces)", classes="field-label")
            yield Input(placeholder="e.g. NODE_ENV=test LOG_LEVEL=debug", id="env")
            yield Checkbox("Start with a plain `agentmux up` (autostart)", value=True, id="autostart")
            yield Checkbox("Start it now", value=True, id="start")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def table(self) -> dict[str, Any]:
        """The form as a config table (only the fields the user filled)."""
        value = {w.id: w.value for w in self.query(Input)}
        table: dict[str, Any] = {"name": value["name"].strip(), "kind": self.query_one("#kind", Select).value}
        if value["command"].strip():
            table["command"] = value["command"].strip()
        table["cwd"] = value["cwd"].strip() or os.getcwd()
        try:
            env = parse_pairs(shlex.split(value["env"]), "variable")
        except ValueError as exc:  # shlex: an unclosed quote
            raise ConfigError(str(self.config.path), f"cannot read it: {exc}", key="env") from None
        except UsageError as exc:
            raise ConfigError(str(self.config.path), str(exc), key="env") from None
        if env:
            table["env"] = env
        if not self.query_one("#autostart", Checkbox).value:
            table["autostart"] = False
        return table

    def action_save(self) -> None:
        error = self.query_one("#form-error", Static)
        try:
            table = self.table()
            if not table["name"]:
                raise ConfigError(str(self.config.path), "is required", key="name")
            if table["name"] in self.config.names():
                raise ConfigError(str(self.config.path), f"an agent named {table['name']!r} exists", key="name")
            spec = config_module.agent_from_table(self.config, table)
        except (ConfigError, ValueError) as exc:
            reason = f"{exc.key}: {exc.reason}" if isinstance(exc, ConfigError) and exc.key else str(exc)
            error.update(f"✗ {reason}")
            return
        self.start_now = self.query_one("#start", Checkbox).value
        self.dismiss(spec)

    @on(Button.Pressed, "#save")
    def save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key binding, by screen."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, sections: Iterable[tuple[str, Iterable[Binding]]]) -> None:
        super().__init__()
        self.sections = [(title, list(bindings)) for title, bindings in sections]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Keys  (Escape closes; ctrl+p lists every action)", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for title, bindings in self.sections:
                    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True)
                    table.add_column("key", style="bold cyan", width=16)
                    table.add_column("action", ratio=1)
                    for binding in bindings:
                        if binding.description:
                            keys = binding.key_display or " / ".join(
                                self.app.get_key_display(Binding(key, "")) for key in binding.key.split(","))
                            table.add_row(keys, binding.description)
                    yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
