"""Waking the supervisor loop at once when a hook event comes, instead of at its next look.

Each running loop binds a datagram socket in STATE_DIR/run/wake/; `agentmux hook` sends one byte to every
socket there after recording an event (agentmux/hook.py), and the loop, which waits on its socket between
looks, looks again at once. A socket left by a process that died is removed by the next loop that starts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
from pathlib import Path

from agentmux.processes import process_alive


def wake_dir(state_dir: Path) -> Path:
    return state_dir / "run" / "wake"


class Waker:
    def __init__(self, state_dir: Path) -> None:
        folder = wake_dir(state_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in folder.glob("*.sock"):
            pid = stale.name.split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                with contextlib.suppress(OSError):
                    stale.unlink()
        self.path = folder / f"{os.getpid()}-{secrets.token_hex(3)}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a wake-up; True when one came (every pending one is taken)."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError, OSError):
            while True:
                self.sock.recv(64)
        return True

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
