"""The `agentmux` command: argument parsing and output only; the work is done by the services."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentmux import __version__
from agentmux import config as config_module
from agentmux.agents.lifecycle import Fleet, Outcome
from agentmux.agents.observer import format_age
from agentmux.config import AgentSpec, Config
from agentmux.errors import AgentmuxError, ConfigError, UnknownAgent, UsageError, one_line
from agentmux.paths import user_config_path
from agentmux.redact import MIN_MASKED
from agentmux.store import Store, StoreDamaged, StoreTooNew, is_damage
from agentmux.tmux.backend import TmuxError

MIN_TMUX = (3, 2)


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        # Python before 3.13 drops a "--" given as an option's value (`--if-output=--` became []): keep it
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def build_parser() -> Parser:
    parser = Parser(prog="agentmux", description="Supervise a fleet of AI coding agents in tmux.")
    parser.add_argument("--config", metavar="FILE", help="config file (default: ./agentmux.toml, "
                        "else $XDG_CONFIG_HOME/agentmux/config.toml)")
    parser.add_argument("--version", action="version", version=f"agentmux {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("init", help="write a commented starter config file")
    p.add_argument("--here", action="store_true", help="write ./agentmux.toml instead of the per-user file")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = sub.add_parser("up", help="start agents (default: every agent with autostart) and the supervisor")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--no-serve", action="store_true",
                   help="do not start the headless supervisor that dispatches queued tasks")

    p = sub.add_parser("down", help="stop agents gracefully (default: all running, and the supervisor)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--force", action="store_true", help="kill at once instead of asking the agent to quit")

    p = sub.add_parser("restart", help="stop and start an agent")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("add", help="add an agent to the config in use")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--command", default="", help="the program to run (a /bin/sh command line)")
    p.add_argument("--kind", default="command", help="agent kind (default: command)")
    p.add_argument("--cwd", help="working directory (default: the current directory)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable")
    p.add_argument("--secret", action="append", default=[], metavar="KEY=REF",
                   help="secret by reference: KEY=env:VARIABLE or KEY=file:PATH")
    p.add_argument("--init", action="append", default=[], metavar="CMD", help="init command (repeatable)")
    p.add_argument("--cleanup", action="append", default=[], metavar="CMD", help="cleanup command (repeatable)")
    p.add_argument("--no-autostart", action="store_true", help="do not start with a plain `agentmux up`")
    p.add_argument("--start", action="store_true", help="start the agent right away")

    p = sub.add_parser("rm", help="stop an agent, run its cleanup, and remove it from the config")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("ls", help="list agents with their state")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("send", help="type text into an agent (or --all) and press Enter")
    p.add_argument("--all", action="store_true", help="send to every running agent")
    p.add_argument("--no-enter", action="store_true", help="do not press Enter after the text")
    p.add_argument("words", nargs="+", metavar="NAME|TEXT", help="NAME TEXT..., or TEXT... with --all; "
                   "TEXT '-' reads standard input")

    p = sub.add_parser("attach", help="attach to an agent's tmux session (detach with your tmux prefix, d)")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("serve", help="run the supervisor in the foreground: follow states, dispatch queued "
                       "tasks (while no other process does) until Ctrl-C")
    p.add_argument("--interval", type=float, default=0.1,
                   help="seconds between looks while tasks are out (default 0.1; 0.25 when none are)")

    p = sub.add_parser("doctor", help="check tmux, the config, the store and the socket")
    p.add_argument("--fix", action="store_true", help="apply the fixes doctor offers as `agentmux doctor --fix` "
                   "(a damaged store, a tmux server that does not answer, a stale socket file)")

    p = sub.add_parser("queue", help="per-agent command queues: add, ls, show, cancel, retry, pause, resume")
    queue = p.add_subparsers(dest="queue_command", metavar="ACTION", parser_class=Parser, required=True)
    q = queue.add_parser("add", help="queue TEXT for agent NAME")
    q.add_argument("name", metavar="NAME")
    q.add_argument("text", metavar="TEXT", help="what to type into the agent ('-' reads standard input)")
    q.add_argument("--priority", type=int, default=0, help="higher goes first (default 0)")
    q.add_argument("--after", type=int, action="append", default=[], metavar="ID",
                   help="wait for task ID to end first (repeatable; on any agent)")
    q.add_argument("--when", choices=["success", "failure", "always"], default="success",
                   help="run after the tasks it waits for succeeded (default), failed, or either")
    q.add_argument("--if-output", metavar="REGEX", help="run only if REGEX matches their output")
    q.add_argument("--timeout", type=float, metavar="S", help="fail the task after S seconds")
    q.add_argument("--retries", type=int, default=0, metavar="N", help="retry a failure N times with backoff")
    q = queue.add_parser("ls", help="list tasks (of NAME, or all)")
    q.add_argument("name", nargs="?", metavar="NAME")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--all", action="store_true", help="include ended tasks (default: the last 20 ended too)")
    q = queue.add_parser("show", help="one task with its result")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("cancel", "cancel a task that has not ended"),
                         ("retry", "put a failed, cancelled or skipped task back in the queue")):
        q = queue.add_parser(action, help=text)
        q.add_argument("id", type=int, metavar="ID")
    q = queue.add_parser("prio", help="give waiting task ID priority N")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("priority", type=int, metavar="N")
    q = queue.add_parser("after", help="make waiting task ID also wait for task DEP (cycles refused)")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("dep", type=int, metavar="DEP")
    for action, text in (("pause", "hold an agent's queue"), ("resume", "let an agent's queue run again")):
        q = queue.add_parser(action, help=text)
        q.add_argument("name", metavar="NAME")

    p = sub.add_parser("demo-agent", help="run the built-in simulated agent in this terminal")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


# --- output helpers --------------------------------------------------------------------------------------

def ago(timestamp: float | None, now: float) -> str:
    return format_age(None if timestamp is None else now - timestamp)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def report(outcomes: Sequence[Outcome]) -> int:
    """Print what each operation did (failures on standard error, one line each); the exit code."""
    for outcome in outcomes:
        if outcome.ok:
            print(outcome.message)
        else:
            print(f"agentmux: {one_line(outcome.message)}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


# --- commands --------------------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    if args.config:
        path = Path(args.config).expanduser()
    elif args.here:
        path = Path.cwd() / "agentmux.toml"
    else:
        path = user_config_path()
    config_module.write_starter(path, force=args.force)
    print(f"wrote {path}\nnext: `agentmux up` starts its agents, `agentmux-tui` shows them")
    return 0


def each(fleet: Fleet, names: Sequence[str], action: Callable[[str], Outcome]) -> list[Outcome]:
    """Apply an action to several agents; one agent's failure is reported and the rest still run."""
    from agentmux.tmux.backend import ServerWedged

    outcomes = []
    for name in names:
        try:
            outcomes.append(action(name))
        except AgentmuxError as exc:
            if isinstance(exc, UsageError | ServerWedged):  # not this agent's problem: said once
                raise
            message = str(exc)
            outcomes.append(Outcome(name, message if message.startswith(name) else f"{name}: {message}", ok=False))
    return outcomes


def cmd_up(fleet: Fleet, args: argparse.Namespace) -> int:
    names = args.names or [spec.name for spec in fleet.config.agents if spec.autostart]
    for name in names:
        fleet.config.agent(name)
    if not fleet.config.agents:
        print(f"no agents to start (add one with `agentmux add NAME --command CMD`; config: {fleet.config.path})")
        return 0
    if not names:
        print("no agents with autostart (start one with `agentmux up NAME`)")
    outcomes = each(fleet, names, fleet.start)
    # the supervisor runs whenever agents are configured (queued tasks are dispatched even if none was started
    # now), unless every start asked for failed
    if not args.no_serve and (not outcomes or any(o.ok for o in outcomes)):
        from agentmux.supervisor import start_serve
        from agentmux.tmux.backend import SERVE_SESSION, ForeignSession

        try:
            if start_serve(fleet):
                outcomes.append(Outcome(SERVE_SESSION, "started the supervisor (dispatches queued tasks; tmux -L "
                                        f"{fleet.config.settings.socket} attach -t {SERVE_SESSION} shows it)"))
        except ForeignSession as exc:
            outcomes.append(Outcome(SERVE_SESSION, f"the supervisor was not started: {exc}", ok=False))
    return report(outcomes)


def cmd_down(fleet: Fleet, args: argparse.Namespace) -> int:
    names = args.names or [s.name for s in fleet.status() if s.state.is_live]
    known = set(fleet.config.names()) | {r.name for r in fleet.store.agents()}
    for name in names:
        if name not in known:
            raise UnknownAgent(name)
    outcomes = each(fleet, names, lambda name: fleet.stop(name, force=args.force))
    if not args.names:
        from agentmux.supervisor import stop_serve

        if stop_serve(fleet):
            outcomes.append(Outcome("serve", "stopped the supervisor (queued tasks wait for the next `agentmux up`)"))
    if not outcomes:
        print("no agents are running")
    return report(outcomes)


def cmd_add(fleet: Fleet, args: argparse.Namespace) -> int:
    table_ = {"name": args.name, "kind": args.kind, "cwd": args.cwd or os.getcwd()}
    if args.command:
        table_["command"] = args.command
    env, secrets = config_module.parse_pairs(args.env, "--env"), config_module.parse_pairs(args.secret, "--secret")
    for key in env:
        if key in secrets:
            raise UsageError(f"{key} is given both as --env and as --secret: give it once")
    for key, value in (("env", env), ("secrets", secrets), ("init", args.init), ("cleanup", args.cleanup)):
        if value:
            table_[key] = value
    if args.no_autostart:
        table_["autostart"] = False
    spec = validate_new_agent(fleet.config, table_)
    outcomes = [fleet.add(spec)]
    if args.start:
        outcomes.append(fleet.start(spec.name))
    return report(outcomes)


def validate_new_agent(config: Config, table_: dict[str, object]) -> AgentSpec:
    """Check a new agent exactly as the file will be checked, reporting errors against the command line."""
    try:
        return config_module.agent_from_table(config, table_)
    except ConfigError as exc:
        raise UsageError(f"agent {table_['name']!r}: {exc.key}: {exc.reason}" if exc.key else exc.reason) from None


def cmd_ls(fleet: Fleet, args: argparse.Namespace) -> int:
    statuses = fleet.status()
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
        return 0
    if not statuses:
        print(f"no agents (add one with `agentmux add NAME --command CMD`; config: {fleet.config.path})")
        return 0
    now = time.time()
    from agentmux.queue import Queue

    waiting = Queue(fleet.store).waiting_counts()
    rows = [["NAME", "KIND", "STATE", "FOR", "PID", "OUTPUT", "RESTARTS", "DETAIL"]]
    for s in statuses:
        detail = s.reason + ("" if s.in_config else " (not in config)")
        if not s.state.is_live and waiting.get(s.name):
            count = waiting[s.name]
            detail += f"; {count} task{'s' if count != 1 else ''} wait for it"
        pid = str(s.pid) if s.pid and s.process_alive else "-"
        rows.append([s.name, s.kind, s.state.value, ago(s.since, now), pid, ago(s.last_output_at, now),
                     str(s.restarts), detail])
    print(table(rows))
    return 0


def known_agent(fleet: Fleet, name: str) -> str:
    """The name, if the store or the config knows it; else the config's error (which names the file)."""
    if fleet.store.agent(name) is None:
        fleet.config.agent(name)
    return name



def read_stdin() -> str:
    """Standard input as text: all of it, exactly, or one line saying where it is not UTF-8."""
    from agentmux.agents.delivery import decode_input

    return decode_input(sys.stdin.buffer.read())


def cmd_send(fleet: Fleet, args: argparse.Namespace) -> int:
    words = list(args.words)
    if args.all:
        names = [s.name for s in fleet.status() if s.state.is_live]
    else:
        if len(words) < 2:
            raise UsageError("send needs NAME and TEXT (or --all TEXT)")
        names = [known_agent(fleet, words.pop(0))]
    text = read_stdin() if words == ["-"] else " ".join(words)
    if not args.no_enter:
        text = text.rstrip("\n")  # `echo TEXT | agentmux send NAME -`: Enter once, not twice
    if not names:
        raise AgentmuxError("no agents are running")
    return report(each(fleet, names, lambda name: fleet.send(name, text, enter=not args.no_enter)))


def cmd_attach(fleet: Fleet, args: argparse.Namespace) -> int:
    from agentmux.tmux.attach import plan_attach

    pane = fleet.pane(known_agent(fleet, args.name))
    if pane is None:
        raise AgentmuxError(f"{args.name} has no tmux session (start it with `agentmux up {args.name}`)")
    plan = plan_attach(fleet.tmux.base_args, fleet.config.settings.socket, pane.session)
    if plan.how == "attach":
        fleet.close()
        os.execvp(plan.argv[0], plan.argv)
    result = subprocess.run(plan.argv)
    return 0 if result.returncode == 0 else 1


def cmd_serve(fleet: Fleet, args: argparse.Namespace) -> int:
    import signal

    from agentmux.supervisor import Supervisor

    if not args.interval > 0:
        raise UsageError("--interval must be a number of seconds above 0")
    supervisor = Supervisor(fleet, interval=args.interval)

    def say(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    supervisor.on_state_change = lambda name, detected: say(f"{name}: {detected.state.value} ({detected.reason})")
    supervisor.supervision.dispatcher.on_event = say
    supervisor.supervision.restarter.on_event = say
    supervisor.on_lease_change = lambda holding, other: say(
        "dispatching queued tasks" if holding else f"standing by: {other or 'another process'} dispatches")
    supervisor.on_config_change = lambda change: say(
        change.problem or f"config {fleet.config.path} read again: {len(fleet.config.agents)} agents")
    for sig in (signal.SIGTERM, signal.SIGHUP):  # closing its tmux session: leave cleanly, lease released
        signal.signal(sig, lambda *_: supervisor.stop())
    say(f"supervising {len(fleet.config.agents)} agents on socket {fleet.config.settings.socket!r} "
        f"as {supervisor.supervision.holder}; Ctrl-C to stop (agents keep running)")
    with contextlib.suppress(KeyboardInterrupt):
        supervisor.run()
    return 0


# --- doctor ----------------------------------------------------------------------------------------------

def tmux_version(binary: str) -> tuple[int, int] | None:
    try:
        output = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else None


class Doctor:
    """Checks printed one per line (`ok` or `FAIL` with its fix); with --fix, the fixes it can apply itself."""

    def __init__(self, fix: bool) -> None:
        self.fix = fix
        self.problems = 0
        self.fixed = 0

    def check(self, ok: bool, what: str, fix: str = "", repair: Callable[[], Sequence[str]] | None = None) -> bool:
        """Print one check; a failed one with a `repair` is repaired under --fix. True when all is well now."""
        print(f"{'ok ' if ok else 'FAIL'}  {what}")
        if ok:
            return True
        if fix:
            print(f"      fix: {fix}")
        if repair is not None and self.fix:
            try:
                lines = repair()
            except AgentmuxError as exc:
                print(f"      not fixed: {exc}")
            else:
                for number, line in enumerate(lines):
                    print(f"      fixed: {line}" if number == 0 else f"        {line}")
                self.fixed += 1
                return True
        self.problems += 1
        return False

    def note(self, what: str) -> None:
        print(f"      {what}")

    def summary(self) -> int:
        fixed = f"{self.fixed} problem(s) fixed; " if self.fixed else ""
        print(fixed + ("all checks passed" if not self.problems else f"{self.problems} problem(s) found"))
        return 0 if not self.problems else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    doctor = Doctor(args.fix)
    check = doctor.check
    binary = shutil.which("tmux")
    version = tmux_version(binary) if binary else None
    if check(binary is not None, f"tmux found at {binary}" if binary else "tmux is not installed",
             "install tmux >= 3.2 (Debian/Ubuntu: sudo apt-get install tmux; macOS: brew install tmux)"):
        check(version is not None and version >= MIN_TMUX, f"tmux version {'.'.join(map(str, version or ()))}"
              " (3.2 or newer needed)", "upgrade tmux to 3.2 or newer")
    try:
        config = config_module.load(args.config)
    except ConfigError as exc:
        check(False, f"config: {exc}", "edit the file at the line shown")
        return 1
    check(True, f"config {config.path}" + ("" if config.exists else " (not created yet; defaults in use)")
          + f": {len(config.agents)} agents")
    for spec in config.agents:
        for variable, reference in spec.secrets.items():
            from agentmux.agents.secrets import resolve_secret
            try:
                value = resolve_secret(spec.name, variable, reference)
            except AgentmuxError as exc:
                check(False, str(exc), "set the variable or create the file before starting the agent")
            else:
                if len(value) < MIN_MASKED:
                    print(f"note  agent {spec.name!r}: secret {variable} is shorter than {MIN_MASKED} characters, "
                          "so it is not masked in what agentmux keeps of the agent's output")
    store = doctor_store(doctor, config)
    if store is not None:
        check_dispatcher(store, check)
        check_waiting_agents(config, store, check)
        store.close()
    if binary:
        doctor_tmux(doctor, config)
    return doctor.summary()


def doctor_store(doctor: Doctor, config: Config) -> Store | None:
    """Check the store; a damaged one is recovered under --fix. The open store when it is usable."""
    path = config.store_path
    try:
        store = Store(path)
    except StoreTooNew as exc:
        doctor.check(False, str(exc), "install a newer agentmux (the store is not damaged, and is left alone)")
        return None
    except StoreDamaged as exc:
        damage = exc.reason
    except AgentmuxError as exc:
        doctor.check(False, str(exc), f"make {config.settings.state_dir} writable, or set state_dir in the config")
        return None
    else:
        found = store.damage()
        if found is None:
            mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
            doctor.check(mode == "wal", f"store {path} (schema {store.schema_version}, journal {mode})",
                         "the store's folder must be on a local file system that supports WAL")
            return store
        store.close()
        damage = found
    fixed = doctor.check(
        False, f"store {path} is damaged: {damage}",
        f"`agentmux doctor --fix` moves it (with its -wal and -shm) to {path.name}.damaged-YYYYmmdd-HHMMSS, "
        "kept as a backup, and copies every row that can still be read into a new store; stop every agentmux "
        "process first (agentmux-tui, `agentmux serve`)",
        repair=lambda: repair_store(config))
    if not fixed:
        return None
    return doctor_store(doctor, config)


def repair_store(config: Config) -> list[str]:
    """Recover the damaged store, after making sure no other agentmux process may be writing it."""
    from agentmux.queue.model import SUPERVISOR_LEASE
    from agentmux.recovery import open_by_others, recover
    from agentmux.supervisor import holder_gone
    from agentmux.tmux.backend import SERVE_OPTION, SERVE_SESSION, TmuxServer

    path = config.store_path
    notes = []
    lease = read_damaged(path, "SELECT holder, expires_at FROM leases WHERE name = ?", (SUPERVISOR_LEASE,))
    if lease is None:
        notes.append("the supervisor lease could not be read")
    elif lease and float(str(lease[0][1])) > time.time() and not holder_gone(str(lease[0][0])):
        raise AgentmuxError(f"{lease[0][0]} holds the supervisor lease of this store and may be writing it: stop it "
                            "first (quit agentmux-tui, or `agentmux down`)")
    socket = config.settings.socket
    try:
        server = TmuxServer(socket, config.settings.tmux_config)
        serving = (any(p.session == SERVE_SESSION and not p.dead for p in server.list_panes())
                   and server.session_mark(SERVE_SESSION, SERVE_OPTION) == "1")
        server.close()
    except TmuxError as exc:
        notes.append(f"whether `agentmux serve` runs could not be asked: {exc}")
    else:
        if serving:
            raise AgentmuxError(f"`agentmux serve` runs in tmux session {SERVE_SESSION} on socket {socket!r}: stop it "
                                f"first (`tmux -L {socket} kill-session -t {SERVE_SESSION}`, or `agentmux down`)")
    if open_by_others(path) is None:
        notes.append("which processes have the store open cannot be checked here (no /proc)")
    recovery = recover(path)
    kept = " (with its -wal and -shm)" if Path(f"{recovery.backup}-wal").exists() else ""
    return [f"the damaged store is kept as {recovery.backup}{kept}; a new store is in place (leases not copied)",
            *(["its header (the first 100 bytes) was garbage and was written anew to read the rest"]
              if recovery.header_rebuilt else []),
            *(rescue.describe() for rescue in recovery.tables),
            *(f"task {task_id} is skipped: a task it waits for could not be read" for task_id in recovery.skipped),
            *(f"note: {note}" for note in notes)]


def read_damaged(path: Path, query: str, values: tuple[object, ...]) -> list[tuple[object, ...]] | None:
    """Rows of a query on a damaged store, read-only (the file is left as it is); None when unreadable."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return db.execute(query, values).fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()


def doctor_tmux(doctor: Doctor, config: Config) -> None:
    from agentmux.tmux.backend import ServerState, TmuxServer, socket_path

    socket = config.settings.socket
    server = TmuxServer(socket, config.settings.tmux_config)
    path = socket_path(socket)
    health = server.health()
    if health.state is ServerState.RUNNING:
        sessions = [p for p in server.list_panes() if p.agent]
        server.close()
        doctor.check(True, f"tmux server on socket {socket!r} ({path}) is running with {len(sessions)} agent sessions")
    elif health.state is ServerState.WEDGED:
        doctor.check(False, f"the tmux server on socket {socket!r} ({path}) does not answer: tmux said: {health.said}",
                     server.wedged_fix() + "; `agentmux doctor --fix` does it after checking again",
                     repair=lambda: [server.end_wedged()])
    else:
        doctor.check(True, f"socket {socket!r} ({path}): no tmux server running; `agentmux up` starts one")
        if health.state is ServerState.STALE:
            if not doctor.fix:
                doctor.note(f"{path} is left from a server that exited (harmless: tmux replaces it); "
                            "`agentmux doctor --fix` removes it")
            elif server.remove_stale_socket():
                doctor.note(f"fixed: removed {path}, left from a server that exited")
    if path.parent.exists() and path.parent.stat().st_mode & 0o077:
        doctor.check(False, f"{path.parent} is readable by other users", f"chmod 700 {path.parent}")


def check_dispatcher(store: Store, check: Callable[..., bool]) -> None:
    """Who dispatches queued tasks; a problem only when tasks wait and nobody does."""
    from agentmux.queue import Queue
    from agentmux.queue.model import SUPERVISOR_LEASE
    from agentmux.supervisor import holder_gone

    lease = store.lease(SUPERVISOR_LEASE)
    holder = lease[0] if lease and lease[1] > time.time() and not holder_gone(lease[0]) else None
    if holder is not None:
        check(True, f"queued tasks are dispatched by {holder}")
    elif Queue(store).agents_with_work():
        check(False, "tasks are queued but nobody dispatches them",
              "`agentmux up` starts the supervisor (or keep agentmux-tui open)")
    else:
        check(True, "no supervisor runs (nothing is queued; `agentmux up` starts one)")


def check_waiting_agents(config: Config, store: Store, check: Callable[..., bool]) -> None:
    """Tasks that wait for an agent that is not running: a problem, named with why the agent is down."""
    from agentmux.queue import Queue

    waiting = Queue(store).waiting_counts()
    if not waiting:
        return
    try:
        statuses = {status.name: status for status in Fleet(config, store=store).status()}
    except AgentmuxError:
        return  # tmux cannot be asked: its own check says why
    for agent, count in sorted(waiting.items()):
        status = statuses.get(agent)
        tasks = f"{count} task{'s' if count != 1 else ''}"
        if status is None:
            check(False, f"{tasks} wait for {agent}, which is not configured",
                  f"`agentmux queue cancel ID` them, or add the agent (`agentmux add {agent} ...`)")
        elif not status.state.is_live:
            check(False, f"{tasks} wait for {agent}, which is {status.state.value} ({status.reason})",
                  f"`agentmux up {agent}` starts it")


# --- entry point -----------------------------------------------------------------------------------------

def agents_down(fleet: Fleet) -> dict[str, str]:
    """Why each agent that is not running is down (`builder is error: exited with status 1`), by name."""
    return {status.name: f"{status.name} is {status.state.value}: {status.reason}"
            for status in fleet.status() if not status.state.is_live}


def cmd_queue(fleet: Fleet, args: argparse.Namespace) -> int:
    from agentmux.queue import Queue, Task, TaskState

    queue = Queue(fleet.store)
    action = args.queue_command

    def line(task: Task) -> str:
        waits = f" after {','.join(map(str, task.after))} ({task.run_when})" if task.after else ""
        return f"task {task.id} for {task.agent}: {task.state.value}{waits}"

    if action == "add":
        text = read_stdin() if args.text == "-" else args.text
        fleet.kind(args.name).check_task(text)  # an unknown agent, or a text its kind cannot take: now
        task = queue.add(args.name, text, priority=args.priority, after=args.after,
                         when=args.when, if_output=args.if_output, timeout=args.timeout, retries=args.retries)
        print(line(task))
        return 0
    if action == "ls":
        tasks = queue.tasks(known_agent(fleet, args.name) if args.name else None)
        ended = sorted((t for t in tasks if t.state.ended), key=lambda t: t.finished_at or t.updated_at)
        tasks = [t for t in tasks if not t.state.ended] + (ended if args.all else ended[-20:])
        if args.json:
            print(json.dumps([t.as_json() for t in tasks], indent=2))
            return 0
        if not tasks:
            print("no tasks (add one with `agentmux queue add NAME TEXT`)")
            return 0
        now = time.time()
        paused = queue.paused_agents()
        down = agents_down(fleet)
        rows = [["ID", "AGENT", "STATE", "PRI", "AFTER", "TRIES", "AGE", "TEXT", "DETAIL"]]
        for t in tasks:
            after = ",".join(map(str, t.after)) + (f" {t.run_when}" if t.after else "") or "-"
            text = t.text.replace("\n", " ")
            detail = t.reason + (" (queue paused)" if t.agent in paused and not t.state.ended else "")
            if t.state in (TaskState.QUEUED, TaskState.READY) and t.agent in down:
                detail = "; ".join(part for part in (detail, f"waits: {down[t.agent]}") if part)
            rows.append([str(t.id), t.agent, t.state.value, str(t.priority), after, str(t.attempts),
                         ago(t.created_at, now), text[:40] + ("…" if len(text) > 40 else ""), detail])
        print(table(rows))
        return 0
    if action == "show":
        task = queue.get(args.id)
        if args.json:
            history = [{"at": event.at, "message": event.message} for event in queue.events(task.id)]
            print(json.dumps({**task.as_json(), "history": history}, indent=2))
            return 0
        print(line(task))
        print(f"priority {task.priority} · attempts {task.attempts} (retries allowed {task.retries})"
              + (f" · timeout {task.timeout:g}s" if task.timeout else "")
              + (f" · if output matches {task.if_output!r}" if task.if_output else ""))
        if task.reason:
            print(f"reason: {task.reason}")
        print(f"text: {task.text}")
        events = queue.events(task.id)
        if events:
            print("history:")
            for event in events:
                print(f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(event.at))}  {event.message}")
        print("result:" + ("\n" + task.result if task.result else
                           " (nothing printed)" if task.state.ended else " (none yet)"))
        return 0
    if action in ("cancel", "retry"):
        task = queue.cancel(args.id) if action == "cancel" else queue.retry(args.id)
        print(line(task))
        return 0
    if action == "after":
        print(line(queue.add_dependency(args.id, args.dep)))
        return 0
    if action == "prio":
        task = queue.set_priority(args.id, args.priority)
        print(f"{line(task)}, priority {task.priority}")
        return 0
    name = known_agent(fleet, args.name)
    if action == "pause":
        queue.pause(name)
        print(f"{name}: queue paused (nothing is sent to it until `agentmux queue resume {name}`)")
    else:
        queue.resume(name)
        print(f"{name}: queue resumed")
    return 0


FLEET_COMMANDS: dict[str, Callable[[Fleet, argparse.Namespace], int]] = {
    "up": cmd_up, "down": cmd_down, "add": cmd_add, "ls": cmd_ls, "send": cmd_send, "attach": cmd_attach,
    "serve": cmd_serve, "queue": cmd_queue,
    "restart": lambda fleet, args: report([fleet.restart(fleet.config.agent(args.name).name)]),
    "rm": lambda fleet, args: report([fleet.remove(args.name)]),
}


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.subcommand is None:
        build_parser().print_help()
        raise UsageError("give a command (the list is above)")
    if args.subcommand == "init":
        return cmd_init(args)
    if args.subcommand == "doctor":
        return cmd_doctor(args)
    if args.subcommand == "demo-agent":
        from agentmux import demo

        return demo.main(args.args)
    fleet = Fleet(config_module.load(args.config, must_exist=args.subcommand != "add"))
    try:
        return FLEET_COMMANDS[args.subcommand](fleet, args)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):  # a damaged page is found by whichever command first reads it
            raise StoreDamaged(fleet.store.path, str(exc)) from None
        raise
    finally:
        fleet.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except AgentmuxError as exc:
        print(f"agentmux: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("agentmux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one readable line, never a traceback
        if os.environ.get("AGENTMUX_DEBUG"):
            raise
        print(f"agentmux: internal error: {type(exc).__name__}: {one_line(str(exc))} (run with AGENTMUX_DEBUG=1 for "
              "details)",
              file=sys.stderr)
        return 1
