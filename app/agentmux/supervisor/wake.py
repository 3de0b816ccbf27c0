"""Waking the supervisor loop at once when a hook event comes, instead of at its next look.

Each running loop binds a datagram socket in Linux's abstract namespace (no file, so no limit of 108 bytes
on the state dir's path) named `agentmux-wake-TOKEN`, and notes TOKEN as an empty file in
STATE_DIR/run/wake/. `agentmux hook` sends one byte to the socket of every file there after recording an
event (agentmux/hook.py); the loop, which waits on its socket between looks, looks again at once. A note
left by a process that died is removed by the next loop that starts. Where the socket cannot be made the
loop just waits its interval.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
import threading
import time
from pathlib import Path

from agentmux.processes import process_alive


def wake_dir(state_dir: Path) -> Path:
    return state_dir / "run" / "wake"


ABSTRACT_PREFIX = "\0agentmux-wake-"


class Waker:
    def __init__(self, state_dir: Path) -> None:
        self.sock: socket.socket | None = None
        self.path: Path | None = None
        try:
            folder = wake_dir(state_dir)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for stale in folder.iterdir():
                pid = stale.name.split("-", 1)[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    with contextlib.suppress(OSError):
                        stale.unlink()
            token = f"{os.getpid()}-{secrets.token_hex(6)}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(ABSTRACT_PREFIX + token)
            sock.setblocking(False)
            self.path = folder / token
            self.path.touch()
            self.sock = sock
        except OSError:
            self.sock = None  # no wake-ups: the loop looks at its own pace

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait up to `timeout` seconds for a wake-up; True when one came (every pending one is taken).
        Without a socket, `stop` ends the wait early."""
        if self.sock is None:
            if stop is not None:
                stop.wait(max(0.0, timeout))
            else:
                time.sleep(max(0.0, timeout))
            return False
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError, OSError):
            while True:
                self.sock.recv(64)
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
