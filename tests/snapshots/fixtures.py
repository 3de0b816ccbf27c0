"""A deterministic fleet for snapshot tests and README screenshots: fixed time, fixed paths, fixed screens.

Nothing here touches tmux. The app runs with `observe_fleet=False`, and each scene feeds the dashboard the
`UiUpdate`s the capture worker would have posted, then presses keys like a user. The only file written is the
log viewer's database: a real `LogStore` in a temporary folder, filled once per process with `LOG_ENTRIES`.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from agentmux import ansi
from agentmux.agents import answers
from agentmux.agents.observer import AgentStatus
from agentmux.api.summary import Totals, UsageSummary, Waiting, utc_day
from agentmux.config import AgentSpec, Config, Settings
from agentmux.coord.summary import (
    BarrierView,
    CoordSummary,
    KeyView,
    LockHolder,
    LockView,
    LockWaiter,
    MessageView,
    OwnerCoord,
    ReservationView,
)
from agentmux.logs import LogEntry, LogStore
from agentmux.logs.severity import Classifier
from agentmux.queue import Task, TaskState
from agentmux.queue.model import TaskEvent
from agentmux.state import AgentState
from agentmux.supervisor.ui import QueueView, UiUpdate
from agentmux.tui.app import AgentmuxApp
from agentmux.tui.screens import coord as coord_screens
from agentmux.tui.screens import logs as log_screens
from agentmux.tui.screens import tasks as task_screens
from agentmux.tui.screens.answer import Question, question_lines
from agentmux.tui.screens.logs import LogsScreen
from agentmux.tui.screens.tasks import TaskDetails
from agentmux.tui.widgets import logview, panels
from agentmux.tui.widgets.panels import LogPanel
from agentmux.tui.widgets.queue import QueuePanel

FIXED_TIME = 1773481260.0
"""2026-03-14 09:41:00 UTC: "now" for every age shown on screen."""
CONFIG_PATH = Path("/home/user/.config/agentmux/config.toml")
PROJECT = Path("/home/user/project")
SIZE = (160, 48)
"""Terminal size (columns, rows) of every scene."""

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
BLUE = "\x1b[34m"
CYAN = "\x1b[36m"
BULLET = f"{CYAN}●{RESET}"


def _demo_task(task: str, *steps: str, outcome: str = "") -> list[str]:
    lines = [f"{BOLD}demo>{RESET} {task}", *(f"{BULLET} {step}" for step in steps), f"{DIM}  running pytest…{RESET}"]
    return [*lines, outcome] if outcome else lines


SCREENS: dict[str, str] = {
    "architect": "\n".join([
        *_demo_task("refactor the config parser", "Reading src/models.py", 'Searching for "parser"',
                    "Editing src/models.py (+31 −12)", outcome=f"{GREEN}✓ done: refactor the config parser{RESET}"),
        *_demo_task("add tests for the io module", "Reading src/utils/io.py", "Editing src/utils/io.py (+8 −2)",
                    "Editing tests/test_app.py (+24 −0)", outcome=f"{GREEN}✓ done: add tests for the io module{RESET}"),
        *_demo_task("profile the render loop", "Reading src/app.py", 'Searching for "render"',
                    "Editing src/app.py (+12 −7)", outcome=f"{GREEN}✓ done: profile the render loop{RESET}"),
        *_demo_task("bump dependencies", "Reading src/cli.py", "Editing src/cli.py (+3 −3)"),
        f"{YELLOW}⠹{RESET} working… 2.4s",
    ]),
    "backend": "\n".join([
        *_demo_task("fix the flaky login test", "Reading src/app.py", 'Searching for "login"',
                    "Editing src/app.py (+9 −4)", "Editing tests/test_cli.py (+14 −2)",
                    outcome=f"{GREEN}✓ done: fix the flaky login test{RESET}"),
        *_demo_task("ask whether to delete the old migrations", "Reading src/models.py",
                    "Editing src/models.py (+0 −212)"),
        f"{BOLD}? Apply these changes? [y/n]{RESET} ",
    ]),
    "frontend": "\n".join([
        *_demo_task("update the README", "Reading src/cli.py", "Editing src/cli.py (+2 −1)",
                    outcome=f"{GREEN}✓ done: update the README{RESET}"),
        *_demo_task("review pull request 42", "Reading src/utils/io.py", 'Searching for "request"',
                    "Editing src/utils/io.py (+17 −5)", outcome=f"{GREEN}✓ done: review pull request 42{RESET}"),
        f"{BOLD}demo>{RESET} ",
    ]),
    "tests": "\n".join([
        f"{DIM}$ pytest -x -q tests/{RESET}",
        f"{GREEN}........................................{RESET}{RED}F{RESET}",
        f"{RED}{BOLD}_____________________ test_login_expires ______________________{RESET}",
        "",
        "    def test_login_expires(client, clock):",
        "        client.login('ada')",
        "        clock.advance(hours=25)",
        f"{RED}>       assert client.get('/me').status == 401{RESET}",
        f"{RED}E       assert 200 == 401{RESET}",
        "",
        f"{BLUE}tests/test_app.py{RESET}:88: AssertionError",
        f"{RED}{BOLD}FAILED{RESET} tests/test_app.py::test_login_expires - assert 200 == 401",
        f"{RED}1 failed{RESET}, {GREEN}40 passed{RESET} in 3.21s",
    ]),
    "docs": "\n".join([
        *_demo_task("update the README", "Reading docs/index.md", "Editing docs/index.md (+40 −6)",
                    outcome=f"{GREEN}✓ done: update the README{RESET}"),
        f"{BOLD}demo>{RESET} ^C",
        f"{DIM}[agentmux] stopped{RESET}",
    ]),
    "reviewer": "\n".join([
        f"{DIM}$ npm test -- --watch{RESET}",
        "",
        f"{GREEN} PASS {RESET} src/components/Header.test.tsx",
        f"{GREEN} PASS {RESET} src/components/Tile.test.tsx",
        f"{GREEN} PASS {RESET} src/state/fleet.test.ts",
        f"{YELLOW} RUNS {RESET} src/state/queue.test.ts",
        "",
        f"{BOLD}Test Suites:{RESET} 3 passed, 1 running, 4 total",
        f"{BOLD}Tests:{RESET}       {GREEN}57 passed{RESET}, 57 total",
        f"{BOLD}Time:{RESET}        4.8 s",
    ]),
}


def _status(name: str, kind: str, state: AgentState, reason: str, *, quiet: float, up: float,
            live: bool = True, exit_status: int | None = None, index: int = 0, turn: float | None = None,
            screens: dict[str, str] = SCREENS) -> AgentStatus:
    """An agent's status as the observer would give it; `turn`: seconds since its last turn ended (claude)."""
    return AgentStatus(
        name=name, kind=kind, state=state, reason=reason, since=FIXED_TIME - min(quiet, up),
        session=f"agentmux-{name}" if live else None, pane_id=f"%{index}" if live else None,
        pid=4100 + index if live else None, process_alive=live, exit_status=exit_status,
        started_at=FIXED_TIME - up, last_output_at=FIXED_TIME - quiet, in_config=True,
        last_turn_at=None if turn is None else FIXED_TIME - turn, screen=screens[name],
    )


STATUSES: list[AgentStatus] = [
    _status("architect", "demo", AgentState.BUSY, "working", quiet=0, up=1520, index=1),
    _status("backend", "demo", AgentState.WAITING, "asks: Apply these changes? [y/n]", quiet=42, up=1490, index=2),
    _status("frontend", "demo", AgentState.IDLE, "at its prompt", quiet=310, up=1460, index=3),
    _status("tests", "command", AgentState.ERROR, "exited with status 1", quiet=95, up=900, live=False,
            exit_status=1, index=4),
    _status("docs", "demo", AgentState.STOPPED, "stopped (killed by signal 2)", quiet=3700, up=7200, live=False,
            index=5),
    _status("reviewer", "command", AgentState.BUSY, "output changing", quiet=1, up=640, index=6),
]


CLAUDE_RULE = f"{DIM}{'─' * 100}{RESET}"
CLAUDE_INPUT = [CLAUDE_RULE, "❯ ", CLAUDE_RULE]


def _claude_turn(prompt: str, *reply: str) -> list[str]:
    return [f"{DIM}❯{RESET} {prompt}", "", *reply, ""]


CLAUDE_SCREENS: dict[str, str] = {
    "api": "\n".join([
        *_claude_turn("add rate limiting to the /login endpoint",
                      "● I'll look at how requests reach the login handler first.", "",
                      f"● {BOLD}Read{RESET}(src/api/login.py)", "  └  Read 84 lines",
                      f"● {BOLD}Search{RESET}(pattern: \"RateLimiter\", path: \"src\")", "  └  Found 2 files"),
        f"{YELLOW}✶{RESET} Thinking… (38s · ↓ 1.2k tokens)", "",
        *CLAUDE_INPUT, f"  {DIM}esc to interrupt{RESET}",
    ]),
    "docs": "\n".join([
        *_claude_turn("write the upgrade guide for 2.3", "● I'll start from the changelog."),
        f"  {RED}└  API Error: 429 rate_limit_error · the organisation's rate limit was reached{RESET}", "",
        *CLAUDE_INPUT, f"  {DIM}? for shortcuts{RESET}",
    ]),
    "reviewer": "\n".join([
        *_claude_turn("clean the build and run the tests",
                      "● I'll remove the stale build output first.", "",
                      f"● {BOLD}Bash{RESET}(rm -rf build)", f"  └  {DIM}Waiting…{RESET}"),
        CLAUDE_RULE,
        f" {BOLD}Bash command{RESET}", "",
        "   rm -rf build",
        f"   {DIM}Remove the stale build output{RESET}", "",
        " Do you want to proceed?",
        f" {CYAN}❯ 1. Yes{RESET}",
        "   2. Yes, and don't ask again for rm commands in /home/user/project",
        "   3. No", "",
        f" {DIM}Esc to cancel · Tab to amend · ctrl+e to explain{RESET}",
    ]),
    "web": "\n".join([
        *_claude_turn("why does the header flicker on resize?",
                      "● The header re-measures its logo on every resize event; measuring",
                      "  once per frame instead stops the flicker. I changed",
                      f"  {BOLD}src/components/Header.tsx{RESET} (+6 −14) and the tests pass."),
        *CLAUDE_INPUT, f"  {DIM}? for shortcuts{RESET}",
    ]),
}
CLAUDE_STATUSES: list[AgentStatus] = [
    _status("api", "claude", AgentState.BUSY, "working (PreToolUse: Grep)", quiet=1, up=3600, turn=180, index=11,
            screens=CLAUDE_SCREENS),
    _status("docs", "claude", AgentState.ERROR, "turn failed: API Error: 429 rate_limit_error", quiet=75, up=3600,
            turn=75, index=12, screens=CLAUDE_SCREENS),
    _status("reviewer", "claude", AgentState.WAITING, "asks: Bash: rm -rf build", quiet=20, up=3600, turn=240,
            index=13, screens=CLAUDE_SCREENS),
    _status("web", "claude", AgentState.IDLE, "turn ended (Stop)", quiet=12, up=3600, turn=12, index=14,
            screens=CLAUDE_SCREENS),
]


def _task(task_id: int, agent: str, text: str, state: TaskState, *, age: float, priority: int = 0,
          after: tuple[int, ...] = (), when: str = "success", if_output: str | None = None,
          timeout: float | None = None, retries: int = 0, attempts: int = 0, reason: str = "", result: str = "",
          ran: float | None = None) -> Task:
    """A task added `age` seconds before FIXED_TIME; one that ran started `ran` seconds before it."""
    started = None if ran is None else FIXED_TIME - ran
    finished = FIXED_TIME - ran + 40 if ran is not None and state.ended else None
    return Task(
        id=task_id, agent=agent, text=text, priority=priority, state=state, run_when=when, if_output=if_output,
        timeout=timeout, retries=retries, attempts=attempts, reason=reason, result=result,
        created_at=FIXED_TIME - age, updated_at=FIXED_TIME - age, not_before=None, dispatched_at=started,
        sent_at=started, started_at=started, finished_at=finished, output_mark=None,
        dispatched_by="tui pid 4242 on devbox (3fa9c1)" if started else None, after=after)


MIGRATION_OUTPUT = """● Reading src/models.py
● Editing src/models.py (+0 −212)
  running pytest…
........................................
41 passed in 3.02s
✓ done: delete the old migrations"""

ORM_OUTPUT = """● Reading pyproject.toml
● Editing pyproject.toml (+1 −1)
● Reading src/models.py
  running pytest…
E   ImportError: cannot import name 'Query' from 'orm' (.venv/lib/python3.12/site-packages/orm/__init__.py)
✗ error: ImportError: cannot import name 'Query' from 'orm'"""

TASKS: tuple[Task, ...] = (  # the board's order: tasks to come by agent, priority, age; then ended, newest first
    _task(12, "architect", "bump dependencies", TaskState.RUNNING, age=300, attempts=1, ran=40),
    _task(14, "architect", "write the release notes for 2.3", TaskState.QUEUED, age=200, after=(12,)),
    _task(21, "backend", "delete the old migrations and check the test suite still passes", TaskState.RUNNING,
          age=400, attempts=1, ran=90, timeout=900),
    _task(24, "backend", "run the migration tests against postgres 16", TaskState.READY, age=120, priority=5,
          retries=2),
    _task(26, "backend", "update the changelog", TaskState.READY, age=60,
          reason="attempt 1 failed: ✗ error: merge conflict in CHANGELOG.md; retry 1 of 2 in 1s", attempts=1,
          retries=2),
    _task(25, "backend", "deploy to staging", TaskState.QUEUED, age=110, after=(21, 24), if_output="passed"),
    _task(31, "tests", "pytest -x -q tests/", TaskState.READY, age=80),
    _task(27, "backend", "fix the flaky login test", TaskState.SUCCEEDED, age=1500, attempts=1, ran=1400,
          result=MIGRATION_OUTPUT, reason="done"),
    _task(23, "backend", "bump the ORM to 2.0", TaskState.FAILED, age=1700, attempts=2, retries=1, ran=1600,
          reason="✗ error: ImportError: cannot import name 'Query' from 'orm'", result=ORM_OUTPUT),
    _task(22, "backend", "roll the ORM back if the bump failed", TaskState.SKIPPED, age=1690, after=(23,),
          when="failure", reason="the output of task 23 does not match 'rollback'", if_output="rollback"),
    _task(20, "backend", "rename the session table", TaskState.CANCELLED, age=1800, reason="cancelled"),
)
QUEUE = QueueView(tasks=TASKS, paused=frozenset({"tests"}), dispatcher="tui pid 4242 on devbox (3fa9c1)",
                  here=True, depths=dict(Counter(task.agent for task in TASKS if not task.state.ended)))
EVENTS: dict[int, tuple[TaskEvent, ...]] = {
    27: (TaskEvent(27, FIXED_TIME - 1400, "attempt 1 typed into backend by tui pid 4242 on devbox (3fa9c1)"),
         TaskEvent(27, FIXED_TIME - 1360, "succeeded: done")),
    23: (TaskEvent(23, FIXED_TIME - 1650, "attempt 1 typed into backend by tui pid 4242 on devbox (3fa9c1)"),
         TaskEvent(23, FIXED_TIME - 1640, "attempt 1 failed: ✗ error: ImportError: cannot import name 'Query' "
                                          "from 'orm'; retry 1 of 1 in 1s"),
         TaskEvent(23, FIXED_TIME - 1600, "attempt 2 typed into backend by tui pid 4242 on devbox (3fa9c1)"),
         TaskEvent(23, FIXED_TIME - 1560, "failed: ✗ error: ImportError: cannot import name 'Query' from 'orm'")),
}


CLAUDE_QUEUE = QueueView(tasks=(
    _task(41, "reviewer", "clean the build and run the tests", TaskState.RUNNING, age=300, attempts=1, ran=60),
    _task(42, "reviewer", "review pull request 57", TaskState.READY, age=200),
), paused=frozenset(), dispatcher="tui pid 4242 on devbox (3fa9c1)", here=True, depths={"reviewer": 2, "api": 1},
    scope=("reviewer", False))


EARLIER: dict[str, list[str]] = {
    "backend": [
        f"{BOLD}demo>{RESET} update the changelog", f"{BULLET} Reading CHANGELOG.md",
        f"{DIM}DEBUG picked task 26 from the queue (attempt 1 of 3){RESET}",
        f"{RED}✗ error: merge conflict in CHANGELOG.md{RESET}",
        f"{YELLOW}warning:{RESET} the working tree has 2 unmerged paths",
    ],
    "architect": [f"{DIM}DEBUG resolver: 412 packages, 37 changed{RESET}"],
    "reviewer": [f"{YELLOW}npm WARN{RESET} deprecated inflight@1.0.6: this module is not supported",
                 f"{YELLOW}⚠ React Router Future Flag Warning{RESET}: v7_startTransition"],
    "tests": [f"{DIM}DEBUG collected 41 items in 0.21s{RESET}"],
}
"""Lines each agent printed before its screen's: a debug line, warnings, an error."""


CLAUDE_EARLIER: dict[str, list[str]] = {
    "reviewer": [f"{DIM}DEBUG SessionStart: resumed session 5c1e…{RESET}"],
    "docs": [f"{YELLOW}warning:{RESET} docs/upgrade.md is 3 releases behind the changelog"],
}


def _log_entries(statuses: list[AgentStatus], earlier: dict[str, list[str]]) -> tuple[LogEntry, ...]:
    """Every agent's lines as the capture would have logged them: its earlier lines, then its screen's, one
    every few seconds up to its last output, classified by the default severity rules, ids in time order."""
    classify = Classifier()
    timed: list[tuple[float, str, str]] = []
    for status in statuses:
        lines = [*earlier.get(status.name, []), *(line for line in status.screen.split("\n") if ansi.plain(line))]
        last = status.last_output_at or FIXED_TIME
        step = 7.0 + len(status.name)
        timed += [(last - (len(lines) - 1 - n) * step, status.name, line) for n, line in enumerate(lines)]
    timed.sort()
    return tuple(LogEntry(at=at, agent=agent, text=ansi.plain(line), styled=line if "\x1b" in line else None,
                          severity=classify(agent, ansi.plain(line)), id=number)
                 for number, (at, agent, line) in enumerate(timed, start=1))


LOG_ENTRIES = _log_entries(STATUSES, EARLIER)
FEED_ENTRIES = LOG_ENTRIES[:-6]
"""What the live feed's rings hold when the scene starts; the newest six arrive with the scene's look."""
CLAUDE_LOG_ENTRIES = _log_entries(CLAUDE_STATUSES, CLAUDE_EARLIER)
_log_database: list[Path] = []


def _holder(owner: str, token: int, left: float, shared: bool = False) -> LockHolder:
    return LockHolder(owner, "shared" if shared else "exclusive", token, FIXED_TIME + left, left)


def _waiter(owner: str, waited: float, shared: bool = False) -> LockWaiter:
    return LockWaiter(owner, "shared" if shared else "exclusive", FIXED_TIME - waited)


def _reservation(number: int, owner: str, pattern: str, left: float, reason: str, exclusive: bool = True
                 ) -> ReservationView:
    return ReservationView(number, owner, pattern, str(PROJECT), exclusive, reason, FIXED_TIME + left, left)


def _message(number: int, sender: str, to: tuple[str, ...], body: str, ago: float, *, thread: str = "",
             importance: str = "normal", unread: tuple[str, ...] = ()) -> MessageView:
    return MessageView(number, sender, to, thread or str(number), importance, body, FIXED_TIME - ago, unread)


def _key(key: str, version: int, rev: int, by: str, ago: float, value: str) -> KeyView:
    return KeyView(key, version, rev, by, FIXED_TIME - ago, value)


COORD_LOCKS = (
    LockView("build", (_holder("architect", 7, 41),), (_waiter("reviewer", 12), _waiter("frontend", 3, shared=True))),
    LockView("docs-site", (_holder("docs-bot", 3, 1500, shared=True), _holder("ada", 4, 95, shared=True)), ()),
    LockView("migrations", (_holder("backend", 12, 250),), ()),
)
COORD_BARRIERS = (
    BarrierView("nightly", 11, 2, "passed", ("architect", "tests"), "", FIXED_TIME - 900, FIXED_TIME - 420),
    BarrierView("release", 2, 3, "open", ("architect", "frontend"), "", FIXED_TIME - 120, None),
    BarrierView("tests-green", 5, 2, "broken", ("backend",), "tests left: its run ended", FIXED_TIME - 400,
                FIXED_TIME - 130),
)
COORD_MESSAGES = (
    _message(58, "backend", ("architect",), "migrations dropped; the schema is at 0042, please rebase", 20,
             thread="51", importance="high", unread=("architect",)),
    _message(57, "ada", ("backend",), "hold off deploying to staging until the ORM bump is reverted", 75,
             thread="57", importance="urgent", unread=("backend",)),
    _message(56, "reviewer", ("frontend", "backend"), "PR 57: two nits in Header.tsx, otherwise good to merge",
             160, unread=("backend",)),
    _message(52, "architect", ("backend", "frontend", "reviewer", "tests"),
             "release 2.3 branch is cut: only fixes from now on", 600, thread="release", importance="high"),
    _message(51, "architect", ("backend",), "please drop the old migrations before the release", 1300, thread="51"),
    _message(49, "tests", ("architect",), "nightly is green again", 1900, importance="low"),
)
COORD_SUMMARY = CoordSummary(
    at=FIXED_TIME,
    locks=COORD_LOCKS,
    reservations=(
        _reservation(9, "backend", "src/models.py", 540, "drop the old migrations"),
        _reservation(12, "frontend", "src/components/**", 1200, "header flicker"),
        _reservation(13, "reviewer", "src/components/Header.tsx", 150, "review PR 57", exclusive=False),
    ),
    barriers=COORD_BARRIERS,
    messages=COORD_MESSAGES,
    unread={"architect": 1, "backend": 2},
    keys=(
        _key("build/cache", 14, 88, "architect", 30, '{"hits": 412, "misses": 37}'),
        _key("ci/last-green", 6, 85, "tests", 1900, '"a1b2c3d"'),
        _key("release/notes", 3, 80, "frontend", 2400,
             '"## 2.3\\n- faster config parser\\n- the io module has tests\\n- rate limiting on /logi…'),
        _key("release/version", 2, 61, "architect", 5400, '"2.3.0"'),
    ),
    key_count=4,
    owners={
        "architect": OwnerCoord(holds=("build",), barriers=("release",), unread=1),
        "backend": OwnerCoord(holds=("migrations",), unread=2),
        "frontend": OwnerCoord(waits=("build",), barriers=("release",)),
        "reviewer": OwnerCoord(waits=("build",)),
        "docs-bot": OwnerCoord(holds=("docs-site",)),
        "ada": OwnerCoord(holds=("docs-site",)),
    },
)
"""What the coordination view and the tiles' badges show for the fleet: fixed, as read_summary would give it."""


def open_log_store() -> LogStore:
    """A connection to the scenes' log database (made once per process in a temporary folder)."""
    if not _log_database:
        folder = Path(tempfile.mkdtemp(prefix="agentmux-scenes-"))
        atexit.register(shutil.rmtree, folder, True)
        store = LogStore(folder / "logs.db")
        store.append(LOG_ENTRIES)
        store.close()
        _log_database.append(folder / "logs.db")
    return LogStore(_log_database[0])


def feed_of(config: Config) -> Callable[[str | None, int], list[LogEntry]]:
    """What the live feed keeps for the scene's fleet (FEED_ENTRIES, or the claude agents'), one agent's or all."""
    claude = config.names() == [status.name for status in CLAUDE_STATUSES]
    entries = CLAUDE_LOG_ENTRIES if claude else FEED_ENTRIES

    def recent_logs(agent: str | None, count: int) -> list[LogEntry]:
        return [entry for entry in entries if agent is None or entry.agent == agent][-count:]

    return recent_logs


def read_task(task_id: int) -> TaskDetails:
    """What the task view would read from the store, from TASKS and EVENTS."""
    by_id = {task.id: task for task in TASKS}
    task = by_id[task_id]
    return TaskDetails(task, EVENTS.get(task_id, ()), tuple(by_id[dep] for dep in task.after if dep in by_id))


def fleet_config() -> Config:
    """The demo-like fleet's config, as if read from CONFIG_PATH."""
    kinds = {s.name: s.kind for s in STATUSES}
    commands = {"tests": "pytest -x -q tests/", "reviewer": "npm test -- --watch"}
    agents = tuple(AgentSpec(name=name, kind=kind, command=commands.get(name, ""), cwd=PROJECT)
                   for name, kind in kinds.items())
    return Config(path=CONFIG_PATH, settings=_settings(), agents=agents)


def claude_config() -> Config:
    """A fleet of claude agents, as if read from CONFIG_PATH."""
    agents = tuple(AgentSpec(name=s.name, kind="claude", command="claude", cwd=PROJECT) for s in CLAUDE_STATUSES)
    return Config(path=CONFIG_PATH, settings=_settings(), agents=agents)


def usage_config() -> Config:
    """The claude fleet through the gateway, with budgets on two of its agents."""
    budgets = {"api": 5.0, "docs": 2.0}
    agents = tuple(AgentSpec(name=s.name, kind="claude", command="claude", cwd=PROJECT, budget=budgets.get(s.name))
                   for s in CLAUDE_STATUSES)
    return Config(path=CONFIG_PATH, settings=_settings(), agents=agents)


def _usage(requests: int, errors: int, input: int, output: int, cache_write: int, cache_read: int,
           cost: float) -> Totals:
    return Totals(requests, errors, input, output, cache_write, cache_read, cost)


USAGE_SUMMARY = UsageSummary(
    rows=(
        ("api", "claude-haiku-4-5", (_usage(31, 0, 41_200, 6_100, 0, 120_000, 0.084),
                                     _usage(122, 0, 160_300, 22_900, 0, 480_000, 0.323),
                                     _usage(122, 0, 160_300, 22_900, 0, 480_000, 0.323))),
        ("api", "claude-sonnet-4-5", (_usage(58, 1, 210_400, 38_700, 52_000, 1_840_000, 1.939),
                                      _usage(140, 3, 420_000, 81_200, 110_000, 3_500_000, 3.899),
                                      _usage(140, 3, 420_000, 81_200, 110_000, 3_500_000, 3.899))),
        ("docs", "claude-sonnet-4-5", (_usage(12, 4, 30_100, 4_800, 8_000, 90_000, 0.219),
                                       _usage(80, 6, 240_500, 40_100, 60_000, 900_000, 1.814),
                                       _usage(97, 7, 290_000, 47_600, 70_000, 1_010_000, 2.141))),
        ("reviewer", "claude-opus-4-5", (_usage(9, 0, 22_000, 9_400, 4_000, 310_000, 0.545),
                                         _usage(9, 0, 22_000, 9_400, 4_000, 310_000, 0.545),
                                         _usage(9, 0, 22_000, 9_400, 4_000, 310_000, 0.545))),
        ("web", "claude-sonnet-4-5", (_usage(0, 0, 0, 0, 0, 0, 0.0),
                                      _usage(17, 0, 48_000, 7_700, 9_000, 150_000, 0.302),
                                      _usage(17, 0, 48_000, 7_700, 9_000, 150_000, 0.302))),
    ),
    waiting=(Waiting("docs", "default", FIXED_TIME - 14), Waiting("web", "default", FIXED_TIME - 3)),
    day=utc_day(FIXED_TIME),
)
"""What the usage view and the tiles' cost badges show for the claude fleet: fixed, as read_usage would give it."""


def read_question(name: str, asks: str) -> Question:
    """What the picker would read from the agent's pane: its fixed screen, through the real parsers."""
    screen = ansi.plain(CLAUDE_SCREENS[name])
    return Question(name, asks, question_lines(screen), tuple(answers.choices(screen)))


def empty_config() -> Config:
    """A first run: no config file yet, no agents."""
    return Config(path=CONFIG_PATH, settings=_settings())


def _settings() -> Settings:
    return Settings(socket="agentmux", state_dir=Path("/tmp/state"))


def make_app(config: Config) -> AgentmuxApp:
    """The real app, watching nothing, with the clock stopped at FIXED_TIME; its task view reads TASKS."""
    app = AgentmuxApp(config, observe_fleet=False, clock=lambda: FIXED_TIME)
    app.read_task = read_task  # type: ignore[method-assign]
    app.read_question = read_question  # type: ignore[method-assign]
    app.open_log_store = open_log_store  # type: ignore[method-assign]
    app.recent_logs = feed_of(config)  # type: ignore[method-assign]
    return app


class _FrozenTime(SimpleNamespace):
    """Stands in for the `time` module in the log panel: its stamps read FIXED_TIME in UTC."""


FROZEN_TIME = _FrozenTime(time=lambda: FIXED_TIME, localtime=time.gmtime, strftime=time.strftime,
                          perf_counter=lambda: 0.0)


def freeze_log_stamps(setattr_: Callable[[Any, str, Any], Any] = setattr) -> None:
    """Make the log panel's stamps and the task view's times independent of the machine's time zone (they
    read FIXED_TIME in UTC).

    Pass `monkeypatch.setattr` from a test so it is undone afterwards.
    """
    setattr_(panels, "time", FROZEN_TIME)
    setattr_(task_screens, "time", FROZEN_TIME)
    setattr_(logview, "time", FROZEN_TIME)
    setattr_(log_screens, "time", FROZEN_TIME)
    setattr_(coord_screens, "time", FROZEN_TIME)


# --- scenes: what a user does before the picture is taken ------------------------------------------------

Scene = Callable[[Pilot[None]], Awaitable[None]]


async def show_fleet(pilot: Pilot[None]) -> None:
    """The busy fleet: architect selected for broadcast, the waiting backend focused with its log."""
    dashboard = pilot.app.dashboard  # type: ignore[attr-defined]
    later = "backend"  # its output arrives once it is focused, so the log panel shows it
    dashboard.apply(UiUpdate(statuses=STATUSES,
                                 screens={s.name: s.screen for s in STATUSES if s.name != later}, queue=QUEUE))
    await pilot.pause()
    await pilot.press("space", "right")
    await pilot.pause()
    dashboard.apply(UiUpdate(screens={later: SCREENS[later]}, logs=list(LOG_ENTRIES[len(FEED_ENTRIES):])))
    dashboard.query_one(LogPanel).flush()  # the log writes in batches; take the picture after one
    await pilot.pause()
    await pilot.pause()


async def show_log_panel_of_all(pilot: Pilot[None]) -> None:
    """The log panel listing every agent's entries (o): agents by colour, severities by letter and colour."""
    await show_fleet(pilot)
    await pilot.press("o")
    await pilot.pause()
    await pilot.pause()


async def until_viewer_settles(pilot: Pilot[None], searching: str | None = None) -> LogsScreen:
    """Wait (with a deadline) until the log viewer on top has its answers: entries loaded, matches counted
    (of a search for `searching`, when given)."""
    deadline = time.monotonic() + 10
    while True:
        screen = pilot.app.screen
        if isinstance(screen, LogsScreen) and screen.working is None and not screen.counting and (
                searching is None or (screen.search_text == searching and screen.matches is not None)):
            await pilot.pause()
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the log viewer did not settle: {screen!r}")
        await pilot.pause(0.02)


async def show_log_viewer(pilot: Pilot[None]) -> None:
    """L over the fleet with the log panel on every agent: the viewer, searching for "login" (every match
    highlighted and counted), N: the match above the newest one selected."""
    await show_log_panel_of_all(pilot)
    await pilot.press("L")
    await until_viewer_settles(pilot)
    await pilot.press("slash", *"login", "enter")
    await until_viewer_settles(pilot, searching="login")
    await pilot.press("N")
    await until_viewer_settles(pilot)
    _still_cursors(pilot)


async def show_zoom(pilot: Pilot[None]) -> None:
    """architect zoomed, searching for "Editing"."""
    await show_fleet(pilot)
    await pilot.press("left", "enter")
    await pilot.pause()
    await pilot.press("slash", *"Editing", "enter")
    await pilot.pause()
    _still_cursors(pilot)


async def show_add_form(pilot: Pilot[None]) -> None:
    """The add-agent form, opened with + over the fleet (its working directory pinned to PROJECT)."""
    await show_fleet(pilot)
    await pilot.press("plus")
    await pilot.pause()
    pilot.app.screen.query_one("#cwd", Input).value = str(PROJECT)
    _still_cursors(pilot)
    await pilot.pause()


async def show_add_form_error(pilot: Pilot[None]) -> None:
    """The add-agent form after saving a name the config file would refuse."""
    await show_add_form(pilot)
    await pilot.click("#name")  # the form opens with its scrolling body focused, not the Name field
    await pilot.press(*"bad name!", "ctrl+s")
    await pilot.pause()
    _still_cursors(pilot)


async def show_queue(pilot: Pilot[None]) -> None:
    """Tab into the queue panel, list every agent's tasks (O), highlight the failed task."""
    await show_fleet(pilot)
    await pilot.press("tab", "O")
    await pilot.pause()
    panel = pilot.app.screen.query_one(QueuePanel)
    while (task := panel.highlighted_task()) is not None and task.state != TaskState.FAILED:
        await pilot.press("down")
    await pilot.pause()


async def show_task(pilot: Pilot[None]) -> None:
    """The failed task in full (v in the queue panel): its reason, history and output."""
    await show_queue(pilot)
    await pilot.press("v")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def show_add_task(pilot: Pilot[None]) -> None:
    """The add-task form (e on the focused backend), filled in."""
    await show_fleet(pilot)
    await pilot.press("e")
    await pilot.pause()
    await pilot.press(*"run the integration tests")
    form = pilot.app.screen
    form.query_one("#task-priority", Input).value = "3"
    form.query_one("#task-after", Input).value = "24, 25"
    form.query_one("#task-timeout", Input).value = "600"
    _still_cursors(pilot)
    await pilot.pause()


async def show_add_task_error(pilot: Pilot[None]) -> None:
    """The add-task form refusing an expression that does not compile, everything typed still there."""
    await show_add_task(pilot)
    pilot.app.screen.query_one("#task-if-output", Input).value = "passed ("
    await pilot.press("ctrl+s")
    await pilot.pause()
    _still_cursors(pilot)


async def show_help(pilot: Pilot[None]) -> None:
    """Every key, opened with ? over the fleet."""
    await show_fleet(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


async def show_claude(pilot: Pilot[None]) -> None:
    """Claude agents: one waits on a permission (its question on a line of the tile), one idle, one busy,
    one whose turn failed; each with when its last turn ended. The waiting one is focused."""
    dashboard = pilot.app.dashboard  # type: ignore[attr-defined]
    dashboard.apply(UiUpdate(statuses=CLAUDE_STATUSES, queue=CLAUDE_QUEUE))
    await pilot.pause()
    await pilot.press("down")  # from api to reviewer, below it
    await pilot.pause()
    dashboard.apply(UiUpdate(screens={s.name: s.screen for s in CLAUDE_STATUSES}))
    dashboard.query_one(LogPanel).flush()
    await pilot.pause()
    await pilot.pause()


async def show_answer(pilot: Pilot[None]) -> None:
    """The choice picker (A) over the waiting claude agent: its question and the choices read from its screen."""
    await show_claude(pilot)
    await pilot.press("A")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def show_coord_badges(pilot: Pilot[None]) -> None:
    """The busy fleet taking part in coordination: locks held (⚷), waits for a lock or at a barrier (◷), unread
    messages (✉) in the tiles' bottom edges."""
    await show_fleet(pilot)
    pilot.app.dashboard.apply(UiUpdate(coord=COORD_SUMMARY))  # type: ignore[attr-defined]
    await pilot.pause()


async def show_coord(pilot: Pilot[None]) -> None:
    """C over the fleet: locks, reservations, barriers, messages and shared state."""
    await show_coord_badges(pilot)
    await pilot.press("C")
    await pilot.pause()
    await pilot.pause()


async def show_usage_badges(pilot: Pilot[None]) -> None:
    """The claude fleet through the gateway: each tile's cost in its bottom edge (against its budget: api near
    it, docs over it), and `◷ api 14s` on those waiting for a permit of the shared limiter."""
    await show_claude(pilot)
    pilot.app.dashboard.apply(UiUpdate(usage=USAGE_SUMMARY))  # type: ignore[attr-defined]
    await pilot.pause()


async def show_usage(pilot: Pilot[None]) -> None:
    """U over the claude fleet: today's requests, tokens and cost per agent and per model, and who waits."""
    await show_usage_badges(pilot)
    await pilot.press("U")
    await pilot.pause()
    await pilot.pause()


async def show_empty(pilot: Pilot[None]) -> None:
    """First run: the mirror reports no agents at all."""
    pilot.app.dashboard.apply(UiUpdate(statuses=[]))  # type: ignore[attr-defined]
    await pilot.pause()


def _still_cursors(pilot: Pilot[None]) -> None:
    """Stop text cursors blinking, so a picture never catches one half way."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


SCENES: dict[str, tuple[Callable[[], Config], Scene]] = {
    "dashboard": (fleet_config, show_fleet),
    "zoom": (fleet_config, show_zoom),
    "add-agent": (fleet_config, show_add_form),
    "add-agent-error": (fleet_config, show_add_form_error),
    "queue": (fleet_config, show_queue),
    "task": (fleet_config, show_task),
    "add-task": (fleet_config, show_add_task),
    "add-task-error": (fleet_config, show_add_task_error),
    "help": (fleet_config, show_help),
    "log-panel": (fleet_config, show_log_panel_of_all),
    "logs": (fleet_config, show_log_viewer),
    "claude": (claude_config, show_claude),
    "answer": (claude_config, show_answer),
    "first-run": (empty_config, show_empty),
    "coord-badges": (fleet_config, show_coord_badges),
    "coord": (fleet_config, show_coord),
    "usage-badges": (usage_config, show_usage_badges),
    "usage": (usage_config, show_usage),
}
"""Every picture by name: the config the app starts with and what the user does before it is taken."""
