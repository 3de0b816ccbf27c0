"""The supervisor lease: who dispatches. Exactly one process holds it at a time (a row with an expiry in the
store): the TUI when nobody else does, or the headless `agentmux serve` that `agentmux up` starts. Every
other process is a viewer. A holder that dies is replaced at once when it ran on this machine (its pid is
gone), else when its lease expires. Every check of who holds it is here (ARCHITECTURE.md, "The lease")."""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass

from agentmux.processes import process_alive
from agentmux.queue.model import SUPERVISOR_LEASE
from agentmux.store import Store
from agentmux.supervisor.timing import LEASE_TTL, RENEW_EVERY

HOLDER_RE = re.compile(r"(?P<role>\S+) pid (?P<pid>\d+) on (?P<host>\S+) \((?P<token>[^)]*)\)")


@dataclass(frozen=True)
class Holder:
    """A process that holds (or asks for) the lease, written `serve pid 1234 on host (token)`: readable by
    people in `doctor` and the TUI, unique per process start (the token)."""

    role: str
    pid: int
    host: str
    token: str

    @classmethod
    def here(cls, role: str) -> Holder:
        """This process, in a role (`serve`, `tui`)."""
        return cls(role, os.getpid(), socket.gethostname(), secrets.token_hex(3))

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        match = HOLDER_RE.fullmatch(text)
        if match is None:
            return None
        return cls(match["role"], int(match["pid"]), match["host"], match["token"])

    def __str__(self) -> str:
        return f"{self.role} pid {self.pid} on {self.host} ({self.token})"

    @property
    def gone(self) -> bool:
        """It ran on this machine and its process no longer exists (elsewhere: cannot tell; wait for expiry)."""
        return self.host == socket.gethostname() and not process_alive(self.pid)

    def label(self, here_host: str | None = None) -> str:
        """As a person wants it: `serve pid 123`, with the host only when it is another machine."""
        where = "" if self.host == (here_host or socket.gethostname()) else f" on {self.host}"
        return f"{self.role} pid {self.pid}{where}"


def holder_gone(text: str) -> bool:
    """For the store: is the holder written `text` a process of this machine that no longer exists?"""
    holder = Holder.parse(text)
    return holder is not None and holder.gone


def current_holder(store: Store, now: float) -> str | None:
    """Who dispatches now, or None when nobody holds a live lease."""
    lease = store.lease(SUPERVISOR_LEASE)
    if lease is None or lease[1] <= now or holder_gone(lease[0]):
        return None
    return lease[0]


class Lease:
    """This process's side of the lease: taken when free, renewed while held, handed back on close."""

    def __init__(self, store: Store, role: str) -> None:
        self.store = store
        self.holder = Holder.here(role)
        self.name = str(self.holder)
        self.holding = False
        self._renew_at = 0.0

    def hold(self, now: float) -> bool:
        """Take or renew the lease when due; True while this process is the dispatcher."""
        if self.holding and now < self._renew_at:
            return True
        if not self.holding and current_holder(self.store, now) not in (None, self.name):
            return False  # a viewer only reads, and writes only when the lease looks free
        held = self.store.take_lease(SUPERVISOR_LEASE, self.name, LEASE_TTL, now, holder_gone)
        self.holding = held
        self._renew_at = now + RENEW_EVERY
        return held

    def dispatcher(self, now: float) -> str | None:
        """Who dispatches (this process or another), or None when nobody does."""
        return self.name if self.holding else current_holder(self.store, now)

    def release(self) -> None:
        if self.holding:
            self.store.release_lease(SUPERVISOR_LEASE, self.name)
            self.holding = False
