"""agentmux's private tmux server: lifecycle over libtmux, hot paths over one tmux call per batch.

Every command goes to agentmux's own socket (`tmux -L SOCKET`), never the user's default server.
Values that may be secret (session environment) travel to the server through a pipe (`source-file -`
reading the client's standard input): never on a command line, since `ps` shows every process's argv to
every user, and never in a file, which a crash at the wrong moment would leave behind.

Every tmux client agentmux runs gets a minimal environment (`minimal_env`): the server inherits the
environment of the client that starts it, and every session inherits the server's. Started from the
user's whole environment, the variable behind one agent's `env:` secret reached every agent.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import fnmatch
import os
import re
import secrets
import shutil
import signal
import socket as socketlib
import stat
import subprocess
import termios
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import libtmux

from agentmux import processes
from agentmux.errors import AgentmuxError
from agentmux.tmux.control import ControlClient, ControlClosed

AGENT_OPTION = "@agentmux_agent"
"""Marks an agent's session (value: the agent's name); with the two below, how agentmux tells its own
sessions from others on its socket, which it never kills."""
HIDDEN_OPTION = "@agentmux_hidden"
SERVE_OPTION = "@agentmux_serve"
SECRETS_OPTION = "@agentmux_secrets"
"""The names (never the values) of the session variables that hold the agent's secrets."""
HIDDEN_SESSION = "_agentmux"
SERVE_SESSION = "_agentmux-serve"
"""The hidden session `agentmux up` runs the headless supervisor (`agentmux serve`) in."""
PANE_IS_DEAD_RE = re.compile(r"^Pane is dead \((status|signal) [^)]*\)\s*$")
"""tmux's own line on a pane whose program ended (remain-on-exit): not the agent's output."""
NO_SERVER_RE = re.compile(r"no server running|error connecting to|failed to connect to server", re.IGNORECASE)
WEDGED_RE = re.compile(r"server exited unexpectedly|protocol version mismatch|lost server", re.IGNORECASE)
"""What a tmux client says when something listens on the socket but does not answer as a tmux server."""
PROBE_TIMEOUT = 3.0
"""Seconds a healthy server needs at most to list its sessions (it takes milliseconds)."""
CLIENT_TIMEOUT = 5.0
"""Seconds a tmux command may take before the server is probed (then: wedged, or asked once more)."""
SLOW_TIMEOUT = 30.0
CONTROL_TIMEOUT = 10.0
"""Seconds a batch over the control connection may take; then that connection is closed and the commands run
as plain clients."""

PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
              "TMUX_TMPDIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
              "XDG_RUNTIME_DIR", "PYTHONPATH", "VIRTUAL_ENV")
"""What agentmux's tmux server, and so every agent, inherits from the environment agentmux runs in (names
or `fnmatch` patterns); `pass_env` in the config adds more. Nothing else: a variable an `env:` secret
refers to reaches only the agent that names it, as that agent's own session variable."""


def minimal_env(extra: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of `environ` that PASSED_ENV or `extra` name."""
    environ = os.environ if environ is None else environ
    patterns = (*PASSED_ENV, *extra)
    return {key: value for key, value in environ.items()
            if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)}


PANE_FIELDS = (
    "session_name", "pane_id", "pane_pid", "pane_dead", "pane_dead_status", "pane_dead_signal",
    "window_activity", "history_size", "cursor_x", "cursor_y", "pane_width", "pane_height",
    AGENT_OPTION, SECRETS_OPTION, "pane_tty", "alternate_on", "history_limit",
)
PANE_FORMAT = "\t".join(f"#{{{name}}}" for name in PANE_FIELDS)


class TmuxError(AgentmuxError):
    """A tmux command failed; the message carries tmux's own words."""


class ServerWedged(TmuxError):
    """Something listens on agentmux's socket but does not answer as a tmux server: no command can work
    until it is ended, which `agentmux doctor` offers to do."""

    def __init__(self, socket: str, said: str) -> None:
        super().__init__(f"the tmux server on socket {socket!r} does not answer (tmux said: {said}); "
                         "`agentmux doctor` names the fix")


class ForeignSession(AgentmuxError):
    """A session on agentmux's socket that agentmux did not create has the name it needs: left alone."""

    def __init__(self, socket: str, name: str) -> None:
        super().__init__(f"a tmux session named {name!r} on socket {socket!r} was not started by agentmux, so it "
                         f"is left alone; end it (`tmux -L {socket} kill-session -t {name}`) or rename it, "
                         "then try again")


class ServerState(enum.Enum):
    NONE = "no server"
    STALE = "a socket file nobody listens on"
    RUNNING = "running"
    WEDGED = "not answering"


@dataclass(frozen=True)
class ServerHealth:
    state: ServerState
    said: str = ""
    """Why it is wedged: tmux's own words, or what connecting to the socket gave."""


def tmux_quote(value: str) -> str:
    """Quote any string for tmux's command parser (source-file, control mode).

    Backslash, double quote and `$` are escaped so nothing expands. Line breaks are written as `\\n`
    and `\\r`: tmux drops the leading white space of a continuation line inside quotes, and a control
    client reads one command per line.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def socket_path(socket: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where tmux puts the socket for `-L SOCKET` (tmux honours TMUX_TMPDIR)."""
    environ = os.environ if environ is None else environ
    base = environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(base) / f"tmux-{os.getuid()}" / socket


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return zombie_exit(pid) is not None


def _what_is(path: Path) -> str:
    mode = path.lstat().st_mode
    return "a directory" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode) else "a file"


def zombie_exit(pid: int | None) -> tuple[int | None, int | None] | None:
    """(status, signal) of a process that has exited but not been reaped (Linux /proc), else None."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] != "Z":
        return None
    code = int(fields[-1])
    if code & 0x7F:
        return None, code & 0x7F
    return (code >> 8) & 0xFF, None


@dataclass(frozen=True)
class PaneInfo:
    """One line of `list-panes -a`: the cheap facts about a pane, read for every pane in one call."""

    session: str
    pane_id: str
    pid: int | None
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    activity: int
    history_size: int
    cursor_x: int
    cursor_y: int
    width: int
    height: int
    agent: str
    secret_names: tuple[str, ...] = ()
    """The agent's secret variables (names only); their values are in the session environment."""
    tty: str = ""
    alternate: bool = False
    """The program shows its alternate screen (a full-screen program: vim, less, htop)."""
    history_limit: int = 0
    """Rows of history the pane keeps (tmux's history-limit when it was made)."""

    @classmethod
    def parse(cls, line: str) -> PaneInfo:
        parts = line.split("\t")
        parts += [""] * (len(PANE_FIELDS) - len(parts))
        pid = _int_or_none(parts[2])
        dead = parts[3] == "1"
        status, signal = _int_or_none(parts[4]), _int_or_none(parts[5])
        if dead and status is None and signal is None:
            # tmux saw the pane's end of file but has not reaped the process yet: read its exit
            # status from the zombie; without one the pane is still ending, not dead.
            zombie = zombie_exit(pid)
            dead = zombie is not None
            status, signal = zombie if zombie is not None else (None, None)
        return cls(
            session=parts[0],
            pane_id=parts[1],
            pid=pid,
            dead=dead,
            dead_status=status,
            dead_signal=signal,
            activity=_int_or_none(parts[6]) or 0,
            history_size=_int_or_none(parts[7]) or 0,
            cursor_x=_int_or_none(parts[8]) or 0,
            cursor_y=_int_or_none(parts[9]) or 0,
            width=_int_or_none(parts[10]) or 0,
            height=_int_or_none(parts[11]) or 0,
            agent=parts[12],
            secret_names=tuple(parts[13].split()),
            tty=parts[14],
            alternate=parts[15] == "1",
            history_limit=_int_or_none(parts[16]) or 0,
        )

    @property
    def change_signal(self) -> tuple[int, int, int, int, bool]:
        """Cheap facts that move when the pane's content may have changed."""
        return (self.activity, self.history_size, self.cursor_x, self.cursor_y, self.dead)


@dataclass(frozen=True)
class CaptureRequest:
    """Which rows of which pane to capture; rows count from the top of the visible screen (negative: history)."""

    pane_id: str
    start: int | str = 0
    end: int | str = "-"
    escapes: bool = True
    join: bool = False
    """Lines the terminal wrapped come back as one line."""

    def command(self) -> list[str]:
        args = ["capture-pane", "-p", "-t", self.pane_id, "-S", str(self.start), "-E", str(self.end)]
        if self.escapes:
            args.insert(2, "-e")
        if self.join:
            args.insert(2, "-J")
        return args


class TmuxServer:
    """agentmux's tmux server on its own socket."""

    def __init__(self, socket: str, config_file: Path | None = None, run_dir: Path | None = None,
                 pass_env: Sequence[str] = ()) -> None:
        self.socket = socket
        self.config_file = config_file
        self.run_dir = run_dir
        self.pass_env = tuple(pass_env)
        self.binary = shutil.which("tmux") or "tmux"
        self.remove_leftovers()
        # The config file goes only to commands that may start the server: tmux 3.3 delays reaping
        # exited pane processes while clients that pass -f keep connecting, so exit statuses go missing.
        self.libtmux = libtmux.Server(socket_name=socket, tmux_bin=self.binary)
        self._control: ControlClient | None = None
        self._control_lock = threading.Lock()
        self._closed = False

    def remove_leftovers(self) -> None:
        """Delete the private command files of older agentmux versions (they held `-e NAME=value`), which a
        process killed at the wrong moment could leave in the run directory."""
        if self.run_dir is None or not self.run_dir.is_dir():
            return
        for leftover in self.run_dir.glob(".tmux-*.conf"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    @property
    def client_env(self) -> dict[str, str]:
        """The environment of every tmux client agentmux runs (and so of a server one of them starts)."""
        return minimal_env(self.pass_env)

    @property
    def base_args(self) -> list[str]:
        return [self.binary, "-L", self.socket]

    @property
    def starting_args(self) -> list[str]:
        """Arguments for a command that may start the server: they name its config file."""
        if self.config_file is None:
            return self.base_args
        return [*self.base_args, "-f", str(self.config_file)]

    # --- plain calls -------------------------------------------------------------------------------------

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True,
            starts_server: bool = False) -> subprocess.CompletedProcess[bytes]:
        """One tmux client call; `stdin` feeds commands such as `load-buffer -`."""
        prefix = self.starting_args if starts_server else self.base_args

        def call(timeout: float) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run([*prefix, *args], input=stdin, capture_output=True, timeout=timeout,
                                  stdin=None if stdin is not None else subprocess.DEVNULL, env=self.client_env)

        try:
            try:
                result = call(CLIENT_TIMEOUT)
            except subprocess.TimeoutExpired:
                # a wedged server is said at once; a healthy one that was only slow (a loaded machine) gets
                # the command once more, with time to spare
                self.raise_if_wedged(f"no answer within {CLIENT_TIMEOUT:g}s")
                result = call(SLOW_TIMEOUT)
        except FileNotFoundError:
            raise TmuxError("tmux is not installed (e.g. apt-get install tmux)") from None
        except subprocess.TimeoutExpired:
            raise TmuxError(f"tmux did not answer within {SLOW_TIMEOUT:g}s: tmux {' '.join(args[:2])}") from None
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip()
            if WEDGED_RE.search(said):
                self.raise_if_wedged(said)
            if check:
                raise TmuxError(f"tmux {args[0]}: {said or 'failed'}")
        return result

    def cmd(self, *args: str) -> list[str]:
        """A lifecycle command through libtmux; returns its stdout lines."""
        result = self.libtmux.cmd(*args)
        if result.returncode != 0:
            said = " ".join(result.stderr).strip()
            if WEDGED_RE.search(said):
                self.raise_if_wedged(said)
            raise TmuxError(f"tmux {args[0]}: {said or 'failed'}")
        return list(result.stdout)

    # --- health ------------------------------------------------------------------------------------------

    def health(self, timeout: float = PROBE_TIMEOUT) -> ServerHealth:
        """Is there a server on the socket, and does it answer? Starts no server."""
        path = socket_path(self.socket)
        try:
            if not stat.S_ISSOCK(path.lstat().st_mode):
                return ServerHealth(ServerState.WEDGED, f"{path} is not a socket")
        except FileNotFoundError:
            return ServerHealth(ServerState.NONE)
        probe = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        probe.settimeout(timeout)
        try:
            probe.connect(str(path))
        except FileNotFoundError:
            return ServerHealth(ServerState.NONE)
        except ConnectionRefusedError:
            return ServerHealth(ServerState.STALE)
        except OSError as exc:
            return ServerHealth(ServerState.WEDGED, f"connecting to {path}: {exc.strerror or exc}")
        finally:
            probe.close()
        try:
            result = subprocess.run([*self.base_args, "-N", "list-sessions", "-F", "#{session_name}"],
                                    capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return ServerHealth(ServerState.WEDGED, f"no answer within {timeout:g}s")
        except FileNotFoundError:
            raise TmuxError("tmux is not installed (e.g. apt-get install tmux)") from None
        said = result.stderr.decode(errors="replace").strip()
        if result.returncode == 0:
            return ServerHealth(ServerState.RUNNING)
        if NO_SERVER_RE.search(said):  # it exited just now
            return ServerHealth(ServerState.STALE if path.exists() else ServerState.NONE)
        return ServerHealth(ServerState.WEDGED, said or f"tmux list-sessions failed with status {result.returncode}")

    def raise_if_wedged(self, said: str) -> None:
        """After a command failed as tmux fails against a server that does not answer: check it (a server
        that exited meanwhile is not wedged) and raise the one line that points at doctor."""
        health = self.health()
        if health.state is ServerState.WEDGED:
            raise ServerWedged(self.socket, health.said or said)

    def wedged_listeners(self) -> tuple[list[int], list[int] | None]:
        """(tmux servers, every process) listening on the socket; the second is None when /proc cannot tell."""
        everyone = processes.listeners(socket_path(self.socket))
        return [pid for pid in everyone or [] if processes.name(pid).startswith("tmux")], everyone

    def wedged_fix(self) -> str:
        """The command that clears a server that does not answer, and what it ends."""
        servers, everyone = self.wedged_listeners()
        path = socket_path(self.socket)
        with contextlib.suppress(OSError):
            if not servers and not stat.S_ISSOCK(path.lstat().st_mode):
                return (f"{path} is {_what_is(path)}, not a socket: move it away, or set another socket in the "
                        "config (agentmux does not remove it)")
        if servers:
            return (f"`kill {' '.join(map(str, servers))}` ends that tmux server and every program still running in "
                    f"its sessions (`tmux -L {self.socket} kill-server` cannot reach a server that does not answer)")
        who = ", ".join(map(processes.describe, everyone)) if everyone else "no process could be found"
        return (f"`rm {path}`: what listens there is not a tmux server ({who}) and is left running; the next "
                "`agentmux up` starts a new server at that path")

    def end_wedged(self) -> str:
        """Clear a server that does not answer, checked again first (a healthy one is never touched): end
        the tmux server listening on the socket, or remove the socket file when no tmux server holds it."""
        health = self.health()
        if health.state is not ServerState.WEDGED:
            raise AgentmuxError(f"the tmux server on socket {self.socket!r} is {health.state.value} now; "
                                "nothing was done")
        servers, everyone = self.wedged_listeners()
        path = socket_path(self.socket)
        if not servers:
            with contextlib.suppress(FileNotFoundError):
                if not stat.S_ISSOCK(path.lstat().st_mode):
                    raise AgentmuxError(f"{path} is not a socket ({_what_is(path)}): agentmux leaves it alone; "
                                        "move it away, or set another socket in the config")
                path.unlink()
            who = ", ".join(map(processes.describe, everyone)) if everyone else "not found"
            return f"removed the socket file {path} (what listened there, {who}, is not a tmux server: left running)"
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in servers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                    os.kill(pid, signal.SIGCONT)  # a stopped server acts on its SIGTERM only once continued
            deadline = time.monotonic() + 5.0
            while not all(map(_gone, servers)) and time.monotonic() < deadline:
                time.sleep(0.05)
            if all(map(_gone, servers)):
                break
        else:
            raise AgentmuxError(f"the tmux server on socket {self.socket!r} "
                                f"({', '.join(map(processes.describe, servers))}) did not end after SIGKILL")
        self.remove_stale_socket()  # a server that exits leaves its socket file behind
        return (f"ended the tmux server on socket {self.socket!r} ({', '.join(f'pid {pid}' for pid in servers)}) "
                "and the programs in its sessions")

    def remove_stale_socket(self) -> bool:
        """Remove the socket file when nobody listens on it (tmux leaves it behind when its server exits);
        never while a tmux client holds the socket's lock file to start a server there. True when removed."""
        path = socket_path(self.socket)
        lock = Path(f"{path}.lock")
        created = not lock.exists()
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise
            if self.health().state is not ServerState.STALE:
                return False
            path.unlink(missing_ok=True)
            return True
        finally:
            if created:
                lock.unlink(missing_ok=True)
            os.close(fd)

    def is_running(self) -> bool:
        """Whether a server answers on the socket (a plain connect; no tmux client is started)."""
        probe = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        probe.settimeout(2)
        try:
            probe.connect(str(socket_path(self.socket)))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def control(self) -> ControlClient | None:
        """The persistent control-mode connection, opened on first use; None when no server runs."""
        with self._control_lock:
            if self._control is not None and self._control.alive:
                return self._control
            if self._control is not None:
                self._control.close()  # gone or going: reaped, and killed if it lingers
            self._control = None
            if self._closed or not self.is_running():
                return None
            self.ensure_hidden_session()
            try:
                self._control = ControlClient(self.base_args, HIDDEN_SESSION, env=self.client_env)
            except OSError:
                return None
            return self._control

    def close(self) -> None:
        """Close the control connection for good (a worker still finishing a tick cannot reopen it)."""
        self._closed = True
        self.disconnect()

    def disconnect(self) -> None:
        """Close the control connection; the next query opens a new one."""
        with self._control_lock:
            if self._control is not None:
                self._control.close()
                self._control = None

    def _drop(self, control: ControlClient) -> None:
        """A control connection that failed (tmux did not answer, or it went away) is closed, never left
        running: the next query opens a new one."""
        with self._control_lock:
            if self._control is control:
                self._control = None
        control.close()

    def query(self, *args: str) -> tuple[bool, str]:
        """A command answered over the control connection when there is one (else a tmux client):
        (ok, output) where output is tmux's error message when not ok."""
        return self.query_many([list(args)])[0]

    def query_many(self, commands: Sequence[Sequence[str]]) -> list[tuple[bool, str]]:
        """Several commands in one round trip over the control connection (else one client each)."""
        control = self.control()
        if control is not None:
            try:
                replies = control.run_many([" ".join(tmux_quote(arg) for arg in command) for command in commands],
                                           timeout=CONTROL_TIMEOUT)
                return [(reply.ok, reply.text) for reply in replies]
            except ControlClosed:
                self._drop(control)
        answers = []
        for command in commands:
            result = self.run(*command, check=False)
            ok = result.returncode == 0
            answers.append((ok, (result.stdout if ok else result.stderr).decode("utf-8", errors="replace")))
        return answers

    def source(self, commands: Sequence[str]) -> None:
        """Run tmux commands that may carry secrets: the server reads them from this client's standard input
        (a pipe), starting first if it does not run yet."""
        self.run("start-server", ";", "source-file", "-", stdin=("\n".join(commands) + "\n").encode("utf-8"),
                 starts_server=True)

    # --- sessions ----------------------------------------------------------------------------------------

    def new_session(
        self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str], width: int, height: int,
        history_limit: int, agent: str | None = None, secret_names: Sequence[str] = (),
        marks: Mapping[str, str] | None = None,
    ) -> None:
        """Create a detached session running `argv` (exec'd directly, no shell), with its own environment,
        marked as an agent's session (`agent`) or with other session options (`marks`).

        The pane remains after its program exits so its exit status and last screen can be read.
        """
        parts = ["new-session", "-d", "-s", tmux_quote(name), "-x", str(width), "-y", str(height),
                 "-c", tmux_quote(str(cwd))]
        for key, value in env.items():
            parts += ["-e", tmux_quote(f"{key}={value}")]
        parts += ["--", *(tmux_quote(arg) for arg in argv)]
        target = tmux_quote(f"={name}:")
        commands = [*self._scrub_global_env(),
            f"set-option -g history-limit {history_limit}",
            " ".join(parts),
            f"set-option -w -t {target} remain-on-exit on",
            # tmux copies DISPLAY, SSH_AUTH_SOCK and the like from every client that attaches into the
            # session, and a restart (respawn-pane) would pass them on: the session keeps what it was given
            f'set-option -t {target} update-environment ""',
        ]
        if agent is not None:
            commands.append(f"set-option -t {target} {AGENT_OPTION} {tmux_quote(agent)}")
        if secret_names:
            commands.append(f"set-option -t {target} {SECRETS_OPTION} {tmux_quote(' '.join(secret_names))}")
        for option, value in (marks or {}).items():
            commands.append(f"set-option -t {target} {option} {tmux_quote(value)}")
        self.source(commands)

    def _scrub_global_env(self) -> list[str]:
        """Commands that take out of the server's global environment what a minimal start would not have put
        there (a server started by hand, or by an older agentmux, inherited its starter's whole environment)."""
        if not self.is_running():
            return []
        ok, output = self.query("show-environment", "-g")
        if not ok:
            return []
        allowed = self.client_env
        names = [line.partition("=")[0] for line in output.splitlines() if "=" in line and not line.startswith("-")]
        return [f"set-environment -g -u {tmux_quote(name)}" for name in names if name not in allowed]

    def session_secrets(self, pane: PaneInfo) -> dict[str, str]:
        """The secret variables of an agent's session and their values, read from tmux; empty when it has
        none or is gone."""
        wanted, session = pane.secret_names, pane.session
        if not wanted:
            return {}
        replies = self.query_many([["show-environment", "-t", f"={session}:", name] for name in wanted])
        found = {}
        for name, (ok, text) in zip(wanted, replies, strict=True):
            if ok and text.startswith(f"{name}="):
                found[name] = text[len(name) + 1:]
        return found

    def has_session(self, name: str) -> bool:
        if not self.is_running():
            return False
        return self.run("has-session", "-t", f"={name}", check=False).returncode == 0

    def kill_session(self, name: str) -> None:
        if name == HIDDEN_SESSION:
            self.disconnect()
        if self.has_session(name):
            self.cmd("kill-session", "-t", f"={name}")

    def session_mark(self, name: str, option: str) -> str | None:
        """The value of the marker `option` on session `name` ('' when it has none), None when there is no
        such session."""
        if not self.is_running():
            return None
        result = self.run("list-sessions", "-F", f"#{{{option}}}\t#{{session_name}}", check=False)
        said = result.stderr.decode(errors="replace").strip()
        if result.returncode != 0 and not NO_SERVER_RE.search(said):
            raise TmuxError(f"tmux list-sessions: {said or 'failed'}")
        for line in result.stdout.decode(errors="replace").splitlines():
            value, _, session = line.partition("\t")
            if session == name:
                return value
        return None

    def respawn(self, pane_id: str, argv: Sequence[str], cwd: Path) -> None:
        """Run `argv` again in a pane whose program ended, in the session's environment as it was made (the
        agent's own variables and secrets included), with its scrollback kept."""
        command = " ".join(["respawn-pane", "-k", "-t", tmux_quote(pane_id), "-c", tmux_quote(str(cwd)), "--",
                            *(tmux_quote(arg) for arg in argv)])
        self.source([command])

    def make_way(self, name: str, option: str, value: str) -> None:
        """Before creating session `name`: an old one agentmux made (marked `option` = `value`) is killed;
        one it did not make is refused (ForeignSession), never killed."""
        mark = self.session_mark(name, option)
        if mark is None:
            return
        if mark != value:
            raise ForeignSession(self.socket, name)
        self.kill_session(name)

    def kill_own_session(self, name: str, option: str, value: str = "1") -> bool:
        """Kill session `name` if agentmux made it (marked `option` = `value`); True when it was killed."""
        if self.session_mark(name, option) != value:
            return False
        self.kill_session(name)
        return True

    def ensure_hidden_session(self) -> None:
        """The hidden session that control clients and `agentmux serve` attach to."""
        if not self.has_session(HIDDEN_SESSION):
            # -N: never start a server here; one that just went away must stay gone.
            self.run("-N", "new-session", "-d", "-s", HIDDEN_SESSION, "-x", "80", "-y", "24", "--",
                     "/bin/sh", "-c", "exec tail -f /dev/null", ";",
                     "set-option", "-t", f"={HIDDEN_SESSION}:", HIDDEN_OPTION, "1", check=False)

    def list_panes(self) -> list[PaneInfo]:
        """Every pane on the server in one call; empty when the server is not running."""
        if not self.is_running():
            return []
        ok, output = self.query("list-panes", "-a", "-F", PANE_FORMAT)
        if not ok:
            if NO_SERVER_RE.search(output) or not output.strip():
                return []
            raise TmuxError(f"tmux list-panes: {output.strip()}")
        return [PaneInfo.parse(line) for line in output.splitlines() if line]

    def pane_info(self, pane_id: str) -> PaneInfo | None:
        ok, output = self.query("display-message", "-p", "-t", pane_id, PANE_FORMAT)
        return PaneInfo.parse(output.rstrip("\n")) if ok else None

    # --- input -------------------------------------------------------------------------------------------

    def send_text(self, target: str, text: str, enter: bool = True) -> None:
        """Type text into a pane exactly as given: loaded into a buffer from stdin, pasted, then Enter.

        Bracketed paste (`-p`) is used when the program asked for it, so multi-line prompts arrive
        as one paste instead of one submission per line.
        """
        buffer = f"agentmux-{secrets.token_hex(6)}"
        args = ["load-buffer", "-b", buffer, "-", ";", "paste-buffer", "-p", "-d", "-b", buffer, "-t", target]
        if enter:
            args += [";", "send-keys", "-t", target, "Enter"]
        self.run(*args, stdin=text.encode("utf-8"))

    @staticmethod
    def reads_lines(pane: PaneInfo) -> bool:
        """Does the pane's program read input through the terminal's line editing (canonical mode), which keeps
        at most 4,095 bytes of a line? False when it cannot be told (then nothing is refused for it)."""
        if not pane.tty:
            return False
        try:
            fd = os.open(pane.tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            return bool(termios.tcgetattr(fd)[3] & termios.ICANON)
        except termios.error:
            return False
        finally:
            os.close(fd)

    def send_keys(self, target: str, *keys: str) -> None:
        """Send tmux key names (`C-c`, `Enter`, `y`)."""
        ok, output = self.query("send-keys", "-t", target, *keys)
        if not ok:
            raise TmuxError(f"tmux send-keys: {output.strip()}")

    # --- capture -----------------------------------------------------------------------------------------

    def capture_sized(self, requests: Iterable[CaptureRequest]) -> dict[str, tuple[tuple[int, int, int], str]]:
        """Like `capture`, each capture just after its pane's history size, height and width, read in the same
        round trip: the sizes the text was captured at (a `list-panes` read earlier may be a few lines old)."""
        pending = list(requests)
        commands: list[list[str]] = []
        for request in pending:
            commands += [["display-message", "-p", "-t", request.pane_id,
                          "#{history_size} #{pane_height} #{pane_width}"], request.command()]
        replies = self.query_many(commands) if pending else []
        found = {}
        for index, request in enumerate(pending):
            (sized, sizes), (ok, text) = replies[2 * index], replies[2 * index + 1]
            numbers = sizes.split()
            if sized and ok and len(numbers) == 3 and all(number.isdigit() for number in numbers):
                found[request.pane_id] = ((int(numbers[0]), int(numbers[1]), int(numbers[2])), text)
        return found

    def capture(self, requests: Iterable[CaptureRequest]) -> dict[str, str]:
        """Capture many panes in one round trip over the control connection; each capture gets its own
        reply, so a pane that vanished in between is simply left out."""
        pending = list(requests)
        replies = self.query_many([request.command() for request in pending]) if pending else []
        return {request.pane_id: text for request, (ok, text) in zip(pending, replies, strict=True) if ok}
