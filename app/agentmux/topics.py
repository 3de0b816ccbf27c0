"""Waking a process that waits for a change in the store, at once, instead of polling it.

A waiter binds a datagram socket in Linux's abstract namespace (no file: no 108-byte limit on the state dir's
path) named `agentmux-topic-TOKEN` and notes it as an empty file `TOPIC.TOKEN` in STATE_DIR/run/topics/, one per
topic it waits on (the coordination primitives': `lock:NAME`, `barrier:NAME`, `msg:AGENT`, `state`; the rate
limiter's: `key:NAME`); topics are hashed into file names. After
a change commits, the writer sends one byte to every socket noted for its topic (`notify`). A note whose socket
is gone (its process died) is removed by the first notify that finds it so. Without sockets a waiter still
looks again at its own pace (each primitive's wait bounds its sleep), so a wake-up is never what correctness
rests on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import select
import socket
from collections.abc import Iterable
from pathlib import Path

ABSTRACT_PREFIX = "\0agentmux-topic-"


def topics_dir(state_dir: Path) -> Path:
    return state_dir / "run" / "topics"


def topic_key(topic: str) -> str:
    return hashlib.sha1(topic.encode()).hexdigest()[:16]


class Listener:
    """A socket noted for some topics; `wait` returns when a change of one of them was notified."""

    def __init__(self, state_dir: Path, topics: Iterable[str]) -> None:
        self.sock: socket.socket | None = None
        self.notes: list[Path] = []
        try:
            folder = topics_dir(state_dir)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            token = f"{os.getpid()}-{secrets.token_hex(6)}"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(ABSTRACT_PREFIX + token)
            sock.setblocking(False)
            self.sock = sock
            for topic in topics:
                note = folder / f"{topic_key(topic)}.{token}"
                note.touch()
                self.notes.append(note)
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
        for note in self.notes:
            with contextlib.suppress(OSError):
                note.unlink()
        self.notes = []
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def notify(state_dir: Path, *topics: str) -> int:
    """Wake every process waiting on one of `topics`; how many sockets were sent to."""
    keys = {topic_key(topic) for topic in topics}
    folder = topics_dir(state_dir)
    try:
        entries = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return 0
    sent = 0
    sender: socket.socket | None = None
    try:
        for name in entries:
            key, _, token = name.partition(".")
            if key not in keys or not token:
                continue
            if sender is None:
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)
            try:
                sender.sendto(b"!", ABSTRACT_PREFIX + token)
                sent += 1
            except BlockingIOError:
                sent += 1  # its queue is full: it is awake anyway
            except OSError:  # nobody binds it: its process is gone
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
    finally:
        if sender is not None:
            sender.close()
    return sent
