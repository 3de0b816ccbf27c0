"""A driven agent for log capture tests (tests/logs/driver.py) and reading what was logged."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentmux.logs import LogEntry, LogQuery, LogStore
from tests.conftest import Env, Running, Supervisors

DRIVER = Path(__file__).with_name("driver.py")
MakeDriven = Callable[..., "Driven"]


class Driven:
    """One agent running the driver, its supervisor, and the lines the test made it print."""

    def __init__(self, env: Env, running: Supervisors, name: str = "d", settle: float = 0.3,
                 settings: str = "", agent_extra: str = "", logs: str = "") -> None:
        self.env = env
        self.name = name
        self.commands = env.root / f"{name}.commands"
        self.commands.write_text("")
        env.write_config(f'''
[logs]
settle = {settle}
{logs}

[[agents]]
name = "{name}"
command = "{sys.executable} -u {DRIVER} {self.commands}"
{agent_extra}
''', settings)
        self.run: Running = running()
        fleet = self.run.fleet
        assert fleet.config.logs.settle == settle
        self.printed: list[str] = ["driver ready"]
        self.reader = LogStore(fleet.config.logs_path)

    def send(self, *commands: str) -> None:
        with self.commands.open("a", encoding="utf-8") as handle:
            handle.write("".join(command + "\n" for command in commands))

    def say(self, *lines: str) -> None:
        self.send(*(f"say {line}" for line in lines))
        self.printed += lines

    def entries(self) -> list[LogEntry]:
        return self.reader.search(LogQuery(agents=(self.name,), limit=1_000_000))

    def texts(self) -> list[str]:
        return [entry.text for entry in self.entries()]

    def until_logged(self, count: int | None = None, timeout: float = 20.0) -> list[str]:
        """Tick until the log holds as many lines as were printed (or `count`), then a little longer (to see
        that nothing more comes)."""
        wanted = len(self.printed) if count is None else count
        self.run.until(lambda: len(self.texts()) >= wanted, timeout=timeout,
                       message=f"{wanted} lines logged (have {len(self.texts())}: {self.texts()[-5:]}; "
                               f"problem: {self.run.pipeline.logs.problem})")
        return self.texts()


@pytest.fixture
def driven(env: Env, running: Supervisors) -> Iterator[MakeDriven]:
    def make(**kwargs: object) -> Driven:
        made = Driven(env, running, **kwargs)  # type: ignore[arg-type]
        opened.append(made)
        return made

    opened: list[Driven] = []
    yield make
    for made in opened:
        made.reader.close()
