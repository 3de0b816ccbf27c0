"""The fleet: add, start, stop, restart, kill and remove agents; send them text. No Textual.

tmux owns the processes; this module owns what happens around them (init and cleanup commands,
graceful stops, the store's record of every start and stop).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from agentmux import config as config_module
from agentmux.agents import answers, prompts
from agentmux.agents.delivery import check_line_lengths, check_typable
from agentmux.agents.kinds import AgentKind, kind_of
from agentmux.agents.observer import AgentStatus, Observer
from agentmux.agents.secrets import resolve_secrets
from agentmux.agents.tokens import GATEWAY_REPLACES, claude_gateway_env
from agentmux.config import AgentSpec, Config
from agentmux.config.model import MAX_ARG
from agentmux.errors import AgentmuxError, UnknownAgent
from agentmux.processes import agent_processes, end_processes, fleet_processes, group_alive
from agentmux.redact import NO_SECRETS, Redactor
from agentmux.state import AgentState
from agentmux.store import Store
from agentmux.tmux.backend import (
    AGENT_OPTION,
    HIDDEN_OPTION,
    HIDDEN_SESSION,
    SERVE_OPTION,
    SERVE_SESSION,
    CaptureRequest,
    PaneInfo,
    TmuxServer,
)

CLEANUP_TIMEOUT = 60.0


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll until `predicate()` is true or the deadline passes; True when it became true.

    Not faster than 5 Hz: tmux 3.3 delays reaping a pane's exited process while clients connect
    back to back, so rapid polling would itself keep the exit status unknown.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def run_bounded(command: str, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run a /bin/sh command line with a time limit; past it, the command and every process it started in
    its own session are killed. (Exit status or None when it timed out, its output.)"""
    process = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output.decode("utf-8", "replace").strip()
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            output, _ = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a process that left the session still holds the pipe
            process.kill()
            process.wait()
            output = b""
        return None, output.decode("utf-8", "replace").strip()


@dataclass(frozen=True)
class Outcome:
    """What a lifecycle operation did, in one line for the user; `ok` False means exit code 1."""

    agent: str
    message: str
    ok: bool = True


def command_shim(state_dir: Path) -> Path | None:
    """STATE_DIR/bin, holding an `agentmux` that runs this agentmux (this Python, this package): agents call it
    for coordination (README: Coordination) even when agentmux is installed in a venv their PATH does not
    name. None when it cannot be written."""
    folder = state_dir / "bin"
    script = folder / "agentmux"
    package = Path(__file__).resolve().parent.parent.parent
    text = (f"#!/bin/sh\n# written by agentmux: this agentmux, for the agents' shells\n"
            f"PYTHONPATH={shlex.quote(str(package))}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"exec {shlex.quote(sys.executable)} -m agentmux \"$@\"\n")
    try:
        if not script.is_file() or script.read_text() != text:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = folder / f".agentmux.{os.getpid()}"
            partial.write_text(text)
            partial.chmod(0o755)
            partial.replace(script)
    except OSError:
        return None
    return folder


class Fleet:
    """The agents of one config on its tmux socket, with the store as their shared memory."""

    def __init__(self, config: Config, store: Store | None = None, tmux: TmuxServer | None = None) -> None:
        self.config = config
        settings = config.settings
        self.store = store or Store(config.store_path)
        self.tmux = tmux or TmuxServer(settings.socket, settings.tmux_config, run_dir=settings.state_dir / "run",
                                       pass_env=settings.pass_env)
        self._follower = config_module.ConfigFollower(config)
        self._redactors: dict[str, tuple[str, Redactor]] = {}

    def close(self) -> None:
        self.tmux.close()
        self.store.close()

    def follow_config(self, now: float) -> config_module.ConfigChange | None:
        """For a long-running process: use the config file as it is on disk now, when it changed."""
        change = self._follower.check(now)
        if change is not None and change.config is not None:
            self.config = change.config
        return change

    # --- reading -----------------------------------------------------------------------------------------

    def status(self) -> list[AgentStatus]:
        """Every agent (configured, running or remembered) with a fresh state."""
        return Observer(self).observe()

    def kind(self, name: str) -> AgentKind:
        """How the agent runs: its kind as it was started (the store), else as configured; an agent neither
        knows is refused (UnknownAgent, naming the config file)."""
        record = self.store.agent(name)
        return kind_of(record.kind if record is not None else self.config.agent(name).kind)

    def pane(self, name: str) -> PaneInfo | None:
        for pane in self.tmux.list_panes():
            if pane.agent == name:
                return pane
        return None

    def redactor(self, name: str, pane: PaneInfo | None) -> Redactor:
        """Masks the agent's own secret values, as its session holds them: read from tmux once per pane, so
        any process can mask what the agent printed without resolving references itself. Without a pane
        (gone), the last one read for the agent."""
        known = self._redactors.get(name)
        if pane is None:
            return known[1] if known is not None else NO_SECRETS
        if known is not None and known[0] == pane.pane_id:
            return known[1]
        redactor = Redactor(self.tmux.session_secrets(pane)) if pane.secret_names else NO_SECRETS
        self._redactors[name] = (pane.pane_id, redactor)
        return redactor

    def agent_env(self, spec: AgentSpec, *, session: bool = True) -> dict[str, str]:
        """The agent's session environment: its env, its secrets, and where agentmux is. For a session
        (`session`), a claude agent is refused while `[api.gateway]` is enabled and no gateway runs."""
        env = dict(spec.env)
        secrets = dict(spec.secrets)
        gateway = claude_gateway_env(self.config.settings.state_dir, spec.name) if spec.kind == "claude" else None
        if session and gateway is None and spec.kind == "claude" and self.config.api.gateway.enabled:
            raise AgentmuxError(f"{spec.name}: [api.gateway] is enabled but no gateway runs, and the agent would get "
                                "the real API key: `agentmux up` starts the supervisor, which runs it (or set "
                                "enabled = false)")
        if gateway is not None:  # the gateway holds the real key: the agent has only its own token
            for name in GATEWAY_REPLACES:
                env.pop(name, None)
                secrets.pop(name, None)
        env.update(resolve_secrets(spec.name, secrets))
        if gateway is not None:
            env.update(gateway)
        env.update(
            AGENTMUX_AGENT=spec.name,
            AGENTMUX_HOME=str(self.config.settings.state_dir),
            AGENTMUX_SOCKET=self.config.settings.socket,
            AGENTMUX_CONFIG=str(self.config.path),
            AGENTMUX_STORE=str(self.config.store_path),
        )
        names = sorted(set(secrets) | ({"ANTHROPIC_AUTH_TOKEN"} if gateway is not None else set()))
        if names:  # the names only: the hook masks their values in what it keeps (agentmux/hook.py)
            env["AGENTMUX_SECRET_NAMES"] = " ".join(names)
        env["PATH"] = self.agent_path(spec)
        return env

    def agent_path(self, spec: AgentSpec) -> str:
        """The agent's PATH: its env's, else this process's with STATE_DIR/bin last (`agentmux` found in the
        agent's shell; an agentmux of its own comes first)."""
        if "PATH" in spec.env:
            return spec.env["PATH"]
        shim = command_shim(self.config.settings.state_dir)
        return os.pathsep.join(part for part in (os.environ.get("PATH", os.defpath), str(shim or "")) if part)

    def pane_script(self, spec: AgentSpec) -> str:
        """What the agent's pane runs: its kind's start script, with the agent's PATH set first (tmux gives a
        new pane the PATH of the client that asked for it, whatever the session's environment says)."""
        return f"PATH={shlex.quote(self.agent_path(spec))}; export PATH\n" + kind_of(spec.kind).start_script(spec)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def add(self, spec: AgentSpec) -> Outcome:
        self.config = config_module.add_agent(self.config, spec)
        self.store.ensure_agent(spec.name, spec.kind)
        return Outcome(spec.name, f"added {spec.name} to {self.config.path}")

    def start(self, name: str) -> Outcome:
        spec = self.config.agent(name)
        kind = kind_of(spec.kind)
        pane = self.pane(name)
        if pane is not None and not pane.dead:
            return Outcome(name, f"{name} is already running")
        self.check_startable(name)
        env = self.agent_env(spec)
        settings = self.config.settings
        note = self.leftover_note(self.end_leftovers(name))
        self.tmux.make_way(name, AGENT_OPTION, name)  # its own dead pane is replaced; another's session refused
        kind.prepare(spec, settings.state_dir)
        self.tmux.new_session(
            name, ["/bin/sh", "-c", self.pane_script(spec)], spec.cwd, env,
            settings.width, settings.height, settings.history_limit, agent=name,
            secret_names=sorted(spec.secrets),
        )
        pane = self.pane(name)
        now = time.time()
        self.store.mark_started(name, spec.kind, name, pane.pane_id if pane else None,
                                pane.pid if pane else None, now)
        self.store.record_event(name, "start", f"started in {spec.cwd}{note}", now)
        return Outcome(name, f"started {name}{note}")

    def respawn(self, name: str, restarts: int) -> Outcome:
        """Start an agent whose program ended again, by its restart policy (`restarts`: its count in a row).

        Its pane is respawned in its session, whose environment holds the values its secrets had at the
        last start by hand, so a supervisor that cannot resolve them (no such variable in its environment)
        still restarts it; a vanished session is started anew, which needs them resolved."""
        spec = self.config.agent(name)
        pane = self.pane(name)
        if pane is not None and not pane.dead:
            return Outcome(name, f"{name} is already running")
        note = self.leftover_note(self.end_leftovers(name))
        if pane is None:
            started = self.start(name)
            record = self.store.agent(name)
            if record is not None:
                self.store.mark_started(name, spec.kind, name, record.pane_id, record.pid, time.time(), restarts)
            return Outcome(name, f"restarted {name} ({started.message})")
        kind_of(spec.kind).prepare(spec, self.config.settings.state_dir)
        self.tmux.respawn(pane.pane_id, ["/bin/sh", "-c", self.pane_script(spec)], spec.cwd)
        fresh = self.pane(name)
        now = time.time()
        self.store.mark_started(name, spec.kind, name, fresh.pane_id if fresh else pane.pane_id,
                                fresh.pid if fresh else None, now, restarts)
        self.store.record_event(name, "restart", f"restart {restarts} by its restart policy{note}", now)
        return Outcome(name, f"restarted {name} (restart {restarts}){note}")

    def leftovers(self) -> dict[str, list[int]]:
        """Processes of agents whose tmux session is gone or whose pane died, by agent: what outlived a tmux
        server that was killed, or a program's children that left its process group. One walk of /proc."""
        live = {pane.agent for pane in self.tmux.list_panes() if pane.agent and not pane.dead}
        records = {record.name: record for record in self.store.agents()}
        known = (set(self.config.names()) | set(records)) - live
        return fleet_processes(self.config.settings.socket, {
            name: (records[name].pid, records[name].started_at) if name in records else (None, None)
            for name in known})

    def end_leftovers(self, name: str) -> list[int]:
        """End processes of an earlier copy of the agent that outlived its session (its tmux server was
        killed, or its program ignored the hang-up), so two copies never run: the pids ended, or an error
        when they cannot be ended."""
        record = self.store.agent(name)
        leftovers = agent_processes(name, self.config.settings.socket, record.pid if record else None,
                                    record.started_at if record else None)
        if not leftovers:
            return []
        alive = end_processes(leftovers)
        if alive:
            raise AgentmuxError(f"{name}: an earlier copy still runs (pids {', '.join(map(str, alive))}) and cannot "
                                "be ended; end it, then start the agent again")
        self.store.record_event(name, "leftovers", f"ended processes of an earlier copy: "
                                                   f"{', '.join(map(str, leftovers))}")
        return leftovers

    @staticmethod
    def leftover_note(ended: list[int]) -> str:
        return f" (first ended an earlier copy still running outside tmux: pids {', '.join(map(str, ended))})" \
            if ended else ""

    def stop(self, name: str, force: bool = False, timeout: float | None = None) -> Outcome:
        """Graceful stop: the kind's quit keys, then SIGTERM, then SIGKILL; cleanup commands after."""
        spec = self.config.agent(name) if name in self.config.names() else None
        record = self.store.agent(name)
        if spec is None and record is None:
            raise UnknownAgent(name)
        self.store.set_desired(name, "stopped")
        pane = self.pane(name)
        if pane is None or pane.dead:
            if record is not None and record.state.is_live:
                self.store.set_state(name, AgentState.STOPPED, "stopped")
            note = self.leftover_note(self.end_leftovers(name))
            failures = self.run_cleanup(spec) if spec else []
            return Outcome(name, f"{name} was not running{note}" + "".join(f"; {f}" for f in failures),
                           ok=not failures)
        how = "killed"
        if not force:
            kind = self.kind(name)
            limit = timeout if timeout is not None else (self.config.stop_timeout(spec) if spec else 10.0)
            deadline = time.monotonic() + limit
            attempt = 0
            while time.monotonic() < deadline:
                # One group per attempt: keys sent together after Ctrl-C would be flushed with the line.
                self.tmux.send_keys(pane.pane_id, *kind.stop_keys[attempt % len(kind.stop_keys)].split())
                attempt += 1
                if wait_for(lambda: self._ended(pane), min(2.0, max(0.0, deadline - time.monotonic()))):
                    how = "stopped"
                    break
        # Then what closing a terminal does (SIGHUP), then SIGTERM, then SIGKILL, to the pane's process group
        # until none of it is left (a program that ignores SIGHUP outlives the pane's script).
        for sig in (() if force else (signal.SIGHUP, signal.SIGTERM)) + (signal.SIGKILL,):
            if self._ended(pane):
                break
            self._signal(pane, sig)
            wait_for(lambda: self._ended(pane), 2.0 if sig != signal.SIGKILL else 5.0)
        self.store.set_state(name, AgentState.STOPPED, f"{how} by user")
        self.store.record_event(name, "stop", f"{how} by user")
        failures = self.run_cleanup(spec) if spec else []
        message = f"{how} {name}" + "".join(f"; {failure}" for failure in failures)
        return Outcome(name, message, ok=not failures)

    def check_startable(self, name: str) -> None:
        """Raise the error a start would meet before doing anything (an unknown agent, a secret that cannot
        be resolved, a working directory gone), so `restart` never stops an agent it cannot start again."""
        spec = self.config.agent(name)
        self.agent_env(spec)
        script = len(self.pane_script(spec).encode("utf-8", "surrogateescape"))
        if script > MAX_ARG:
            raise AgentmuxError(f"{name}: its init commands and command come to {script:,} bytes, more than a "
                                f"program can be started with ({MAX_ARG:,}); move them into a script file")
        if not spec.cwd.is_dir():
            what = "is not a directory" if spec.cwd.exists() else "does not exist"
            raise AgentmuxError(f"{name}: its working directory {spec.cwd} {what}")

    def restart(self, name: str) -> Outcome:
        """Stop, then start; checked first, so an agent that could not start again keeps running."""
        self.check_startable(name)
        stopped = self.stop(name)
        started = self.start(name)
        return Outcome(name, f"restarted {name}", ok=stopped.ok and started.ok)

    def remove(self, name: str) -> Outcome:
        """Stop the agent (running its cleanup), close its session, forget it, take it out of the config."""
        in_config = name in self.config.names()
        if not in_config and self.store.agent(name) is None:
            raise UnknownAgent(name)
        if in_config:
            config_module.check_removal(self.config, name)  # a file agentmux cannot edit: refuse before stopping
        outcome = self.stop(name)
        self.tmux.kill_own_session(name, AGENT_OPTION, name)
        self.store.delete_agent(name)
        self.store.record_event(name, "remove", "removed")
        if in_config:
            self.config = config_module.remove_agent(self.config, name)
        if not any(p.agent for p in self.tmux.list_panes()):
            self.tmux.kill_own_session(SERVE_SESSION, SERVE_OPTION)  # no agents left to supervise
            self.tmux.kill_own_session(HIDDEN_SESSION, HIDDEN_OPTION)
        suffix = "" if outcome.ok else f" ({outcome.message})"
        return Outcome(name, f"removed {name}{suffix}", ok=outcome.ok)

    def send(self, name: str, text: str, enter: bool = True) -> Outcome:
        pane = self.pane(name)
        if pane is None or pane.dead:
            raise AgentmuxError(f"{name} is not running (start it with `agentmux up {name}`)")
        check_typable(text, hint=f" (agentmux types text; to press keys use `tmux -L {self.config.settings.socket} "
                                 f"send-keys -t ={name}: C-c`)")
        if self.tmux.reads_lines(pane):
            check_line_lengths(text, f"{name}'s program",
                               hint="; split it, or queue it for a shell agent, which reads long text from a file")
        if enter and self.kind(name).hooked:
            prompts.submit(self, name, pane.pane_id, text)  # counted only when Claude Code confirms it
            return Outcome(name, f"sent to {name} (Claude Code took the prompt)")
        self.tmux.send_text(pane.pane_id, text, enter=enter)
        return Outcome(name, f"sent to {name}")

    def answer(self, name: str, answer: str) -> Outcome:
        """Answer the question the agent waits on: yes, no, always, or a choice's number (a claude agent's
        permission dialog, a codex agent's approval dialog: the digit of the choice), or any text (typed, then
        Enter, for other programs)."""
        pane = self.pane(name)
        if pane is None or pane.dead:
            raise AgentmuxError(f"{name} is not running (start it with `agentmux up {name}`)")
        if not self.kind(name).choice_dialog:
            text = {"yes": "y", "no": "n"}.get(answer.strip().lower(), answer)
            self.send(name, text)
            return Outcome(name, f"answered {name}: {text}")
        behavior = answers.hook_decision(answer)
        record = self.store.agent(name)
        question = self.store.open_question(name, record.started_at if record is not None else None)
        if behavior is not None and question is not None and question.reply:
            word = "yes" if behavior == "allow" else "no"
            if answers.to_hook(question.reply, behavior, "The user said no (through agentmux)."):
                self.store.record_event(name, "answer", f"answered {word} (by the user, through Claude Code's "
                                        "PermissionRequest hook)", time.time())
                return Outcome(name, f"answered {name}: {word} (through Claude Code's hook)")
        screen = self.tmux.capture([CaptureRequest(pane.pane_id, escapes=False)]).get(pane.pane_id, "")
        offered = answers.choices(screen)
        if not offered:
            raise AgentmuxError(f"{name} shows no question to answer (its state: "
                                f"{record.state.value if record is not None else 'unknown'})")
        choice = answers.pick(answer, offered)
        self.tmux.send_keys(pane.pane_id, str(choice.number))
        self.store.record_event(name, "answer", f"answered {choice.number}. {choice.label} (by the user)", time.time())
        return Outcome(name, f"answered {name}: {choice.number}. {choice.label}")

    def run_cleanup(self, spec: AgentSpec) -> list[str]:
        """Run the agent's cleanup commands in order, in its cwd with its environment; failures listed.

        They run once per start: at the first stop or removal after the agent was started.
        """
        failures: list[str] = []
        if not self.store.take_cleanup(spec.name) or not spec.cleanup:
            return failures
        try:
            agent_env = self.agent_env(spec, session=False)
        except AgentmuxError:
            # run by a process without the secret's source (the supervisor): the values the session holds
            pane = self.pane(spec.name)
            held = self.tmux.session_secrets(pane) if pane is not None else {}
            missing = sorted(set(spec.secrets) - set(held))
            if missing:
                return [f"cleanup not run: secret {', '.join(missing)} cannot be resolved here"]
            agent_env = {**self.agent_env(replace(spec, secrets={}), session=False), **held}
        env = {**self.tmux.client_env, **agent_env}  # as in its session: no other agent's variables
        mask = Redactor({name: agent_env[name] for name in spec.secrets})
        for command in spec.cleanup:
            status, output = run_bounded(command, spec.cwd, env, CLEANUP_TIMEOUT)
            if status is None:
                failures.append(f"cleanup command timed out after {CLEANUP_TIMEOUT:g}s (ended with the processes "
                                f"it started): {command}")
                status_text = "timed out"
            else:
                status_text = f"status {status}"
                if status != 0:
                    failures.append(f"cleanup command failed with status {status}: {command}")
            self.store.record_event(spec.name, "cleanup", mask(f"$ {command} ({status_text}) {output}")[:2000])
        return failures

    # --- helpers -----------------------------------------------------------------------------------------

    def _dead(self, pane_id: str) -> bool:
        info = self.tmux.pane_info(pane_id)
        return info is None or info.dead

    def _ended(self, pane: PaneInfo) -> bool:
        """The pane's program has ended and nothing of its process group is left."""
        return self._dead(pane.pane_id) and not group_alive(pane.pid)

    @staticmethod
    def _signal(pane: PaneInfo, sig: signal.Signals) -> None:
        """Signal the pane's process group (the program and what it started in the foreground)."""
        if pane.pid is None:
            return
        try:
            os.killpg(pane.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pane.pid, sig)
