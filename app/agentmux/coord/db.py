"""The coordination primitives' write transaction: IMMEDIATE, waiting for the write lock in short steps.

SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries when another process holds the write lock:
whoever loses a collision sleeps while the winner goes on, so between two processes handing a lock back and
forth the split is uneven (2:1 in bench/coord.py) and a collision costs a waiter whole milliseconds. Here the
wait for the write lock is ours: the busy timeout is off while BEGIN IMMEDIATE is tried, and a refusal is
tried again after 50 µs, doubling to at most 2 ms, until a deadline: even turns and sub-millisecond waits,
for fewer round trips in all (bench/coord.py `--sqlite-busy-handler` shows both; README: Benchmarks). Once
the transaction began, nothing in it waits for another writer (WAL: readers never block it).
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
