"""Which processes hold a file or a socket open, read from Linux /proc (elsewhere: unknown, None).

doctor uses it before it repairs something another process may be using: a store being written, the
tmux server listening on agentmux's socket.
"""

from __future__ import annotations

import os
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
