"""The lease holder's coordination duty: end what lapsed and wake whoever waits for it.

Every primitive already ignores holds whose lease or owner's run ended, so correctness never waits for this
duty; it makes the end visible at once: a lock freed by an agent's exit wakes its waiters now, not at their
next look (each waiter looks again at least every second on its own), and rows that ended leave the store.
It runs once a second, and at once in a look where an agent's state became exited or stopped
(supervisor/pipeline.py, after the logs).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentmux.agents.state import Detected
from agentmux.coord.barriers import Barriers
from agentmux.coord.locks import Locks
from agentmux.coord.messages import Messages
from agentmux.coord.owners import ENDED_STATES
from agentmux.coord.reservations import Reservations
from agentmux.store import Store

REAP_EVERY = 1.0
MESSAGES_EVERY = 60.0
"""Messages expire in days: their reaping (which reads every delivery) runs once a minute."""


class CoordJanitor:
    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.locks = Locks(store, state_dir, clock)
        self.messages = Messages(store, state_dir, clock)
        self.barriers = Barriers(store, state_dir, clock)
        self.reservations = Reservations(store, state_dir, clock)
        self._last = self._messages_last = 0.0
        self.problem: str | None = None

    def tick(self, changes: Sequence[tuple[str, Detected]], now: float) -> None:
        ended = any(detected.state.value in ENDED_STATES for _, detected in changes)
        if not ended and now - self._last < REAP_EVERY:
            return
        self._last = now
        try:
            self.locks.reap()
            self.reservations.reap()
            self.barriers.reap()
            if now - self._messages_last >= MESSAGES_EVERY:
                self._messages_last = now
                self.messages.reap()
            self.problem = None
        except sqlite3.Error as exc:  # the loop goes on; the next tick tries again
            self.problem = f"coordination: {exc}"
