"""A claude agent's last turn time, from its hook events as the observer reads them in its look (no query per
agent): the newest Stop or StopFailure of the agent's current run, also when a newer event of another kind
(the question it asks now) is the newest one when the observer starts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.agents.observer import Observer
from agentmux.config import AgentSpec, Config, Settings
from agentmux.redact import Redactor
from agentmux.store import Store
from agentmux.tmux.backend import CaptureRequest, PaneInfo

STARTED = 1_000.0


class NoTmux:
    """A tmux server with no panes (the agent's session is not looked at here)."""

    def list_panes(self) -> list[PaneInfo]:
        return []

    def is_running(self) -> bool:
        return False

    def capture(self, requests: list[CaptureRequest]) -> dict[str, str]:
        return {}


class Watched:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.tmux = NoTmux()

    def redactor(self, name: str, pane: PaneInfo | None) -> Redactor:
        return Redactor({})


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Watched]:
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="t", state_dir=tmp_path),
                    agents=(AgentSpec(name="cc", kind="claude", command="", cwd=tmp_path),))
    store = Store(tmp_path / "t.db")
    store.mark_started("cc", "claude", "cc", "%1", 4242, STARTED)
    yield Watched(config, store)
    store.close()


def hook(store: Store, event: str, at: float, **payload: object) -> None:
    store.db.execute("INSERT INTO hook_events (agent, event, at, payload) VALUES ('cc', ?, ?, ?)",
                     (event, at, json.dumps({"hook_event_name": event, **payload})))


def last_turn(observer: Observer) -> float | None:
    [status] = observer.observe()
    return status.last_turn_at


def test_the_last_turn_is_the_newest_stop_of_this_run(fleet: Watched) -> None:
    store = fleet.store
    hook(store, "Stop", STARTED - 50)  # the run before this one
    assert last_turn(Observer(fleet, continuous=True)) is None  # type: ignore[arg-type]

    hook(store, "UserPromptSubmit", STARTED + 5)
    hook(store, "Stop", STARTED + 10)
    hook(store, "UserPromptSubmit", STARTED + 20)
    hook(store, "PermissionRequest", STARTED + 21, tool_name="Bash", tool_input={"command": "rm -rf build"})
    observer = Observer(fleet, continuous=True)  # type: ignore[arg-type]
    assert last_turn(observer) == STARTED + 10, "found at the first look, though the question is newer"
    assert last_turn(observer) == STARTED + 10

    hook(store, "StopFailure", STARTED + 30, error="rate_limit")
    assert last_turn(observer) == STARTED + 30, "a failed turn ended too"
    assert last_turn(Observer(fleet)) == STARTED + 30  # type: ignore[arg-type]  # a one-shot look (agentmux ls)
