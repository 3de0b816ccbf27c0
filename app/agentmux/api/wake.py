"""Waking a process that waits for the rate limiter, at once, instead of polling the store.

The idea of coord/wake.py (a sibling layer, so not imported): a waiter binds a datagram socket in Linux's
abstract namespace named `agentmux-api-TOKEN` and notes it as an empty file `KEYHASH.TOKEN` in
STATE_DIR/run/api/; after a permit is granted, settled, cancelled or refused, the writer sends one byte to every
socket noted for that key. A note whose socket is gone is removed by the first notify that finds it so. A waiter
never rests on a wake-up: it looks again after a bounded pause anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import select
import socket
from pathlib import Path

ABSTRACT_PREFIX = "\0agentmux-api-"


def wake_dir(state_dir: Path) -> Path:
    return state_dir / "run" / "api"


def topic_key(topic: str) -> str:
    return hashlib.sha1(topic.encode()).hexdigest()[:16]


class Listener:
    """A socket noted for one topic; `wait` returns when a change of it was notified."""

    def __init__(self, state_dir: Path, topic: str) -> None:
        self.sock: socket.socket | None = None
        self.note: Path | None = None
        try:
            folder = wake_dir(state_dir)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            token = f"{os.getpid()}-{secrets.token_hex(6)}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(ABSTRACT_PREFIX + token)
            sock.setblocking(False)
            self.sock = sock
            self.note = folder / f"{topic_key(topic)}.{token}"
            self.note.touch()
        except OSError:
            self.close()

    def wait(self, timeout: float) -> bool:
        """Up to `timeout` seconds; True when woken (every pending wake-up is taken)."""
        timeout = max(0.0, timeout)
        if self.sock is None:
            select.select([], [], [], timeout)
            return False
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(OSError):
            while True:
                self.sock.recv(64)
        return True

    def close(self) -> None:
        if self.note is not None:
            with contextlib.suppress(OSError):
                self.note.unlink()
            self.note = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def notify(state_dir: Path, topic: str) -> int:
    """Wake every process waiting on `topic`; how many sockets were sent to."""
    key = topic_key(topic)
    folder = wake_dir(state_dir)
    try:
        entries = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return 0
    sent = 0
    sender: socket.socket | None = None
    try:
        for name in entries:
            note_key, _, token = name.partition(".")
            if note_key != key or not token:
                continue
            if sender is None:
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)
            try:
                sender.sendto(b"!", ABSTRACT_PREFIX + token)
                sent += 1
            except BlockingIOError:
                sent += 1
            except OSError:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
    finally:
        if sender is not None:
            sender.close()
    return sent
