"""What each screen looks like, compared with the accepted SVGs in __snapshots__/.

After an intended visual change, look at the new pictures and accept them with
`pytest tests/snapshots --snapshot-update`. The scenes live in fixtures.py, shared with
scripts/screenshots.py, so the README's pictures show exactly what these tests check.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.snapshots.fixtures import SCENES, SIZE, freeze_log_stamps, make_app

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _log_stamps_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze_log_stamps(monkeypatch.setattr)


def snap_scene(snap_compare: SnapCompare, name: str) -> bool:
    make_config, scene = SCENES[name]
    return snap_compare(make_app(make_config()), terminal_size=SIZE, run_before=scene)


def test_dashboard_busy_fleet(snap_compare: SnapCompare) -> None:
    """Six agents in every state: one selected for broadcast, the waiting one focused with its log."""
    assert snap_scene(snap_compare, "dashboard")


def test_zoom_with_search(snap_compare: SnapCompare) -> None:
    """One agent full-screen, its search matches highlighted."""
    assert snap_scene(snap_compare, "zoom")


def test_add_agent_form(snap_compare: SnapCompare) -> None:
    assert snap_scene(snap_compare, "add-agent")


def test_add_agent_form_refuses_bad_name(snap_compare: SnapCompare) -> None:
    """Saving a name the config file would refuse keeps the form open and says why."""
    assert snap_scene(snap_compare, "add-agent-error")


def test_queue_panel_listing_every_agent(snap_compare: SnapCompare) -> None:
    """Tab into the queue panel, O for every agent's tasks: states, dependencies, reasons, a paused queue."""
    assert snap_scene(snap_compare, "queue")


def test_task_view(snap_compare: SnapCompare) -> None:
    """A failed task in full: reason, times, history of both attempts, its output."""
    assert snap_scene(snap_compare, "task")


def test_add_task_form(snap_compare: SnapCompare) -> None:
    assert snap_scene(snap_compare, "add-task")


def test_add_task_form_refuses_a_bad_regular_expression(snap_compare: SnapCompare) -> None:
    """The form stays open with everything typed and says what is wrong in one line."""
    assert snap_scene(snap_compare, "add-task-error")


def test_log_panel_of_every_agent(snap_compare: SnapCompare) -> None:
    """o: the log panel lists every agent's entries: time, agent, severity (letter and colour), styled text."""
    assert snap_scene(snap_compare, "log-panel")


def test_log_viewer_with_a_search(snap_compare: SnapCompare) -> None:
    """L: every agent's entries full-screen, a search's matches highlighted and counted, one selected."""
    assert snap_scene(snap_compare, "logs")


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_scene(snap_compare, "help")


def test_claude_agents_with_a_pending_question(snap_compare: SnapCompare) -> None:
    """Claude agents: the waiting one's question on a line of its tile, each one's last turn in its bottom edge."""
    assert snap_scene(snap_compare, "claude")


def test_answer_picker(snap_compare: SnapCompare) -> None:
    """A on the waiting claude agent: the question and the choices read from its screen, the first highlighted."""
    assert snap_scene(snap_compare, "answer")


def test_first_run_without_agents(snap_compare: SnapCompare) -> None:
    """No agents yet: how to start the demo fleet or add one, and where the config file is."""
    assert snap_scene(snap_compare, "first-run")


def test_dashboard_with_coordination_badges(snap_compare: SnapCompare) -> None:
    """Tiles say what their agents do in coordination: ⚷ a lock held, ◷ waiting for a lock or at a barrier, ✉
    unread messages (in the bottom edge)."""
    assert snap_scene(snap_compare, "coord-badges")


def test_coordination_view(snap_compare: SnapCompare) -> None:
    """C: locks with holders, tokens, leases left and who waits; reservations; barriers open and lately ended;
    the newest messages with who has not read them; shared keys."""
    assert snap_scene(snap_compare, "coord")


def test_dashboard_with_usage_badges(snap_compare: SnapCompare) -> None:
    """Tiles say what their agents cost (against a budget: yellow near it, red when spent) and ◷ api while they
    wait for a permit of the shared limiter (in the bottom edge); the top bar says today's cost."""
    assert snap_scene(snap_compare, "usage-badges")


def test_usage_view(snap_compare: SnapCompare) -> None:
    """U: today's requests, errors, tokens by kind and cost per agent (with its budget) and per model; who waits
    for the API and for how long."""
    assert snap_scene(snap_compare, "usage")
