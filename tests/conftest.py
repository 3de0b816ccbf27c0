"""Shared fixtures: every test gets a private agentmux (HOME, XDG dirs, TMUX_TMPDIR, socket) of its own.

Nothing here touches the user's default tmux server or config: tmux is only ever called with the
test's own socket under the test's own TMUX_TMPDIR, and only that server is killed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentmux.queue import Queue, Task
from agentmux.supervisor.look import Look
from agentmux.supervisor.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> object:
    """Poll until predicate() is truthy (returning its value) or fail after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {value!r})")
        time.sleep(interval)


def assert_one_line(text: str) -> None:
    """A message (of a refused command, on stderr) is there and is one line."""
    assert text.strip(), "expected a message on stderr"
    assert "\n" not in text.strip(), f"expected one line, got:\n{text}"


@dataclass
class Env:
    """A private agentmux world for one test."""

    root: Path
    socket: str
    environ: dict[str, str]

    @property
    def config_path(self) -> Path:
        return self.root / "agentmux.toml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def write_config(self, agents: str = "", settings: str = "") -> Path:
        """Write agentmux.toml with this test's socket and state dir plus the given TOML text."""
        text = (f'[agentmux]\nsocket = "{self.socket}"\nstate_dir = "{self.state_dir}"\n'
                f'tmux_config = "/dev/null"\nwidth = 100\nheight = 30\n{settings}\n{agents}')
        self.config_path.write_text(text)
        return self.config_path

    def cli(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real `agentmux` command in a subprocess with this test's environment."""
        return subprocess.run(
            [sys.executable, "-m", "agentmux", "--config", str(self.config_path), *args],
            capture_output=True, text=True, env=self.environ, cwd=self.root, timeout=timeout, input=input,
        )

    def statuses(self) -> dict[str, dict[str, object]]:
        """Every agent's row of `agentmux ls --json`, by name."""
        result = self.cli("ls", "--json")
        assert result.returncode == 0, result.stderr
        return {row["name"]: row for row in json.loads(result.stdout)}

    def status(self, name: str) -> dict[str, object]:
        """The agent's row of `agentmux ls --json`."""
        return self.statuses()[name]

    def broken_agent_with_a_task(self, text: str = "do it") -> None:
        """The config's one agent `broken` (its program exits 1) started, seen in error, and a task queued for it."""
        self.write_config('[[agents]]\nname = "broken"\ncommand = "exit 1"\n')
        assert self.cli("up", "--no-serve").returncode == 0
        wait_until(lambda: self.status("broken")["state"] == "error", message="broken ends")
        assert self.cli("queue", "add", "broken", text).returncode == 0

    def assert_no_tmux_server(self) -> None:
        """No command of the test started a tmux server on its socket."""
        socket = Path(self.environ["TMUX_TMPDIR"]) / f"tmux-{os.getuid()}" / self.socket
        assert not socket.exists(), f"a tmux server was started on the test's socket {socket}"
        assert self.tmux("list-sessions").returncode != 0

    def screen(self, name: str) -> str:
        """What agent `name`'s pane shows now."""
        return self.tmux("capture-pane", "-p", "-t", f"={name}:").stdout

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, env=self.environ, timeout=30)

    def load(self):  # type: ignore[no-untyped-def]
        from agentmux import config

        return config.load(self.config_path)

    def fleet(self):  # type: ignore[no-untyped-def]
        from agentmux.agents.lifecycle import Fleet

        return Fleet(self.load())


def tmux_processes(socket: str) -> dict[int, str]:
    """Every process whose command line names the socket (`tmux -L SOCKET ...`): the server and the clients
    of that socket, by pid, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = [arg.decode(errors="replace") for arg in (entry / "cmdline").read_bytes().split(b"\0") if arg]
        except OSError:
            continue  # gone meanwhile
        if f"-L{socket}" in args or any(a == "-L" and b == socket for a, b in zip(args, args[1:], strict=False)):
            found[int(entry.name)] = " ".join(args)
    return found


def end_tmux_processes(socket: str, timeout: float = 10.0) -> dict[int, str]:
    """After `kill-server`: wait for every tmux process of the test's socket to end; those still there at the
    deadline are SIGKILLed (they are the test's own) and returned, by pid, with their command lines."""
    deadline = time.monotonic() + timeout
    while (left := tmux_processes(socket)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not tmux_processes(socket), timeout=10, message=f"the tmux processes of {socket} to die")
    return left


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    root = tmp_path / "world"
    home = root / "home"
    tmux_tmpdir = Path("/tmp") / f"am-{uuid.uuid4().hex[:10]}"  # short: socket paths are limited to ~100 bytes
    for directory in (home, tmux_tmpdir):
        directory.mkdir(parents=True)
    values = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_STATE_HOME": str(root / "xdg-state"),
        "TMUX_TMPDIR": str(tmux_tmpdir),
        "SHELL": "/bin/sh",
        "PYTHONPATH": str(ROOT / "app"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in ("TMUX", "TMUX_PANE", "AGENTMUX_DEBUG", "AGENTMUX_AGENT", "AGENTMUX_CONFIG", "AGENTMUX_HOME",
                "AGENTMUX_STORE", "AGENTMUX_SOCKET", "AGENTMUX_SECRET_NAMES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    world = Env(root=root, socket=f"t{uuid.uuid4().hex[:8]}", environ=dict(os.environ))
    yield world
    subprocess.run(["tmux", "-L", world.socket, "-f", "/dev/null", "kill-server"], capture_output=True,
                   env=world.environ, timeout=30)
    left = end_tmux_processes(world.socket)
    subprocess.run(["rm", "-rf", str(tmux_tmpdir)], check=False)
    if left:
        pytest.fail(f"tmux processes of the test's socket {world.socket} outlived `kill-server` (ended now with "
                    "SIGKILL): " + "; ".join(f"pid {pid}: {args}" for pid, args in sorted(left.items())))


class Running:
    """The supervisor loop as `agentmux serve` runs it (it dispatches while it holds the lease), ticked in
    this test's thread between checks: no background threads to race."""

    def __init__(self, env: Env, start: bool = True) -> None:
        self.fleet = env.fleet()
        if start:
            for spec in self.fleet.config.agents:
                self.fleet.start(spec.name)
        self.pipeline = Pipeline(self.fleet, role="serve", dispatch=True, capture_all=True)
        self.queue = Queue(self.fleet.store)

    def tick(self) -> Look:
        look = self.pipeline.tick()
        assert look is not None
        return look

    def until(self, predicate: Callable[[], object], timeout: float = 20.0, message: str = "condition") -> object:
        def step() -> object:
            self.tick()
            return predicate()

        return wait_until(step, timeout=timeout, interval=0.05, message=message)

    def task(self, task_id: int) -> Task:
        return self.queue.get(task_id)

    def ended(self, *tasks: Task) -> bool:
        return all(self.task(t.id).state.ended for t in tasks)

    def close(self) -> None:
        self.pipeline.close()
        self.fleet.close()


class Supervisors:
    """Makes supervisors of the test's config (`running()`; `running(start=False)` for agents the test
    started itself, `running.one()` for one shared by every example of a hypothesis test); all are closed
    after the test."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.made: list[Running] = []

    def __call__(self, start: bool = True) -> Running:
        self.made.append(Running(self.env, start))
        return self.made[-1]

    def one(self) -> Running:
        return self.made[0] if self.made else self()

    def close(self) -> None:
        for run in self.made:
            run.close()


@pytest.fixture
def running(env: Env) -> Iterator[Supervisors]:
    """A supervisor of the config as written, ticked by the test; closed after."""
    supervisors = Supervisors(env)
    yield supervisors
    supervisors.close()


DEMO_AGENT = """
[[agents]]
name = "{name}"
kind = "demo"
command = "--speed {speed} --ask-rate 0 --fail-rate 0 --seed 1 --trace {trace}"
"""


@dataclass
class DemoFleet:
    """Demo agents in the test's config, each writing a trace of what it read (see agentmux/demo.py)."""

    traces: dict[str, Path]

    def inputs(self, name: str) -> list[tuple[float, str]]:
        """(time, line) of every line the demo agent `name` read."""
        trace = self.traces[name]
        if not trace.exists():
            return []
        rows = []
        for line in trace.read_text().splitlines():
            at, event, *text = line.split(" ", 2)
            if event == "input":
                rows.append((float(at), text[0] if text else ""))
        return rows

    def typed(self, name: str) -> list[str]:
        """Every line the demo agent `name` read, in order."""
        return [text for _, text in self.inputs(name)]


DemoFleets = Callable[..., DemoFleet]


@pytest.fixture
def demo_fleet(env: Env) -> DemoFleets:
    """`demo_fleet(["a", "b"], speed=0.0, extra="")` writes a config of demo agents (never asking, never
    failing; `extra` is appended TOML) and gives their traces. The env's teardown ends their tmux server."""

    def make(names: list[str], speed: float = 0.0, extra: str = "") -> DemoFleet:
        traces = {name: env.root / f"{name}.trace" for name in names}
        env.write_config("".join(DEMO_AGENT.format(name=n, speed=speed, trace=traces[n]) for n in names) + extra)
        return DemoFleet(traces)

    return make
