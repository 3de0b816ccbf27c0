"""`agentmux doctor [--fix]`: checks of tmux, the config, secrets, the store, who dispatches and the socket, each
with how to fix it; `--fix` applies the fixes it can.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentmux import config as config_module
from agentmux.agents.lifecycle import Fleet
from agentmux.config import Config
from agentmux.errors import AgentmuxError, ConfigError
from agentmux.redact import MIN_MASKED
from agentmux.store import Store, StoreDamaged, StoreTooNew
from agentmux.tmux.backend import TmuxError

MIN_TMUX = (3, 2)

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

def cmd_doctor(args: argparse.Namespace, config_file: str | Path | None) -> int:
    doctor = Doctor(args.fix)
    check = doctor.check
    binary = shutil.which("tmux")
    version = tmux_version(binary) if binary else None
    if check(binary is not None, f"tmux found at {binary}" if binary else "tmux is not installed",
             "install tmux >= 3.2 (Debian/Ubuntu: sudo apt-get install tmux; macOS: brew install tmux)"):
        check(version is not None and version >= MIN_TMUX, f"tmux version {'.'.join(map(str, version or ()))}"
              " (3.2 or newer needed)", "upgrade tmux to 3.2 or newer")
    try:
        config = config_module.load(config_file)
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
        fleet = Fleet(config, store=store)
        try:
            check_dispatcher(store, check)
            check_waiting_agents(fleet, store, check)
            check_leftovers(fleet, doctor)
        finally:
            fleet.close()  # its tmux connection (a control client the process must not leave behind) and the store
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
    from agentmux.supervisor.lease import holder_gone
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
    server = TmuxServer(socket, config.settings.tmux_config)
    try:
        serving = (any(p.session == SERVE_SESSION and not p.dead for p in server.list_panes())
                   and server.session_mark(SERVE_SESSION, SERVE_OPTION) == "1")
    except TmuxError as exc:
        notes.append(f"whether `agentmux serve` runs could not be asked: {exc}")
    else:
        if serving:
            raise AgentmuxError(f"`agentmux serve` runs in tmux session {SERVE_SESSION} on socket {socket!r}: stop it "
                                f"first (`tmux -L {socket} kill-session -t {SERVE_SESSION}`, or `agentmux down`)")
    finally:
        server.close()
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
        try:
            sessions = [p for p in server.list_panes() if p.agent]
        finally:
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
    from agentmux.supervisor.lease import current_holder

    holder = current_holder(store, time.time())
    if holder is not None:
        check(True, f"queued tasks are dispatched by {holder}")
    elif Queue(store).agents_with_work():
        check(False, "tasks are queued but nobody dispatches them",
              "`agentmux up` starts the supervisor (or keep agentmux-tui open)")
    else:
        check(True, "no supervisor runs (nothing is queued; `agentmux up` starts one)")

def check_waiting_agents(fleet: Fleet, store: Store, check: Callable[..., bool]) -> None:
    """Tasks that wait for an agent that is not running: a problem, named with why the agent is down."""
    from agentmux.queue import Queue

    waiting = Queue(store).summary().depths
    if not waiting:
        return
    try:
        statuses = {status.name: status for status in fleet.status()}
    except AgentmuxError:
        return  # tmux cannot be asked: its own check says why
    for agent, count in sorted(waiting.items()):
        status = statuses.get(agent)
        tasks = f"{count} task{'s' if count != 1 else ''}"
        if status is None:
            check(False, f"{tasks} wait for {agent}, which is not configured",
                  f"`agentmux queue cancel ID` them, or add the agent (`agentmux add {agent} ...`)")
        elif not status.takes_tasks:
            check(False, f"{tasks} wait for {agent}, which is {status.state.value} ({status.reason})",
                  f"`agentmux up {agent}` starts it")


def check_leftovers(fleet: Fleet, doctor: Doctor) -> None:
    """Processes of agents that outlived their tmux session (a killed server): a problem `--fix` ends."""
    try:
        leftovers = fleet.leftovers()
    except AgentmuxError:
        return  # tmux cannot be asked: its own check says why
    def ender(name: str) -> Callable[[], list[str]]:
        return lambda: [f"ended pids {', '.join(map(str, fleet.end_leftovers(name)))} of {name}"]

    for name, pids in sorted(leftovers.items()):
        doctor.check(False, f"processes of {name} outlived its tmux session (pids {', '.join(map(str, pids))})",
                     "`agentmux down` (or `agentmux doctor --fix`) ends them", repair=ender(name))
