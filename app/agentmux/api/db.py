"""The api package's write transaction: IMMEDIATE, waiting for the write lock in short steps.

The same as coord/db.py (a sibling layer, so not imported): the busy timeout is off while BEGIN IMMEDIATE is
tried, and a refusal is tried again after 50 µs, doubling to at most 2 ms, until a deadline, so processes
that share a rate limit take even turns at the store instead of SQLite's uneven 1, 2, 5, 10 ms sleeps.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from agentmux.store import BUSY_TIMEOUT_MS, Store

WAIT = 30.0
"""How long a write waits for the lock before it fails, as the store's own busy timeout."""


@contextmanager
def transaction(store: Store, wait: float = WAIT) -> Iterator[sqlite3.Connection]:
    db = store.db
    db.execute("PRAGMA busy_timeout = 0")
    try:
        pause, deadline = 0.00005, None
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + wait
                if now > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
