"""The kinds an agent can be, as the config file knows them: each kind's name, what it is, and what its
`[[agents]]` table needs. How an agent of each kind runs is the agents layer's (agents/kinds.py, which
has one runtime kind for each name here; a test checks both agree)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from agentmux import demo
from agentmux.config.model import AgentSpec


def _demo_options(spec: AgentSpec) -> str | None:
    """Options the demo agent would refuse at start, in its own words (split as the shell that runs them
    splits words, comments included)."""
    try:
        options = shlex.split(spec.command, comments=True)
    except ValueError as exc:
        return f"cannot be split into demo options: {exc}"
    problem = demo.check_options(["--name", spec.name, *options])
    return None if problem is None else f"the demo agent refuses these options: {problem}"


@dataclass(frozen=True)
class KindRules:
    """What the config file holds an agent of one kind to."""

    name: str
    description: str
    requires_command: bool = True
    check_command: Callable[[AgentSpec], str | None] | None = None
    """Why the agent's `command` cannot be used (the demo kind's options), or None."""

    def problem(self, spec: AgentSpec) -> tuple[str, str] | None:
        """A (key, reason) problem with an agent of this kind, or None."""
        if self.requires_command and not spec.command.strip():
            return ("command", f"is required for kind {self.name!r}")
        reason = self.check_command(spec) if self.check_command is not None else None
        return ("command", reason) if reason is not None else None


KIND_RULES: dict[str, KindRules] = {
    "command": KindRules("command", "any terminal program, run with /bin/sh"),
    "shell": KindRules("shell", "an interactive shell; a task's exit status decides its success",
                       requires_command=False),
    "demo": KindRules("demo", "the built-in simulated coding agent", requires_command=False,
                      check_command=_demo_options),
    "claude": KindRules("claude", "Claude Code, its state read from its hooks (command: the claude command "
                        "line, default claude)", requires_command=False),
    "codex": KindRules("codex", "OpenAI's Codex CLI, its state read from its screen (command: the codex command "
                       "line, default codex)", requires_command=False),
    "api": KindRules("api", "the Anthropic Messages API asked directly (agentmux api-agent), its conversation kept "
                     "in the store (model required)", requires_command=False),
}
"""Every kind by name, in the order forms list them."""
