"""Coordination tests: a private store and state dir (the `env` fixture's), and processes of their own.

Cross-process tests start real Python processes (`Coord.spawn`) that use the primitives through the store, the
way agents in separate tmux sessions do; `Coord.cli` runs the real `agentmux` command.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentmux.store import Store
from tests.conftest import Env


@dataclass
class Coord:
    env: Env
    store: Store
    children: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.env.state_dir

    @property
    def store_path(self) -> Path:
        return self.store.path

    def cli(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.env.cli(*args, input=input, timeout=timeout)

    def spawn(self, code: str, *args: str) -> subprocess.Popen[str]:
        """A Python process running `code` (dedented) with `sys.argv[1:] == args`; STORE and STATE are the store's
        path and the state dir, as globals. Its output is piped; it is killed at the test's end if still running."""
        prelude = (f"import sys\nfrom pathlib import Path\nSTORE = Path({str(self.store.path)!r})\n"
                   f"STATE = Path({str(self.state_dir)!r})\n")
        child = subprocess.Popen([sys.executable, "-c", prelude + textwrap.dedent(code), *args], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env.environ,
                                 cwd=self.env.root)
        self.children.append(child)
        return child


@pytest.fixture
def coord(env: Env) -> Iterator[Coord]:
    env.write_config()
    env.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(env.state_dir / f"{env.socket}.db")
    world = Coord(env, store)
    yield world
    for child in world.children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)
    store.close()
