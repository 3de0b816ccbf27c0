"""Benchmark: the real agentmux TUI mirroring a fleet, against a naive mirror, in one run.

Usage: .venv/bin/python bench/tui.py [--seconds 10] [--warmup 3] [--agents 64]

A private tmux server (own TMUX_TMPDIR, own -L socket, -f /dev/null only when the server starts) runs `--agents`
agents (kind "command", started with Fleet(config).start(name), panes 200x50: the Settings defaults). Every agent
runs the same small `python -S` program: silent (blocked in sigwait, no CPU) until it gets SIGUSR1, then it prints
a coloured line with a sequence number and a wall-clock timestamp PRINT_HZ times a second until SIGUSR2.

Each scenario drives, one after the other with the same agents printing:
- agentmux: the real AgentmuxApp headless (`run_test(size=(240, 70))`), observing the fleet with its own mirror
  worker (CAPTURE_INTERVAL 0.1 s). The grid's MIN_TILE_HEIGHT is set to 17 so that 4x4 = 16 tiles are visible
  (checked with grid.visible_names()); the printing agents are chosen among the visible ones.
- naive: a minimal Textual app with the same layout (16 bordered tiles, a 52-column side panel) whose thread worker
  runs one `tmux capture-pane -p -e -t PANE` subprocess per visible pane per tick at 10 Hz and then, for every
  tile, `Static.update(Text.from_ansi(the tile's lines of the screen))` (the whole tile re-parsed and repainted).
Both apps run with the headless driver reporting is_headless False, so each frame is also encoded to terminal
escape sequences as in a real terminal (the driver's write() discards them).

Measured over `--seconds` after `--warmup`:
- CPU as % of one core: this process (os.times user+sys: the UI thread, the mirror/capture worker threads, the
  control client's reader thread, plus waited-for children such as the naive mirror's tmux clients), plus utime+stime
  from /proc of the tmux server and of the app's `tmux -C` control client (a child that is never waited for);
- latency from a line being printed (the timestamp inside it) to the end of the first frame that drew it: the tiles'
  render_line is wrapped to note when a row showing a new line is rendered, and App.post_display_hook stamps those
  rows when the frame is done. `data` p95 is the latency to the tile's data (show_lines / update) instead.
Budgets (agentmux rows only; the naive rows are for comparison): A < 3 %; B < 25 % and p95 < 150 ms; C < 50 %.
Exits 1 when a budget fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _paths  # noqa: E402, F401 - first: sys.path, and the standard library's queue before bench/queue.py

# isort: split

from rich.text import Text  # noqa: E402
from textual import work  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.containers import Grid, Horizontal  # noqa: E402
from textual.drivers.headless_driver import HeadlessDriver  # noqa: E402
from textual.strip import Strip  # noqa: E402
from textual.widgets import Static  # noqa: E402
from textual.worker import get_current_worker  # noqa: E402

from _measure import own_cpu, proc_cpu  # noqa: E402
from agentmux.agents.lifecycle import Fleet  # noqa: E402
from agentmux.ansi import visible_lines  # noqa: E402
from agentmux.config import AgentSpec, Config, Settings  # noqa: E402
from agentmux.supervisor.pipeline import Pipeline  # noqa: E402
from agentmux.tui import app as tui_app  # noqa: E402
from agentmux.tui.screens.dashboard import DashboardScreen  # noqa: E402
from agentmux.tui.widgets import grid as grid_module  # noqa: E402
from agentmux.tui.widgets.tile import AgentTile  # noqa: E402

TAG = "amt"
PRINT_HZ = 20
SIZE = (240, 70)
GRID_ROWS = 4  # with 4 columns (240 wide, 52-column side panel, 38-column tiles): 16 visible tiles
MIN_TILE_HEIGHT = (SIZE[1] - 2) // GRID_ROWS  # 70 rows - top bar - footer
VISIBLE = 16
NAIVE_HZ = 10.0
ANSI_RE = re.compile(r"\x1b\[[0-9;:?]*[ -/]*[@-~]")
LINE_RE = re.compile(rf"\b{TAG} (\d+) (\d+\.\d+)")

# Every agent runs this (python -S FILE PID_DIR). Silent until SIGUSR1; prints PRINT_HZ lines/s until SIGUSR2.
# Signals are blocked and taken with sigwait/sigtimedwait, so none is lost between a check and a wait.
PRINTER = f"""
import os, signal, sys, time
name = os.environ.get("AGENTMUX_AGENT", "?")
sigs = {{signal.SIGUSR1, signal.SIGUSR2}}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
with open(os.path.join(sys.argv[1], name), "w") as f:
    f.write(str(os.getpid()))
write, flush, period = sys.stdout.write, sys.stdout.flush, 1 / {PRINT_HZ}
write(f"\\x1b[2m{{name}} ready, pid {{os.getpid()}}\\x1b[0m\\n")
flush()
on, n, due = False, 0, 0.0
while True:
    if on:
        info = signal.sigtimedwait(sigs, 0)
        sig = info.si_signo if info else 0
    else:
        sig = signal.sigwait(sigs)
        due = time.time()
    if sig:
        on = sig == signal.SIGUSR1
        if not on:
            continue
    n += 1
    now = time.time()
    write(
        f"\\x1b[1;3{{n % 6 + 1}}m{TAG}\\x1b[0m {{n}} {{now:.6f}} \\x1b[32m+\\x1b[0m edit "
        f"\\x1b[4msrc/mod_{{n % 37}}.py\\x1b[0m \\x1b[33m+{{n % 91}}\\x1b[0m/\\x1b[31m-{{n % 13}}\\x1b[0m "
        f"\\x1b[36mtokens {{n * 37 % 9973}}\\x1b[0m \\x1b[2m{{time.strftime('%H:%M:%S')}} {{name}}\\x1b[0m\\n"
    )
    flush()
    due += period
    pause = due - time.time()
    if pause > 0:
        time.sleep(pause)
"""


# --- latency probe ------------------------------------------------------------------------------------------


class Probe:
    """Follows the numbered lines through a tile: into its data, into a rendered row, out in a frame."""

    def __init__(self) -> None:
        self.measuring = False
        self.last: dict[str, int] = {}  # per tile: the newest line number in its data
        self.pending: dict[str, dict[str, float]] = {}  # per tile: raw line -> printed at, not yet rendered
        self.rendered: list[float] = []  # printed-at of lines rendered in the frame being built
        self.latencies: list[float] = []  # print -> frame with the line done
        self.data_latencies: list[float] = []  # print -> line in the tile's data
        self.missed = 0  # lines that left a tile's data before any frame drew them

    def reset(self) -> None:
        for pending in self.pending.values():
            pending.clear()
        self.rendered.clear()
        self.latencies.clear()
        self.data_latencies.clear()
        self.missed = 0

    def saw(self, name: str, lines: list[str]) -> None:
        """The tile's data is now `lines` (raw ANSI); note the lines it did not hold before."""
        last = self.last.get(name)
        newest = last or 0
        now = time.time()
        pending = self.pending.setdefault(name, {})
        for line in reversed(lines):  # new lines are at the bottom: stop at the first one already seen
            match = LINE_RE.search(ANSI_RE.sub("", line))
            if match is None:
                continue
            number = int(match[1])
            if last is not None and number <= last:
                break
            newest = max(newest, number)
            if last is not None and self.measuring:  # the first look at a tile only sets its starting point
                printed = float(match[2])
                pending[line] = printed
                self.data_latencies.append(now - printed)
        self.last[name] = newest
        if pending:
            present = set(lines)
            for line in [line for line in pending if line not in present]:
                del pending[line]
                self.missed += 1

    def drawn(self, name: str, line: str) -> None:
        pending = self.pending.get(name)
        if pending:
            printed = pending.pop(line, None)
            if printed is not None:
                self.rendered.append(printed)

    def displayed(self) -> None:
        if self.rendered:
            now = time.time()
            self.latencies.extend(now - printed for printed in self.rendered)
            self.rendered.clear()


PROBE = Probe()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))] * 1000 if ordered else float("nan")


# --- CPU ----------------------------------------------------------------------------------------------------




@dataclass
class Result:
    mode: str
    cpu: float = 0.0  # % of one core: proc + srv + ctl
    proc: float = 0.0
    server: float = 0.0
    control: float = 0.0
    capture_hz: float = 0.0  # mirror ticks (agentmux) or capture rounds (naive) per second
    ui_hz: float = 0.0  # updates applied by the UI per second
    latencies: list[float] = field(default_factory=list)
    data_latencies: list[float] = field(default_factory=list)
    missed: int = 0


class Window:
    """CPU and counters over a measured window."""

    def __init__(self, server_pid: int, control_pid: int | None, counters: Callable[[], tuple[int, int]]) -> None:
        self.server_pid, self.control_pid, self.counters = server_pid, control_pid, counters

    def _sample(self) -> tuple[float, float, float, float, tuple[int, int]]:
        control = proc_cpu(self.control_pid) if self.control_pid is not None else 0.0
        return time.monotonic(), own_cpu(), proc_cpu(self.server_pid), control, self.counters()

    @contextlib.contextmanager
    def measure(self, result: Result) -> Iterator[None]:
        PROBE.reset()
        PROBE.measuring = True
        wall0, own0, server0, control0, (ticks0, ui0) = self._sample()
        try:
            yield
        finally:
            PROBE.measuring = False
        wall1, own1, server1, control1, (ticks1, ui1) = self._sample()
        share = 100 / (wall1 - wall0)
        result.proc, result.server, result.control = (
            share * (own1 - own0), share * (server1 - server0), share * (control1 - control0))
        result.cpu = result.proc + result.server + result.control
        result.capture_hz, result.ui_hz = (ticks1 - ticks0) * share / 100, (ui1 - ui0) * share / 100
        result.latencies, result.data_latencies = list(PROBE.latencies), list(PROBE.data_latencies)
        result.missed = PROBE.missed


# --- instrumenting the real app -----------------------------------------------------------------------------

COUNTS = {"mirror": 0, "apply": 0, "naive": 0, "naive_apply": 0}


@contextlib.contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = target.__dict__[name] if isinstance(target, type) else getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Wrap the tile, the mirror and the dashboard to count and to follow lines; full display encoding."""
    show_lines, render_line = AgentTile.show_lines, AgentTile.render_line
    tick, apply = Pipeline.tick, DashboardScreen.apply

    def probed_show_lines(self: AgentTile, screen_lines: list[str]) -> None:
        before = self.lines
        show_lines(self, screen_lines)
        if self.lines is not before:
            PROBE.saw(self.agent, self.lines)

    def probed_render_line(self: AgentTile, y: int) -> Strip:
        strip = render_line(self, y)
        index = y - self.BODY_TOP
        if 0 <= index < len(self.lines):
            PROBE.drawn(self.agent, self.lines[index])
        return strip

    def counted_tick(self: Pipeline) -> Any:
        COUNTS["mirror"] += 1
        return tick(self)

    def counted_apply(self: DashboardScreen, update: Any) -> None:
        COUNTS["apply"] += 1
        apply(self, update)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(AgentTile, "show_lines", probed_show_lines))
        stack.enter_context(patched(AgentTile, "render_line", probed_render_line))
        stack.enter_context(patched(Pipeline, "tick", counted_tick))
        stack.enter_context(patched(DashboardScreen, "apply", counted_apply))
        stack.enter_context(patched(grid_module, "MIN_TILE_HEIGHT", MIN_TILE_HEIGHT))
        # Encode every frame as a real terminal would (HeadlessDriver.write still discards it).
        stack.enter_context(patched(HeadlessDriver, "is_headless", property(lambda self: False)))
        yield


class ProbedApp(tui_app.AgentmuxApp):
    def post_display_hook(self) -> None:
        PROBE.displayed()


# --- the naive mirror ---------------------------------------------------------------------------------------


class NaiveTile(Static):
    DEFAULT_CSS = """
    NaiveTile { border: round $panel-lighten-2; height: 1fr; width: 1fr; background: $surface;
                text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, agent: str) -> None:
        super().__init__()
        self.agent = agent
        self.lines: list[str] = []

    def show(self, screen: str) -> None:
        self.lines = visible_lines(screen)[-max(1, self.content_size.height):]
        self.update(Text.from_ansi("\n".join(self.lines), no_wrap=True, overflow="crop"))
        PROBE.saw(self.agent, self.lines)

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if y < len(self.lines):
            PROBE.drawn(self.agent, self.lines[y])
        return strip


class NaiveApp(App[None]):
    """16 Static tiles; one `tmux capture-pane` client per visible pane per tick; whole tiles re-parsed."""

    CSS = """
    #top, #bottom { height: 1; }
    #main { height: 1fr; }
    Grid { grid-size: 4 4; width: 1fr; height: 1fr; }
    #side { width: 52; height: 1fr; border-left: vkey $panel-lighten-2; }
    """

    def __init__(self, tmux: list[str], panes: dict[str, str]) -> None:
        super().__init__()
        self.tmux, self.panes = tmux, panes
        self.tiles: dict[str, NaiveTile] = {}

    def compose(self) -> ComposeResult:
        yield Static("naive mirror", id="top")
        with Horizontal(id="main"):
            with Grid():
                for name in self.panes:
                    self.tiles[name] = NaiveTile(name)
                    yield self.tiles[name]
            yield Static("side panel", id="side")
        yield Static("footer", id="bottom")

    def on_mount(self) -> None:
        self.capture_loop()

    @work(thread=True, exclusive=True)
    def capture_loop(self) -> None:
        worker = get_current_worker()
        period = 1 / NAIVE_HZ
        due = time.monotonic()
        while not worker.is_cancelled:
            screens = {}
            for name, pane in self.panes.items():
                done = subprocess.run([*self.tmux, "capture-pane", "-p", "-e", "-t", pane], capture_output=True)
                if done.returncode == 0:
                    screens[name] = done.stdout.decode("utf-8", errors="replace")
            COUNTS["naive"] += 1
            try:
                self.call_from_thread(self.apply, screens)
            except RuntimeError:  # the app is closing
                return
            due = max(due + period, time.monotonic() - period / 2)
            worker.cancelled_event.wait(max(0.0, due - time.monotonic()))

    def apply(self, screens: dict[str, str]) -> None:
        COUNTS["naive_apply"] += 1
        for name, screen in screens.items():
            self.tiles[name].show(screen)

    def post_display_hook(self) -> None:
        PROBE.displayed()


# --- the fleet ----------------------------------------------------------------------------------------------


@dataclass
class Bench:
    run_dir: Path
    config: Config
    server_pid: int = 0
    pids: dict[str, int] = field(default_factory=dict)  # agent -> its printer's pid
    printing: set[str] = field(default_factory=set)

    @property
    def tmux(self) -> list[str]:
        return ["tmux", "-L", self.config.settings.socket]

    def start(self, count: int) -> None:
        fleet = Fleet(self.config)
        try:
            for spec in self.config.agents[:count]:
                outcome = fleet.start(spec.name)
                if not outcome.ok:
                    raise RuntimeError(outcome.message)
        finally:
            fleet.close()
        found = subprocess.run([*self.tmux, "display-message", "-p", "#{pid}"], capture_output=True, text=True)
        self.server_pid = int(found.stdout.strip())
        deadline = time.monotonic() + 20
        pid_dir = self.run_dir / "pids"
        while len(self.pids) < count:
            for path in pid_dir.iterdir():
                with contextlib.suppress(ValueError):
                    self.pids[path.name] = int(path.read_text())
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.pids)} of {count} agents started their printer")
            time.sleep(0.1)

    def set_printing(self, names: set[str]) -> None:
        for name in self.printing - names:
            os.kill(self.pids[name], signal.SIGUSR2)
        for name in names - self.printing:
            os.kill(self.pids[name], signal.SIGUSR1)
        self.printing = set(names)

    def pane_ids(self) -> dict[str, str]:
        listed = subprocess.run([*self.tmux, "list-panes", "-a", "-F", "#{@agentmux_agent}\t#{pane_id}"],
                                capture_output=True, text=True, check=True)
        return dict(line.split("\t") for line in listed.stdout.splitlines() if line.split("\t")[0])

    def cleanup(self) -> None:
        """Kill this benchmark's tmux server, then any of its processes still alive (the printers survive the
        server's end while they wait for a signal). A pid is killed only if its command line names this run's
        socket or directory, so a recycled pid is never touched."""
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=30)
        time.sleep(0.2)
        with contextlib.suppress(OSError):
            for path in (self.run_dir / "pids").iterdir():
                with contextlib.suppress(ValueError, OSError):
                    self.pids.setdefault(path.name, int(path.read_text()))
        owned = [(self.server_pid, self.config.settings.socket)] if self.server_pid else []
        owned += [(pid, str(self.run_dir)) for pid in self.pids.values()]
        for pid, mark in owned:
            with contextlib.suppress(OSError, IndexError):
                alive = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
                if alive and mark in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)


def make_config(run_dir: Path, count: int) -> Config:
    # A file, not `-c`: tmux's command parser drops the indentation of a multi-line argument.
    program = run_dir / "printer.py"
    program.write_text(PRINTER)
    command = shlex.join([sys.executable, "-S", str(program), str(run_dir / "pids")])
    settings = Settings(socket=f"amt-{os.getpid()}", state_dir=run_dir / "state", tmux_config=Path("/dev/null"))
    agents = tuple(AgentSpec(name=f"a{index:02d}", command=command, cwd=run_dir) for index in range(count))
    return Config(path=run_dir / "agentmux.toml", settings=settings, agents=agents)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the apps ran."""


STOP: list[asyncio.Event] = []  # set by the signal handlers installed in run_all
CAUGHT: list[int] = []  # which signal set it


async def pause(seconds: float) -> None:
    """Sleep, but end the run at once on Ctrl-C or SIGTERM (Textual would swallow the task's cancellation)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(STOP[0].wait(), seconds)
    if STOP[0].is_set():
        raise Interrupted


async def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        await pause(0.05)


# --- scenarios ----------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    title: str
    printers: int  # how many visible agents print
    cpu_budget: float
    p95_budget: float | None = None
    results: list[Result] = field(default_factory=list)


async def run_agentmux(bench: Bench, scenario: Scenario, visible: list[str], args: argparse.Namespace) -> Result:
    result = Result("agentmux")
    app = ProbedApp(bench.config)
    async with app.run_test(size=SIZE):
        try:
            await measure_agentmux(app, bench, scenario, visible, args, result)
        finally:
            # Stop observing before the app closes: a FleetObserved handled after the dashboard lost its children
            # raises NoMatches in DashboardScreen.apply (a shutdown race in the app, reported separately).
            app.workers.cancel_group(app, "mirror")
            app.mirror = None
    return result


async def measure_agentmux(app: ProbedApp, bench: Bench, scenario: Scenario, visible: list[str],
                           args: argparse.Namespace, result: Result) -> None:
    """Wait for the dashboard, set who prints, warm up, then measure one window."""
    def ready() -> bool:
        dashboard = app.dashboard
        if dashboard is None or app.fleet is None or app.fleet.tmux._control is None:
            return False
        grid = dashboard.grid
        return len(grid.tiles) == len(bench.config.agents) and len(grid.visible_names()) == VISIBLE

    await wait_for(ready, 30, "the dashboard with every tile and its control client")
    shown = app.dashboard.grid.visible_names()
    if not visible:
        visible.extend(sorted(shown))
    if set(visible) != shown:
        raise RuntimeError(f"visible tiles changed between runs: {sorted(shown)} != {visible}")
    bench.set_printing(set(visible[: scenario.printers]))
    await pause(args.warmup)
    assert app.fleet is not None
    control = app.fleet.tmux._control
    assert control is not None
    window = Window(bench.server_pid, control.process.pid, lambda: (COUNTS["mirror"], COUNTS["apply"]))
    with window.measure(result):
        await pause(args.seconds)
    if app.fleet.tmux._control is not control:
        raise RuntimeError("the app's tmux control client was replaced while measuring; its CPU went uncounted")


async def run_naive(bench: Bench, visible: list[str], args: argparse.Namespace) -> Result:
    result = Result("naive")
    ids = bench.pane_ids()
    app = NaiveApp(bench.tmux, {name: ids[name] for name in visible})
    async with app.run_test(size=SIZE):
        await wait_for(lambda: COUNTS["naive_apply"] > 0, 30, "the naive mirror's first update")
        await pause(args.warmup)
        window = Window(bench.server_pid, None, lambda: (COUNTS["naive"], COUNTS["naive_apply"]))
        with window.measure(result):
            await pause(args.seconds)
    return result


async def run_all(bench: Bench, scenarios: list[Scenario], args: argparse.Namespace, visible: list[str]) -> None:
    STOP[:] = [asyncio.Event()]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda sig=sig: (CAUGHT.append(sig), STOP[0].set()))
    with instrumented():
        for scenario in scenarios:
            print(f"running {scenario.key}: {scenario.title} ...", flush=True)
            scenario.results.append(await run_agentmux(bench, scenario, visible, args))
            if not args.no_naive:
                scenario.results.append(await run_naive(bench, visible, args))


# --- report -------------------------------------------------------------------------------------------------

HEADS = ("CPU %", "proc %", "srv %", "ctl %", "cap Hz", "UI Hz", "p50 ms", "p95 ms", "max ms", "data p95",
         "lines", "missed")


def row(result: Result) -> str:
    cells = [f"{result.cpu:.1f}", f"{result.proc:.1f}", f"{result.server:.1f}", f"{result.control:.1f}",
             f"{result.capture_hz:.1f}", f"{result.ui_hz:.1f}"]
    if result.latencies:
        cells += [f"{percentile(result.latencies, 0.5):.0f}", f"{percentile(result.latencies, 0.95):.0f}",
                  f"{max(result.latencies) * 1000:.0f}", f"{percentile(result.data_latencies, 0.95):.0f}",
                  str(len(result.latencies)), str(result.missed)]
    else:
        cells += ["-"] * 6
    return f"    {result.mode:<10}" + "".join(f"{cell:>{max(len(head), 6) + 2}}" for cell, head in zip(
        cells, HEADS, strict=True))


def verdicts(scenario: Scenario) -> list[tuple[str, bool]]:
    app = scenario.results[0]
    checks = [(f"{scenario.key}: CPU {app.cpu:.1f}% < {scenario.cpu_budget:g}%", app.cpu < scenario.cpu_budget)]
    if scenario.p95_budget is not None:
        p95 = percentile(app.latencies, 0.95)
        ok = bool(app.latencies) and p95 < scenario.p95_budget
        checks.append((f"{scenario.key}: p95 latency {p95:.0f} ms < {scenario.p95_budget:g} ms", ok))
    return checks


def report(scenarios: list[Scenario], args: argparse.Namespace, agents: int, visible: list[str]) -> bool:
    print(f"\n{agents} agents, panes 200x50, terminal {SIZE[0]}x{SIZE[1]}, {VISIBLE} tiles visible "
          f"({GRID_ROWS}x4, MIN_TILE_HEIGHT={MIN_TILE_HEIGHT}); printers: {PRINT_HZ} coloured lines/s each; "
          f"{args.seconds:g} s measured after {args.warmup:g} s warm-up; load average "
          + ", ".join(f"{value:.2f}" for value in os.getloadavg()))
    print("CPU % of one core = proc (this process, all threads + waited children) + srv (tmux server) + ctl "
          "(control client); cap Hz = observations or capture rounds per second; UI Hz = updates applied; "
          "latency = print -> frame drawn; data p95 = print -> tile data")
    print(f"visible tiles: {' '.join(visible)}; printing: "
          + "; ".join(f"{s.key} {' '.join(visible[: s.printers]) or 'none'}" for s in scenarios))
    print(f"    {'':<10}" + "".join(f"{head:>{max(len(head), 6) + 2}}" for head in HEADS))
    ok = True
    for scenario in scenarios:
        print(f"  {scenario.key}. {scenario.title}")
        for result in scenario.results:
            print(row(result))
    print("\nbudgets (agentmux):")
    for scenario in scenarios:
        for text, passed in verdicts(scenario):
            ok &= passed
            print(f"  {text:<42} {'PASS' if passed else 'FAIL'}")
        if len(scenario.results) == 2:
            app, naive = scenario.results
            print(f"  {scenario.key}: naive baseline costs {naive.cpu:.1f}% "
                  f"({naive.cpu / app.cpu if app.cpu else float('inf'):.1f}x agentmux)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run (default 3)")
    parser.add_argument("--agents", type=int, default=64, help="agents in the fleet (default 64)")
    parser.add_argument("--scenarios", default="A,B,C", help="which scenarios to run (default A,B,C)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baselines (for profiling)")
    args = parser.parse_args()
    if args.agents < VISIBLE:
        parser.error(f"--agents must be at least {VISIBLE}")

    run_dir = Path(tempfile.mkdtemp(prefix="amt-", dir="/tmp"))  # short: tmux socket paths are length-limited
    (run_dir / "pids").mkdir()
    os.environ.update(TMUX_TMPDIR=str(run_dir), SHELL="/bin/sh", XDG_CONFIG_HOME=str(run_dir / "config"),
                      XDG_STATE_HOME=str(run_dir / "xdg-state"))
    for name in ("TMUX", "TMUX_PANE"):
        os.environ.pop(name, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below still cleans up
    bench = Bench(run_dir, make_config(run_dir, args.agents))
    scenarios = [
        Scenario("A", f"{args.agents} agents, none printing", 0, 3.0),
        Scenario("B", f"{args.agents} agents, 8 visible printing", 8, 25.0, 150.0),
        Scenario("C", f"{args.agents} agents, all {VISIBLE} visible printing", VISIBLE, 50.0),
    ]
    visible: list[str] = []  # the visible tiles' agents, in order; printers are taken from the front
    chosen = {part.strip().upper() for part in args.scenarios.split(",")}
    scenarios = [scenario for scenario in scenarios if scenario.key in chosen]
    started = time.monotonic()
    try:
        print(f"private tmux server: TMUX_TMPDIR={run_dir}, -L {bench.config.settings.socket}, -f /dev/null")
        bench.start(args.agents)
        print(f"{args.agents} agents started in {time.monotonic() - started:.1f} s (tmux server pid "
              f"{bench.server_pid})", flush=True)
        asyncio.run(run_all(bench, scenarios, args, visible))
    except Interrupted:
        print("interrupted: cleaning up", flush=True)
        return 128 + (CAUGHT[0] if CAUGHT else signal.SIGINT)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # cleaning up must not be cut short
            signal.signal(sig, signal.SIG_IGN)
        bench.cleanup()
        shutil.rmtree(run_dir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    ok = report(scenarios, args, args.agents, visible)
    print(f"\ntotal {time.monotonic() - started:.0f} s; {'all budgets PASS' if ok else 'some budgets FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
