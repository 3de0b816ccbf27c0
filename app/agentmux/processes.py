"""Processes read from Linux /proc: who holds a file or socket open, and an agent's own processes.

doctor uses the first before it repairs something another process may be using (a store being written,
the tmux server listening on agentmux's socket). The second ends what outlived an agent's tmux session,
so two copies of an agent never run. A pane's program can outlive its pane: a program that ignores
SIGHUP keeps running when the tmux server is killed, and a program's own children can leave its process
group. agentmux finds them two ways: by the variables it sets in every agent's session
(`AGENTMUX_AGENT`, `AGENTMUX_SOCKET`), which children inherit whatever their group, and by the process
group of the pane recorded when the agent started (members started after that moment). Elsewhere than
Linux nothing is found (None where that matters).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

PROC = Path("/proc")
LISTENING = 0x10000
"""__SO_ACCEPTCON in the Flags column of /proc/net/unix: the socket listens."""


def holders(links: set[str]) -> list[int] | None:
    """Pids of the processes other than this one with a descriptor whose target is one of `links`
    (`/path/to/file`, `socket:[INODE]`); None when /proc cannot be read (not Linux)."""
    if not (PROC / "self" / "fd").is_dir():
        return None
    found = []
    for proc in PROC.iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in links:
                    found.append(int(proc.name))
                    break
        except OSError:  # gone meanwhile, or another user's process
            continue
    return sorted(found)


def listeners(path: Path) -> list[int] | None:
    """Pids of the processes holding the listening Unix socket bound at `path`; None when unknown."""
    try:
        lines = (PROC / "net" / "unix").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = set()
    for line in lines:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[7] == str(path) and int(fields[3], 16) & LISTENING:
            inodes.add(f"socket:[{fields[6]}]")
    return holders(inodes) if inodes else []


def describe(pid: int) -> str:
    """`pid 1234 (tmux: server)`: the pid and the process's name, as far as it can be read."""
    try:
        name = (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return f"pid {pid}"
    return f"pid {pid} ({name})"


def name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""



@cache
def _boot_time() -> float:
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state is [0], pgrp [2], start time (ticks) [19]."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()



def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)


def agent_processes(name: str, socket: str, pgid: int | None = None, started_at: float | None = None) -> list[int]:
    """Live processes (not zombies) of agent `name` on `socket`: tagged with its variables, or members of its
    pane's process group `pgid` that started at or after `started_at`."""
    return fleet_processes(socket, {name: (pgid, started_at)}).get(name, [])


def fleet_processes(socket: str, agents: Mapping[str, tuple[int | None, float | None]]) -> dict[str, list[int]]:
    """The live processes of each agent (by name: its pane's process group and start time, as recorded), in
    one walk of /proc; agents with none are left out."""
    if not PROC.is_dir() or not agents:
        return {}
    me = os.getpid()
    groups = {pgid: (name, started_at) for name, (pgid, started_at) in agents.items() if pgid is not None}
    found: dict[str, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        owner = None
        group = groups.get(int(fields[2]))
        if group is not None and (group[1] is None or
                                  _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK") >= group[1] - 1):
            owner = group[0]
        else:
            environ = _environ(pid)
            tagged = environ.get(b"AGENTMUX_AGENT")
            if tagged is not None and environ.get(b"AGENTMUX_SOCKET") == socket.encode():
                name = tagged.decode(errors="replace")
                owner = name if name in agents else None
        if owner is not None:
            found.setdefault(owner, []).append(pid)
    return {name: sorted(pids) for name, pids in found.items()}


def _alive(pids: Iterable[int]) -> list[int]:
    alive = []
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None and fields[0] not in ("Z", "X"):
            alive.append(pid)
    return alive


def end_processes(pids: Iterable[int], grace: float = 1.0) -> list[int]:
    """End processes the way closing a terminal and then `kill` would: SIGHUP, SIGTERM, then SIGKILL, each
    after `grace` seconds without effect. Returns those still alive (not ours to signal)."""
    left = _alive(pids)
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = _alive(left)
    return _alive(left)


def group_alive(pgid: int | None) -> bool:
    """Does a live (not zombie) process of the group still exist? (A pane's program that ignores SIGHUP
    outlives the pane's script, which tmux then shows as dead.)"""
    if pgid is None:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not PROC.is_dir():
        return True
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False

def process_alive(pid: int | None) -> bool:
    """Does a process with this pid exist (a zombie counts)?"""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
