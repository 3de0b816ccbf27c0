"""Agent kinds: how each sort of agent is started, stopped and read. Pluggable by name."""

from __future__ import annotations

import json
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentmux import demo
from agentmux.agents.delivery import check_line_lengths, check_typable, check_utf8
from agentmux.agents.detectors import (
    API_CANCELLED,
    API_PROMPT_RE,
    DEMO_PROMPT_RE,
    DETECT_LINES,
    SHELL_PROMPT_RE,
    SHELL_PS1,
    Observation,
    api_failure,
    detect_api,
    detect_claude,
    detect_codex,
    detect_command,
    detect_demo,
    detect_shell,
)
from agentmux.agents.state import Detected
from agentmux.errors import UsageError
from agentmux.hook import ANSWER_WAIT

if TYPE_CHECKING:
    from agentmux.config import AgentSpec


TRAPPED = "INT QUIT TERM"
"""Signals the pane script only notes while its program runs. Not SIGHUP: when the tmux server dies the
kernel hangs up the pane's terminal and signals only the script; dying of it, the script makes the kernel
hang up the program too (a script that noted it left the program running with no server)."""
LINGER = 0.2
"""Seconds the pane stays open after its program ends, so tmux reads the last output."""


@dataclass(frozen=True)
class Delivery:
    """How a task's text reaches an agent: `typed` (then Enter), or `script`, a file the shell runs with `.`."""

    typed: str | None = None
    script: str | None = None

    def line(self, script_path: str) -> str:
        """The line typed into the agent for it."""
        return self.typed if self.typed is not None else f". {shlex.quote(script_path)}"


@dataclass(frozen=True)
class AgentKind:
    """A sort of agent. `stop_keys` ask it to quit gracefully: one group of tmux key names (space-separated)
    per attempt, taken in turn, a couple of seconds apart, until it has quit."""

    name: str
    detect: Callable[[Observation], Detected]
    stop_keys: tuple[str, ...] = ("C-c",)
    prompt: re.Pattern[str] | None = None
    """The agent's input prompt (a whole line, right-stripped) when it is ready for the next task. Kinds
    without one are judged ready by quiet (`idle`)."""
    interrupt_keys: tuple[str, ...] = ("C-c",)
    """Keys that interrupt what the agent is doing (a task that timed out)."""
    hooked: bool = False
    """The program reports itself through hook events (Claude Code): a prompt counts only when confirmed
    (agents/prompts.py), a task's turn and its end are read from the events."""
    screen_lines: int | None = DETECT_LINES
    """How many of the screen's last lines (blank ones at the bottom left out) its detector reads; None: all."""
    choice_dialog: bool = False
    """The program asks in a numbered dialog (Claude Code's permission dialog, Codex's approval dialog): an
    answer presses the digit of the choice it means (agents/answers.py) instead of typing a line."""

    def outcome(self, output: list[str]) -> tuple[bool, str]:
        """Whether a task succeeded, and why, from what the agent printed for it (its prompt last).
        A program in general gives no verdict: it finished when it went quiet."""
        return True, "the agent went idle"

    def check_task(self, text: str) -> None:
        """Refuse (UsageError, one line) a task text this kind cannot take as given, so the user hears it when
        adding it rather than when it is due."""
        check_typable(text, hint="; a shell agent can run such text (it reads it from a file)")

    def delivery(self, text: str) -> Delivery:
        """How a checked task text reaches the agent: typed as it is (Enter follows), or as a script."""
        return Delivery(typed=text)


    def program(self, spec: AgentSpec) -> str:
        """The shell command line that runs the agent's program."""
        return spec.command

    def prepare(self, spec: AgentSpec, home: Path) -> None:
        """Write what the agent's program needs before it starts (files under agentmux's state dir `home`)."""

    def start_script(self, spec: AgentSpec) -> str:
        """The /bin/sh script the agent's pane runs: init commands in order, then the program.

        Init commands share one shell, so `cd`, `export` and `.` (source) carry over to the program.
        The program runs in a subshell, and the script lingers a moment after it ends: tmux 3.3 drops
        output still unread in the terminal when a pane's process exits, and the last lines of a crash
        are what a user most needs. The script then ends the way the program did (its exit status, or
        the signal that killed it). While the program runs the script and its subshell only note signals
        (a no-op trap, which the program does not inherit), so Ctrl-C reaches the program alone: a subshell
        left with dash's default SIGINT died of a Ctrl-C the program itself caught, and took the pane with it.
        """
        lines = [f"trap : {TRAPPED}"]
        for command in spec.init:
            command = re.sub(r"^\s*source\s", ". ", command)
            quoted = shlex.quote(command)
            lines.append(f"printf '\\033[2m[agentmux] init: %s\\033[0m\\n' {quoted}")
            lines.append(
                f"{command}\n_s=$?; if [ $_s -ne 0 ]; then "
                f"printf '[agentmux] init command failed with status %s: %s\\n' $_s {quoted}; "
                f"sleep {LINGER}; exit $_s; fi"
            )
        lines += [
            f"( trap : {TRAPPED}; eval {shlex.quote(self.program(spec))} )",
            "_s=$?",
            f"sleep {LINGER}",
            f'if [ "$_s" -gt 128 ] && [ "$_s" -lt 160 ]; then trap - {TRAPPED}; kill -$((_s - 128)) $$; fi',
            'exit "$_s"',
        ]
        return "\n".join(lines) + "\n"


def _demo_program(spec: AgentSpec) -> str:
    base = shlex.join([sys.executable, "-m", "agentmux.demo", *_demo_name(spec)])
    return f"{base} {spec.command}".strip()


def _demo_name(spec: AgentSpec) -> list[str]:
    return ["--name", spec.name]


class DemoKind(AgentKind):
    """The built-in simulated agent; `command` holds extra demo options such as `--speed 0.5`."""


    def program(self, spec: AgentSpec) -> str:
        return _demo_program(spec)


    def check_task(self, text: str) -> None:
        if "\n" in text:
            raise UsageError("a demo agent reads one line per task: queue each line as a task of its own "
                             "(--after chains them)")
        check_typable(text)
        check_line_lengths(text, "a demo agent")  # it reads with the terminal's line editing

    def outcome(self, output: list[str]) -> tuple[bool, str]:
        """Failed when it printed its error marker (`✗ error: REASON`) or was interrupted (`^C cancelled`),
        else succeeded."""
        for line in reversed(output):
            if line.lstrip().startswith(demo.ERROR):
                return False, line.strip()
            if line.strip() == demo.CANCELLED:
                return False, "interrupted (Ctrl-C): the demo agent cancelled it"
        return True, "done"


class ShellKind(AgentKind):
    """An interactive shell (`command`, default /bin/sh) whose prompt carries the last exit status, so a
    task's success is its command's exit status."""

    def program(self, spec: AgentSpec) -> str:
        return f"PS1={shlex.quote(SHELL_PS1)} exec {spec.command.strip() or '/bin/sh'}"

    def check_task(self, text: str) -> None:
        check_utf8(text)  # anything else arrives exactly, as a script
        if "\0" in text:
            raise UsageError("the text holds NUL (U+0000), which a shell does not read in a script")

    def delivery(self, text: str) -> Delivery:
        """Every task is a script the shell reads with `.`: every byte arrives as given, the prompt shows
        once, when the whole script has run, with its exit status. (Typed, a line could be changed by the
        shell's line editing (`!!` is bash's history) or leave it waiting for the rest of an unclosed quote.)"""
        return Delivery(script=text)

    def outcome(self, output: list[str]) -> tuple[bool, str]:
        prompt = SHELL_PROMPT_RE.fullmatch(output[-1].rstrip()) if output else None
        if prompt is None:
            return False, "no exit status (the shell's prompt was not found after the command)"
        status = int(prompt.group(1))
        return status == 0, f"exit status {status}"


HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
               "PermissionRequest", "Notification", "Stop", "StopFailure", "SubagentStart", "SubagentStop",
               "PreCompact", "SessionEnd")
"""The Claude Code hook events a claude agent reports to agentmux (README: The claude kind)."""


def session_args(noted: Path, resume: bool = True) -> list[str]:
    """Resume the session the agent last ran (noted by its SessionStart hook) when its transcript is there
    (and the agent's `resume` is on); else start a session with an id of agentmux's choosing."""
    try:
        last = json.loads(noted.read_text()) if resume else {}
        session, transcript = str(last["session_id"]), str(last.get("transcript_path") or "")
        if re.fullmatch(r"[0-9a-f-]{36}", session) and transcript and Path(transcript).is_file():
            return ["--resume", session]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return ["--session-id", str(uuid.uuid4())]


def claude_settings_path(home: Path, name: str) -> Path:
    return home / "claude" / name / "settings.json"


MCP_SERVER = "agentmux"
"""The name a claude agent knows agentmux's MCP server by: its tools are `mcp__agentmux__lock_acquire`, ..."""
MCP_ALLOW = f"mcp__{MCP_SERVER}__*"
"""The permission rule that lets the agent call every agentmux tool without asking."""


def mcp_config(package: str) -> dict[str, object]:
    """The `--mcp-config` of a claude agent: agentmux's MCP server (`agentmux mcp`, with this Python and this
    package). `-I`: the agent's cwd, user site and PYTHON* variables never shadow a module of the server (a
    project with an `mcp/` folder); the caller and the fleet come from the agent's environment, which Claude
    Code hands its servers (AGENTMUX_AGENT, AGENTMUX_CONFIG)."""
    code = f"import sys; sys.path.insert(0, {package!r}); from agentmux.cli import main; sys.exit(main())"
    return {"mcpServers": {MCP_SERVER: {"type": "stdio", "command": sys.executable, "args": ["-I", "-c", code, "mcp"],
                                        "env": {}}}}


class ClaudeKind(AgentKind):
    """Claude Code (`command`: the `claude` command line, default `claude`), started with a settings file of
    agentmux's own (`--settings`; the user's settings stay as they are) whose hooks run `agentmux hook EVENT`
    for every event, so its state is known from the events, and from its screen when they are missing; and with
    agentmux's MCP server (`--mcp-config`, next to the user's own servers), whose coordination tools it may call
    without asking (the settings' `permissions.allow`)."""

    def program(self, spec: AgentSpec) -> str:
        folder = f'"$AGENTMUX_HOME"/claude/{shlex.quote(spec.name)}'
        options = ""
        if spec.model:
            options += f" --model {shlex.quote(spec.model)}"
        if spec.permission_mode:
            options += f" --permission-mode {shlex.quote(spec.permission_mode)}"
        # the session options `prepare` chose: --session-id NEW, or --resume the last one
        # (--mcp-config takes several files: the session options after it begin with --)
        return (f"exec {spec.command.strip() or 'claude'}{options} --settings {folder}/settings.json "
                f"--mcp-config {folder}/mcp.json $(cat {folder}/session-args)")

    def prepare(self, spec: AgentSpec, home: Path) -> None:
        # -I -S: no site packages or user environment to read (the hook runs in every tool call); the package
        # is found where this agentmux runs from
        package = str(Path(demo.__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {package!r}); from agentmux.hook import main; sys.exit(main())"
        hook = shlex.join([sys.executable, "-I", "-S", "-c", code])
        hooks = {event: [{"hooks": [{"type": "command", "command": f"{hook} {event}",
                                     **({"timeout": ANSWER_WAIT + 60} if event == "PermissionRequest" else {})}]}]
                 for event in HOOK_EVENTS}
        settings = {"permissions": {"allow": [MCP_ALLOW]}, "hooks": hooks}
        path = claude_settings_path(home, spec.name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(settings, indent=2) + "\n")
        (path.parent / "mcp.json").write_text(json.dumps(mcp_config(package), indent=2) + "\n")
        policy = path.parent / "policy.json"  # read by the PermissionRequest hook
        if spec.approve is not None:
            policy.write_text(json.dumps({**spec.approve.to_json(), "cwd": str(spec.cwd)}, indent=2) + "\n")
        else:
            policy.unlink(missing_ok=True)
        args = session_args(path.parent / "session", spec.resume)
        (path.parent / "session-args").write_text(" ".join(args) + "\n")

    def check_task(self, text: str) -> None:
        check_typable(text)


CODEX_NO_DAEMON = "--no-daemon"


class CodexKind(AgentKind):
    """OpenAI's Codex CLI (`command`: the `codex` command line, default `codex`), read from its screen
    (detectors.CODEX_SCREEN). It runs with `--no-daemon`: by default Codex hands its turns to a shared
    background app server that outlives the pane (a turn goes on after the TUI quits), and an agent's processes
    are to end with it."""

    def program(self, spec: AgentSpec) -> str:
        command = spec.command.strip() or "codex"
        try:
            words = shlex.split(command)
        except ValueError:
            words = []
        return command if CODEX_NO_DAEMON in words else f"{command} {CODEX_NO_DAEMON}"

    def check_task(self, text: str) -> None:
        check_typable(text)


API_BLOCK_START = "<<"
"""A lone line that begins a block prompt of an api agent: the lines after it, up to a lone `.`, are one prompt."""
API_BLOCK_END = "."


class ApiKind(AgentKind):
    """The Messages API asked directly: `agentmux api-agent NAME` (agentmux/api/agent.py) runs in the pane, with
    this Python and this package. A task is its prompt: one line is typed; a text of several lines is a file
    the agent reads (typed `. PATH`, as a shell's script is), so the pane shows one line for it and the result
    is the reply alone. It failed when the request did (the error line before the prompt) or Ctrl-C stopped
    the reply."""

    def program(self, spec: AgentSpec) -> str:
        return "exec " + shlex.join([sys.executable, "-m", "agentmux", "api-agent", spec.name])

    def check_task(self, text: str) -> None:
        check_utf8(text)
        if "\0" in text:
            raise UsageError("the text holds NUL (U+0000), which an api agent does not read from a file")
        if "\n" not in text:
            check_typable(text, hint="; a text of several lines can hold it (the agent reads it from a file)")
            check_line_lengths(text, "an api agent")
        if not text.strip():
            raise UsageError("an api agent takes no empty prompt")

    def delivery(self, text: str) -> Delivery:
        if "\n" not in text and text.strip() not in ("", API_BLOCK_START) and not text.startswith(". "):
            return Delivery(typed=text)
        return Delivery(script=text)

    def outcome(self, output: list[str]) -> tuple[bool, str]:
        lines = [line for line in output if line.strip()]
        failure = api_failure(lines) if lines and API_PROMPT_RE.fullmatch(lines[-1].rstrip()) else None
        if failure is not None:
            return False, failure
        if len(lines) > 1 and lines[-2].strip() == API_CANCELLED:
            return False, "interrupted (Ctrl-C): the reply was stopped"
        return True, "replied"


KINDS: dict[str, AgentKind] = {
    "command": AgentKind("command", detect_command),
    "shell": ShellKind("shell", detect_shell, stop_keys=("C-u C-d", "C-c"), prompt=SHELL_PROMPT_RE),
    "demo": DemoKind("demo", detect_demo, prompt=DEMO_PROMPT_RE),
    "claude": ClaudeKind("claude", detect_claude, stop_keys=("C-c", "C-c", "C-d"), interrupt_keys=("Escape",),
                         hooked=True, choice_dialog=True),
    "codex": CodexKind("codex", detect_codex, stop_keys=("C-c", "C-c", "C-d"), interrupt_keys=("Escape",),
                       screen_lines=None, choice_dialog=True),
    "api": ApiKind("api", detect_api, stop_keys=("C-u C-d", "C-c C-u C-d"), prompt=API_PROMPT_RE),
}
"""How each kind of the config's schema (config/kinds.py) runs."""


def kind_of(kind: str) -> AgentKind:
    """The runtime kind by name; an agent of a kind this agentmux does not know (an older store, a session
    found again) is run and read as a plain `command` agent."""
    return KINDS.get(kind, KINDS["command"])
