"""Agent kinds: how each sort of agent is started, stopped and read. Pluggable by name."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentmux.agents.detectors import Observation, detect_command, detect_demo
from agentmux.agents.state import Detected

if TYPE_CHECKING:
    from agentmux.config import AgentSpec


COMPOUND_RE = re.compile(r"[;&|()\n`]|^\s*(if|for|while|until|case|exec|\{|!|[A-Za-z_][A-Za-z0-9_]*=)")


@dataclass(frozen=True)
class AgentKind:
    """A sort of agent. `stop_keys` are the keys that ask it to quit gracefully (tmux key names)."""

    name: str
    description: str
    detect: Callable[[Observation], Detected]
    stop_keys: tuple[str, ...] = ("C-c",)
    requires_command: bool = True

    def validate(self, spec: AgentSpec) -> tuple[str, str] | None:
        """A (key, reason) problem with an agent of this kind, or None."""
        if self.requires_command and not spec.command.strip():
            return ("command", f"is required for kind {self.name!r}")
        return None

    def program(self, spec: AgentSpec) -> str:
        """The shell command line that runs the agent's program."""
        return spec.command

    def start_script(self, spec: AgentSpec) -> str:
        """The /bin/sh script the agent's pane runs: init commands in order, then the program.

        Init commands share one shell, so `cd`, `export` and `source` in them carry over to the
        program. A simple program replaces that shell (`exec`), so its exit status and signals are its
        own. A compound command (`a && b`) runs in the shell, which then must not die of the Ctrl-C
        meant for the program: it catches SIGINT with a no-op handler, which programs do not inherit.
        """
        lines = []
        for command in spec.init:
            quoted = shlex.quote(command)
            lines.append(f"printf '\\033[2m[agentmux] init: %s\\033[0m\\n' {quoted}")
            lines.append(
                f"{command}\n_s=$?; if [ $_s -ne 0 ]; then "
                f"printf '[agentmux] init command failed with status %s: %s\\n' $_s {quoted}; exit $_s; fi"
            )
        program = self.program(spec)
        lines.append("trap : INT QUIT")
        lines.append(program if COMPOUND_RE.search(program) else f"exec {program}")
        return "\n".join(lines) + "\n"


def _demo_program(spec: AgentSpec) -> str:
    base = shlex.join([sys.executable, "-m", "agentmux.agents.demo", "--name", spec.name])
    return f"{base} {spec.command}".strip()


class DemoKind(AgentKind):
    """The built-in simulated agent; `command` holds extra demo options such as `--speed 0.5`."""

    def program(self, spec: AgentSpec) -> str:
        return _demo_program(spec)


KINDS: dict[str, AgentKind] = {
    "command": AgentKind("command", "any terminal program, run with /bin/sh", detect_command),
    "demo": DemoKind("demo", "the built-in simulated coding agent", detect_demo, requires_command=False),
}


def kind_names() -> list[str]:
    return list(KINDS)


def get_kind(name: str) -> AgentKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown agent kind {name!r}") from None
