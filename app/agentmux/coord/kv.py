"""Shared state: a key-value store of JSON values with versions, compare-and-swap, and a change log to watch.

Every set or delete is one IMMEDIATE transaction that moves the global revision on by one (`coord_meta` kv_rev),
writes the key (`coord_kv`) and appends the change to the log (`coord_kv_log`), so revisions number the changes
without gaps and a watcher that read up to revision R misses nothing by reading the log after R. A key's
`version` counts its sets since it was created (1 at creation; a delete and a new set start again at 1): a
compare-and-swap on it (`cas`) is how agents update a value without losing another's update. The log keeps the
newest `keep` changes; older ones are trimmed in the writing transaction and `kv_compacted` says the highest
revision removed. A watcher asking for changes the log no longer has is told to resync (`Resync`: read the keys
again, then watch from the revision it names) instead of silently missing them. Watchers wait on the topic
`state` (wake.py), and look again at least every `WAIT_BEAT` whatever wake-ups say.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmux.coord.owners import Refused, check_name
from agentmux.errors import AgentmuxError, UsageError
from agentmux.store import Store
from agentmux.topics import Listener, notify

TOPIC = "state"
MAX_KEY = 512
MAX_VALUE = 1 << 20
"""The largest value, as JSON text (1 MiB): shared state is for notes and counters, not files."""
DEFAULT_KEEP = 10_000
"""Changes the log keeps for watchers."""
BATCH = 1000
"""Changes a watcher reads at a time."""
WAIT_BEAT = 1.0
"""A watcher looks again at least this often, whatever wake-ups say."""
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Resync(AgentmuxError):
    """Changes a watcher asked for are no longer in the log (exit 1): read the keys again and watch from
    `revision`; `compacted` is the highest revision no longer in the log."""

    def __init__(self, revision: int, compacted: int) -> None:
        self.revision = revision
        self.compacted = compacted
        super().__init__(f"resync: changes before revision {compacted + 1} were compacted; read the keys again "
                         f"(state ls) and watch from revision {revision}")


class Conflict(Refused):
    """A compare-and-swap found another version (exit 1); `current` is the key's version (0: absent)."""

    def __init__(self, key: str, expected: int, current: int) -> None:
        self.key = key
        self.expected = expected
        self.current = current
        now = "absent (version 0)" if current == 0 else f"at version {current}"
        super().__init__(f"state {key}: not swapped, it is {now}, not version {expected}")


@dataclass(frozen=True)
class Entry:
    """A key and its value; `version` counts its sets since it was created, `created_rev` and `mod_rev` are the
    revisions that created it and changed it last."""

    key: str
    value: Any
    version: int
    created_rev: int
    mod_rev: int
    updated_at: float
    updated_by: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(row["key"], json.loads(row["value"]), int(row["version"]), int(row["created_rev"]),
                   int(row["mod_rev"]), float(row["updated_at"]), row["updated_by"])

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "value": self.value, "version": self.version, "created_rev": self.created_rev,
                "mod_rev": self.mod_rev, "updated_at": self.updated_at, "updated_by": self.updated_by}


@dataclass(frozen=True)
class Change:
    """One change of the log: revision `rev` set `key` to `value` at `version`, or deleted it (`op` "del",
    `value` None, `version` 0: absent from then on)."""

    rev: int
    key: str
    op: str
    value: Any
    version: int
    at: float
    by: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Change:
        return cls(int(row["rev"]), row["key"], row["op"], None if row["value"] is None else json.loads(row["value"]),
                   int(row["version"]), float(row["at"]), row["by"])

    def to_json(self) -> dict[str, object]:
        return {"rev": self.rev, "key": self.key, "op": self.op, "value": self.value, "version": self.version,
                "at": self.at, "by": self.by}


def check_key(key: str) -> str:
    if not key:
        raise UsageError("a key is not empty")
    if len(key) > MAX_KEY:
        raise UsageError(f"key {key[:40]!r}...: {len(key)} characters; at most {MAX_KEY}")
    found = CONTROL.search(key)
    if found is not None:
        raise UsageError(f"key {key!r}: no control characters (one at character {found.start() + 1})")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"key {key!r}: not UTF-8 text (at character {exc.start + 1})") from None
    return key


def encode(value: Any) -> str:
    """`value` as JSON text; UsageError when it is no JSON value (NaN and infinities are not JSON)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"the value is not JSON: {exc}") from None
    if len(text) > MAX_VALUE:
        raise UsageError(f"the value is {len(text)} characters of JSON; at most {MAX_VALUE}")
    return text


def prefixed(prefix: str) -> tuple[str, tuple[object, ...]]:
    """SQL (and its arguments) true for keys starting with `prefix`."""
    return "substr(key, 1, ?) = ?", (len(prefix), prefix)


class SharedState:
    """The shared state of one store; `state_dir` is where watchers are woken (wake.py); the log keeps the newest
    `keep` changes."""

    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time,
                 keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise UsageError(f"keep {keep}: the log keeps at least one change")
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self.keep = keep

    # --- reading --------------------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        check_key(key)
        row = self.store.db.execute("SELECT * FROM coord_kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else Entry.from_row(row)

    def ls(self, prefix: str = "") -> list[Entry]:
        """The keys starting with `prefix`, in order."""
        return self.snapshot(prefix)[1]

    def snapshot(self, prefix: str = "") -> tuple[int, list[Entry]]:
        """The revision and the keys starting with `prefix` as of it, read at one moment: watching from that
        revision then misses no change after the listing."""
        where, args = prefixed(prefix)
        with self._reading() as db:
            revision = self._meta(db, "kv_rev")
            rows = db.execute(f"SELECT * FROM coord_kv WHERE {where} ORDER BY key", args).fetchall()
        return revision, [Entry.from_row(row) for row in rows]

    def revision(self) -> int:
        """The revision of the last change (0: none yet)."""
        return self._meta(self.store.db, "kv_rev")

    def compacted(self) -> int:
        """The highest revision no longer in the log (0: none removed)."""
        return self._meta(self.store.db, "kv_compacted")

    def changes(self, prefix: str, after: int, limit: int = 1000) -> list[Change]:
        """The changes after revision `after` of keys starting with `prefix`, in order (at most `limit`); Resync
        when some of them are no longer in the log."""
        return self._changes(prefix, after, limit)[0]

    def _changes(self, prefix: str, after: int, limit: int) -> tuple[list[Change], int]:
        """The changes, and the revision read up to (the last change's, or the current revision when fewer than
        `limit` matched): nothing of the prefix is left between them."""
        if after < 0:
            raise UsageError(f"revision {after}: revisions start at 0")
        if limit < 1:
            raise UsageError(f"limit {limit}: at least 1")
        where, args = prefixed(prefix)
        with self._reading() as db:
            revision = self._meta(db, "kv_rev")
            compacted = self._meta(db, "kv_compacted")
            if after < compacted:
                raise Resync(revision, compacted)
            rows = db.execute(f"SELECT * FROM coord_kv_log WHERE rev > ? AND {where} ORDER BY rev LIMIT ?",
                              (after, *args, limit)).fetchall()
        found = [Change.from_row(row) for row in rows]
        upto = found[-1].rev if len(found) == limit else max(revision, after)
        return found, upto

    def watch(self, prefix: str = "", after: int | None = None, timeout: float | None = None) -> Iterator[Change]:
        """Every change after revision `after` (None: from now) of keys starting with `prefix`, in revision order,
        then each new one as it commits, until `timeout` seconds (None: for ever). Raises Resync, before yielding
        anything, when changes after `after` are no longer in the log, and later when the watcher falls so far
        behind that the log is trimmed past what it has read."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with Listener(self.state_dir, [TOPIC]) as listener:  # before the first look: no wake-up lost
            cursor = self.revision() if after is None else after
            while True:
                found, upto = self._changes(prefix, cursor, BATCH)
                yield from found
                cursor = upto
                if len(found) == BATCH:  # more are there
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                listener.wait(WAIT_BEAT if left is None else min(WAIT_BEAT, left))

    # --- writing --------------------------------------------------------------------------------------------

    def set(self, key: str, value: Any, by: str) -> Entry:
        """Set `key` to `value` (any JSON value) for `by`; the entry as written."""
        check_key(key)
        check_name("--as", by)
        text = encode(value)
        with self.store.contended() as db:
            entry = self._put(db, key, text, by)
        notify(self.state_dir, TOPIC)
        return entry

    def cas(self, key: str, version: int, value: Any, by: str) -> Entry:
        """Set `key` to `value` only if it is at `version` now (0: only if it is absent); Conflict (a Refused, exit
        1) saying its version otherwise."""
        check_key(key)
        check_name("--as", by)
        if version < 0:
            raise UsageError(f"version {version}: versions start at 1 (0: the key is absent)")
        text = encode(value)
        with self.store.contended() as db:
            row = db.execute("SELECT version FROM coord_kv WHERE key = ?", (key,)).fetchone()
            current = 0 if row is None else int(row[0])
            if current != version:
                raise Conflict(key, version, current)
            entry = self._put(db, key, text, by)
        notify(self.state_dir, TOPIC)
        return entry

    def delete(self, key: str, by: str) -> Entry | None:
        """Delete `key` for `by`; the entry deleted, None when there was none (and no change is made)."""
        check_key(key)
        check_name("--as", by)
        with self.store.contended() as db:
            row = db.execute("SELECT * FROM coord_kv WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            now = self.clock()
            rev = self._next(db)
            db.execute("DELETE FROM coord_kv WHERE key = ?", (key,))
            db.execute("INSERT INTO coord_kv_log (rev, key, op, value, version, at, by) VALUES (?, ?, 'del', NULL, "
                       "0, ?, ?)", (rev, key, now, by))
            self._trim(db, rev)
        notify(self.state_dir, TOPIC)
        return Entry.from_row(row)

    def _put(self, db: sqlite3.Connection, key: str, text: str, by: str) -> Entry:
        now = self.clock()
        rev = self._next(db)
        row = db.execute("SELECT version, created_rev FROM coord_kv WHERE key = ?", (key,)).fetchone()
        version, created = (1, rev) if row is None else (int(row[0]) + 1, int(row[1]))
        db.execute("INSERT OR REPLACE INTO coord_kv (key, value, version, created_rev, mod_rev, updated_at, "
                   "updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)", (key, text, version, created, rev, now, by))
        db.execute("INSERT INTO coord_kv_log (rev, key, op, value, version, at, by) VALUES (?, ?, 'set', ?, ?, ?, ?)",
                   (rev, key, text, version, now, by))
        self._trim(db, rev)
        return Entry(key, json.loads(text), version, created, rev, now, by)

    def _next(self, db: sqlite3.Connection) -> int:
        return int(db.execute("INSERT INTO coord_meta (name, value) VALUES ('kv_rev', 1) ON CONFLICT (name) "
                              "DO UPDATE SET value = value + 1 RETURNING value").fetchone()[0])

    def _trim(self, db: sqlite3.Connection, rev: int) -> None:
        """Keep the newest `keep` changes of the log (revisions have no gaps: those after rev - keep)."""
        cut = rev - self.keep
        if cut > self._meta(db, "kv_compacted"):
            db.execute("DELETE FROM coord_kv_log WHERE rev <= ?", (cut,))
            db.execute("INSERT INTO coord_meta (name, value) VALUES ('kv_compacted', ?) ON CONFLICT (name) "
                       "DO UPDATE SET value = excluded.value", (cut,))

    # --- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _meta(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT value FROM coord_meta WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: its statements see one snapshot of the store (WAL), whatever commits meanwhile."""
        db = self.store.db
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")
