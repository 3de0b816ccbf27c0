"""The live view's entries: a bounded ring per agent in memory, filled from the log database as the lease
holder writes it (whichever process that is), so every TUI shows the same lines."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable

from agentmux.logs.model import LogEntry
from agentmux.logs.query import LogQuery
from agentmux.logs.store import LogStore

START_WITH = 500
"""Entries read at start (the newest), so the live view is not empty."""
POLL_LIMIT = 20000
"""At most this many new entries are read per poll; the rest at the next."""


class LogFeed:
    """Reads what was stored since it last looked; keeps each agent's newest `memory_lines` entries."""

    def __init__(self, store: LogStore, memory_lines: int = 2000) -> None:
        self.store = store
        self.memory_lines = memory_lines
        self.rings: dict[str, deque[LogEntry]] = {}
        self.last_id: int | None = None

    def poll(self) -> list[LogEntry]:
        """The entries stored since the last poll (at the first, the newest few), oldest first."""
        if self.last_id is None:
            entries = self.store.search(LogQuery(limit=START_WITH))
        else:
            entries = self.store.search(LogQuery(after_id=self.last_id, limit=POLL_LIMIT))
        if self.last_id is None:
            self.last_id = entries[-1].id if entries else self.store.newest_id()
        elif entries:
            self.last_id = entries[-1].id
        self.add(entries)
        return entries

    def add(self, entries: Iterable[LogEntry]) -> None:
        for entry in entries:
            ring = self.rings.get(entry.agent)
            if ring is None:
                ring = self.rings[entry.agent] = deque(maxlen=self.memory_lines)
            ring.append(entry)

    def recent(self, agent: str | None = None, count: int | None = None) -> list[LogEntry]:
        """The newest entries in memory, oldest first: one agent's, or every agent's merged in time order.

        Safe from another thread than the one that adds: each ring is copied first (`list(deque)` is one C call
        under the GIL), so the merge never walks a ring that changes under it."""
        if agent is not None:
            entries = list(self.rings.get(agent, ()))
        else:
            copies = [list(ring) for ring in list(self.rings.values())]
            entries = list(heapq.merge(*copies, key=lambda entry: entry.id))
        return entries if count is None else entries[-count:]

    def forget(self, agent: str) -> None:
        self.rings.pop(agent, None)
