"""What a user can do to agents and tasks, in one place for every face of agentmux (ARCHITECTURE.md).

The CLI's handlers and the TUI's screens only turn input into these calls and show their outcomes. Every
action on several agents acts on each in turn: one agent's failure is its own outcome (`ok` False) and the
rest still run; an error in the request itself (an unknown name, a text that cannot be typed) is raised
once, before anything is done. No Textual here: actions are plain Python usable from any thread that owns
its Actions (one store connection and one tmux connection each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentmux import config as config_module
from agentmux.agents.lifecycle import Fleet, Outcome
from agentmux.agents.tokens import gateway_url, wait_for_gateway
from agentmux.api.gateway import gateway_enabled, key_variables
from agentmux.config import NAME_RE, AgentSpec, Config
from agentmux.errors import AgentmuxError, UnknownAgent, UsageError
from agentmux.queue import Queue, Task
from agentmux.queue.model import MAX_PRIORITY
from agentmux.supervisor.serve import start_serve, stop_serve
from agentmux.tmux.backend import SERVE_SESSION, ForeignSession, ServerWedged

GATEWAY_WAIT = 10.0
"""Seconds `up` waits for the supervisor's API gateway before it starts the agents."""


class Actions:
    """The user's actions on one fleet (the agents of one config on its socket)."""

    def __init__(self, config: Config, fleet: Fleet | None = None) -> None:
        self.fleet = fleet or Fleet(config)
        self.queue = Queue(self.fleet.store)

    def close(self) -> None:
        self.fleet.close()

    @property
    def config(self) -> Config:
        return self.fleet.config

    # --- agents ------------------------------------------------------------------------------------------

    def each(self, names: Sequence[str], action: Callable[[str], Outcome]) -> list[Outcome]:
        """Apply an action to several agents; one agent's failure is reported and the rest still run."""
        outcomes = []
        for name in names:
            try:
                outcomes.append(action(name))
            except AgentmuxError as exc:
                if isinstance(exc, UsageError | ServerWedged):  # not this agent's problem: said once
                    raise
                message = str(exc)
                outcomes.append(Outcome(name, message if message.startswith(name) else f"{name}: {message}",
                                        ok=False))
        return outcomes

    def known(self, name: str) -> str:
        """The name, if the store or the config knows it; else UnknownAgent (naming the config file)."""
        if not NAME_RE.fullmatch(name) or self.fleet.store.agent(name) is None:  # a name no agent can have
            self.config.agent(name)
        return name

    def running(self) -> list[str]:
        """Agents whose program runs now (one whose turn failed shows error and runs on)."""
        return [status.name for status in self.fleet.status() if status.state.is_live or status.process_alive]

    def start(self, names: Sequence[str]) -> list[Outcome]:
        specs = [self.config.agent(name) for name in names]
        outcomes = self.gateway_first(specs)
        return outcomes + self.each(names, self.fleet.start)

    def gateway_first(self, specs: Sequence[AgentSpec]) -> list[Outcome]:
        """When `[api.gateway]` is enabled and a claude agent is to start while no gateway runs: the supervisor,
        which runs it, first, so the agent starts with the gateway's URL and its own token, never the real key
        (README: The gateway). What was done."""
        state_dir = self.config.settings.state_dir
        if not gateway_enabled(self.config) or not any(spec.kind == "claude" for spec in specs) \
                or gateway_url(state_dir) is not None:
            return []
        outcomes = self.start_serve(key_variables(self.config))
        if not wait_for_gateway(state_dir, GATEWAY_WAIT):
            outcomes.append(Outcome(SERVE_SESSION, f"the API gateway did not start within {GATEWAY_WAIT:g}s (the "
                                    f"supervisor's session says why: tmux -L {self.config.settings.socket} attach "
                                    f"-t {SERVE_SESSION})", ok=False))
        return outcomes

    def up(self, names: Sequence[str], serve: bool = True) -> list[Outcome]:
        """Start the named agents (none: every agent with autostart) and, unless every start failed, the
        headless supervisor, so queued tasks are dispatched with no TUI open."""
        names = list(names) or [spec.name for spec in self.config.agents if spec.autostart]
        started = self.start(names)  # the supervisor first when it must run the API gateway for claude agents
        outcomes = list(started)
        started = [outcome for outcome in started if outcome.agent != SERVE_SESSION]
        if serve and self.config.agents and (not started or any(o.ok for o in started)):
            outcomes += self.start_serve()
        return outcomes

    def start_serve(self, extra_env: Mapping[str, str] | None = None) -> list[Outcome]:
        """The headless supervisor, unless it runs: what was done."""
        try:
            if start_serve(self.fleet, extra_env):
                return [Outcome(SERVE_SESSION, "started the supervisor (dispatches queued tasks; tmux "
                                f"-L {self.config.settings.socket} attach -t {SERVE_SESSION} shows it)")]
        except ForeignSession as exc:
            return [Outcome(SERVE_SESSION, f"the supervisor was not started: {exc}", ok=False)]
        return []

    def stop(self, names: Sequence[str], force: bool = False) -> list[Outcome]:
        known = set(self.config.names()) | {record.name for record in self.fleet.store.agents()}
        for name in names:
            if name not in known:
                raise UnknownAgent(name)
        return self.each(names, lambda name: self.fleet.stop(name, force=force))

    def down(self, names: Sequence[str], force: bool = False) -> list[Outcome]:
        """Stop the named agents, or every running one and the headless supervisor."""
        outcomes = self.stop(list(names) or self.running(), force=force)
        if not names:
            if stop_serve(self.fleet):
                outcomes.append(Outcome("serve", "stopped the supervisor (queued tasks wait for the next "
                                        "`agentmux up`)"))
            outcomes += self.end_leftovers()
        return outcomes

    def end_leftovers(self) -> list[Outcome]:
        """End what outlived its agent's tmux session (a killed server, children that left the group)."""
        def end(name: str) -> Outcome:
            pids = ", ".join(map(str, self.fleet.end_leftovers(name)))
            return Outcome(name, f"{name}: ended processes that outlived its tmux session (pids {pids})")

        return self.each(sorted(self.fleet.leftovers()), end)

    def restart(self, names: Sequence[str]) -> list[Outcome]:
        for name in names:
            self.config.agent(name)
        return self.each(names, self.fleet.restart)

    def remove(self, names: Sequence[str]) -> list[Outcome]:
        return self.each(names, self.fleet.remove)

    def add(self, table: dict[str, Any], start: bool = False) -> list[Outcome]:
        """Add an agent described as its config table, checked exactly as the file will be (errors name the
        key, without the file's `agents[N]`), and start it when asked."""
        spec = self.new_agent(table)
        outcomes = [self.fleet.add(spec)]
        if start:
            outcomes.append(self.fleet.start(spec.name))
        return outcomes

    def new_agent(self, table: dict[str, Any]) -> AgentSpec:
        return config_module.new_agent(self.config, table)

    def send(self, names: Sequence[str], text: str, enter: bool = True) -> list[Outcome]:
        """Type text into agents (and press Enter); none named: every running agent."""
        names = [self.known(name) for name in names] or self.running()
        if not names:
            raise AgentmuxError("no agents are running")
        return self.each(names, lambda name: self.fleet.send(name, text, enter=enter))

    def answer(self, name: str, answer: str) -> Outcome:
        """Answer the question an agent waits on (yes, no, always, a choice's number, or text)."""
        return self.fleet.answer(self.known(name), answer)

    # --- the queue ---------------------------------------------------------------------------------------

    def queue_add(self, agent: str, text: str, **options: Any) -> Task:
        """Queue a task; a text the agent's kind cannot take is refused now, not when it is due."""
        self.fleet.kind(agent).check_task(text)
        return self.queue.add(agent, text, **options)

    def cancel(self, task_id: int) -> Task:
        return self.queue.cancel(task_id)

    def retry(self, task_id: int) -> Task:
        return self.queue.retry(task_id)

    def set_priority(self, task_id: int, priority: int) -> Task:
        return self.queue.set_priority(task_id, priority)

    def shift_priority(self, task_id: int, delta: int) -> Task:
        """One step up or down (the TUI's ] and [)."""
        task = self.queue.get(task_id)
        return self.queue.set_priority(task_id, max(-MAX_PRIORITY, min(MAX_PRIORITY, task.priority + delta)))

    def add_dependency(self, task_id: int, after: int) -> Task:
        return self.queue.add_dependency(task_id, after)

    def pause(self, agent: str) -> None:
        self.queue.pause(self.known(agent))

    def resume(self, agent: str) -> None:
        self.queue.resume(self.known(agent))

    def toggle_pause(self, agent: str) -> bool:
        """Pause a running queue or resume a paused one; True when it is paused now."""
        if self.queue.paused(agent):
            self.resume(agent)
            return False
        self.pause(agent)
        return True
