"""The store: one SQLite database (WAL) per tmux socket, shared by every agentmux process.

It is the single source of truth for runtime state: which agents run where, their states and the
history of state changes, lifecycle events, and leases. The schema is created and migrated here.
Secrets never enter it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from agentmux.errors import AgentmuxError
from agentmux.state import AgentState

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        session TEXT,
        pane_id TEXT,
        pid INTEGER,
        desired TEXT NOT NULL DEFAULT 'stopped' CHECK (desired IN ('running', 'stopped')),
        state TEXT NOT NULL DEFAULT 'stopped',
        reason TEXT NOT NULL DEFAULT '',
        state_since REAL NOT NULL,
        exit_status INTEGER,
        started_at REAL,
        stopped_at REAL,
        last_output_at REAL,
        screen_hash TEXT,
        cleanup_pending INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE state_changes (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX state_changes_agent_at ON state_changes (agent, at);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_agent_at ON events (agent, at);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 2: the command queue (agentmux/queue.py)
    """
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        text TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        run_when TEXT NOT NULL DEFAULT 'success',
        if_output TEXT,
        timeout REAL,
        retries INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        not_before REAL,
        dispatched_at REAL,
        sent_at REAL,
        started_at REAL,
        finished_at REAL,
        output_mark INTEGER
    );
    CREATE INDEX tasks_agent_state ON tasks (agent, state);
    CREATE INDEX tasks_state ON tasks (state);
    CREATE TABLE task_deps (
        task INTEGER NOT NULL,
        after INTEGER NOT NULL,
        PRIMARY KEY (task, after)
    );
    CREATE INDEX task_deps_after ON task_deps (after);
    CREATE TABLE queue_paused (
        agent TEXT PRIMARY KEY,
        at REAL NOT NULL
    );
    """,
    # 3: dispatching: who sent a task, and each task's history (attempts, cut-off dispatches, outcomes)
    """
    ALTER TABLE tasks ADD COLUMN dispatched_by TEXT;
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY,
        task INTEGER NOT NULL,
        at REAL NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX task_events_task ON task_events (task);
    CREATE INDEX tasks_open ON tasks (agent, priority DESC, created_at, id)
        WHERE state IN ('queued', 'ready', 'dispatched', 'running');
    CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
    """,
    # 4: restart policies: restarts in a row since the agent last ran long enough (or was started by hand)
    """
    ALTER TABLE agents ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: Claude Code's hook events, as `agentmux hook EVENT` appends them (agentmux/hook.py)
    """
    CREATE TABLE hook_events (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        session_id TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX hook_events_agent ON hook_events (agent, id);
    """,
    # 6: a PermissionRequest hook waiting for the user's answer names its socket (agentmux/hook.py)
    """
    ALTER TABLE hook_events ADD COLUMN reply TEXT NOT NULL DEFAULT '';
    """,
    # 7: a claude agent's turns with their reply and token usage, read from its transcript (agents/turns.py)
    """
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        prompt_id TEXT NOT NULL,
        ended_by INTEGER NOT NULL UNIQUE,
        ended_at REAL NOT NULL,
        failed INTEGER NOT NULL,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        reply TEXT NOT NULL
    );
    CREATE INDEX turns_agent ON turns (agent, ended_at);
    """,
    # 8: coordination between agents (agentmux/coord, README: Coordination): locks, file reservations,
    # barriers, messages, shared state. `bound` is the owner agent's run (its agents.started_at) when the owner
    # was a running agent: the end of that run frees what it held (coord/owners.py).
    """
    CREATE TABLE coord_locks (
        name TEXT PRIMARY KEY,
        token INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE coord_holds (
        lock TEXT NOT NULL,
        owner TEXT NOT NULL,
        shared INTEGER NOT NULL,
        token INTEGER NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ttl REAL NOT NULL,
        bound REAL,
        PRIMARY KEY (lock, owner)
    );
    CREATE TABLE coord_waiters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lock TEXT NOT NULL,
        owner TEXT NOT NULL,
        shared INTEGER NOT NULL,
        since REAL NOT NULL,
        alive_until REAL NOT NULL
    );
    CREATE INDEX coord_waiters_lock ON coord_waiters (lock, id);
    CREATE TABLE coord_reservations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        root TEXT NOT NULL,
        pattern TEXT NOT NULL,
        owner TEXT NOT NULL,
        exclusive INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        bound REAL
    );
    CREATE INDEX coord_reservations_project ON coord_reservations (project, expires_at);
    CREATE TABLE coord_barriers (
        name TEXT NOT NULL,
        generation INTEGER NOT NULL,
        parties INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'passed', 'broken')),
        reason TEXT NOT NULL DEFAULT '',
        opened_at REAL NOT NULL,
        ended_at REAL,
        PRIMARY KEY (name, generation)
    );
    CREATE TABLE coord_arrivals (
        name TEXT NOT NULL,
        generation INTEGER NOT NULL,
        owner TEXT NOT NULL,
        arrived_at REAL NOT NULL,
        alive_until REAL NOT NULL,
        bound REAL,
        PRIMARY KEY (name, generation, owner)
    );
    CREATE TABLE coord_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sender TEXT NOT NULL,
        thread TEXT NOT NULL DEFAULT '',
        importance TEXT NOT NULL DEFAULT 'normal',
        body TEXT NOT NULL,
        sent_at REAL NOT NULL,
        expires_at REAL
    );
    CREATE TABLE coord_inbox (
        recipient TEXT NOT NULL,
        message INTEGER NOT NULL,
        read_at REAL,
        PRIMARY KEY (recipient, message)
    );
    CREATE INDEX coord_inbox_unread ON coord_inbox (recipient, message) WHERE read_at IS NULL;
    CREATE INDEX coord_inbox_message ON coord_inbox (message);
    CREATE TABLE coord_kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_rev INTEGER NOT NULL,
        mod_rev INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE coord_kv_log (
        rev INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('set', 'del')),
        value TEXT,
        version INTEGER NOT NULL,
        at REAL NOT NULL,
        by TEXT NOT NULL
    );
    CREATE TABLE coord_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # 9: API routing (agentmux/api, README: API routing): an api agent's conversation, one row per message with
    # its complete content blocks (JSON), and the shared limiter's and the usage ledger's tables
    """
    CREATE TABLE api_messages (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content TEXT NOT NULL,
        tokens INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL
    );
    CREATE INDEX api_messages_agent ON api_messages (agent, id);
    CREATE TABLE api_permits (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        agent TEXT NOT NULL,
        at REAL NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('held', 'settled', 'refused', 'cancelled')),
        done REAL
    );
    CREATE INDEX api_permits_key ON api_permits (key, at);
    CREATE INDEX api_permits_done ON api_permits (key, done);
    CREATE TABLE api_waiters (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        agent TEXT NOT NULL,
        share INTEGER NOT NULL DEFAULT 1,
        since REAL NOT NULL,
        seen REAL NOT NULL,
        pid INTEGER NOT NULL
    );
    CREATE INDEX api_waiters_key ON api_waiters (key, id);
    CREATE TABLE api_key_state (
        key TEXT PRIMARY KEY,
        blocked_until REAL NOT NULL DEFAULT 0,
        observed REAL NOT NULL DEFAULT 0,
        requests_remaining INTEGER, requests_reset REAL,
        input_remaining INTEGER, input_reset REAL,
        output_remaining INTEGER, output_reset REAL
    );
    CREATE TABLE api_usage (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        agent TEXT NOT NULL,
        key TEXT NOT NULL,
        model TEXT NOT NULL,
        input INTEGER NOT NULL DEFAULT 0,
        output INTEGER NOT NULL DEFAULT 0,
        cache_write INTEGER NOT NULL DEFAULT 0,
        cache_read INTEGER NOT NULL DEFAULT 0,
        latency REAL NOT NULL DEFAULT 0,
        first_token REAL,
        status TEXT NOT NULL,
        via TEXT NOT NULL CHECK (via IN ('agent', 'gateway')),
        cost REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX api_usage_at ON api_usage (at);
    CREATE INDEX api_usage_agent ON api_usage (agent, at);
    """,
    # 10: rollups of the ledger, kept by a trigger, so the TUI's usage badges and view read a few rows per agent
    # and model (all told, and a day's for the last days) rather than every request (README: Rate limits and
    # usage). Days are UTC days.
    """
    CREATE TABLE api_usage_daily (
        day TEXT NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        input INTEGER NOT NULL DEFAULT 0,
        output INTEGER NOT NULL DEFAULT 0,
        cache_write INTEGER NOT NULL DEFAULT 0,
        cache_read INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (day, agent, model)
    );
    CREATE TABLE api_usage_total (
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        input INTEGER NOT NULL DEFAULT 0,
        output INTEGER NOT NULL DEFAULT 0,
        cache_write INTEGER NOT NULL DEFAULT 0,
        cache_read INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (agent, model)
    );
    INSERT INTO api_usage_daily (day, agent, model, requests, errors, input, output, cache_write, cache_read, cost)
        SELECT date(at, 'unixepoch'), agent, model, count(*), sum(status NOT LIKE '2%'), sum(input), sum(output),
               sum(cache_write), sum(cache_read), sum(cost)
        FROM api_usage GROUP BY 1, 2, 3;
    INSERT INTO api_usage_total (agent, model, requests, errors, input, output, cache_write, cache_read, cost)
        SELECT agent, model, sum(requests), sum(errors), sum(input), sum(output), sum(cache_write), sum(cache_read),
               sum(cost)
        FROM api_usage_daily GROUP BY 1, 2;
    CREATE TRIGGER api_usage_rollup AFTER INSERT ON api_usage BEGIN
        INSERT INTO api_usage_daily (day, agent, model, requests, errors, input, output, cache_write, cache_read,
                                     cost)
        VALUES (date(NEW.at, 'unixepoch'), NEW.agent, NEW.model, 1, NEW.status NOT LIKE '2%', NEW.input, NEW.output,
                NEW.cache_write, NEW.cache_read, NEW.cost)
        ON CONFLICT (day, agent, model) DO UPDATE SET
            requests = requests + 1, errors = errors + excluded.errors, input = input + excluded.input,
            output = output + excluded.output, cache_write = cache_write + excluded.cache_write,
            cache_read = cache_read + excluded.cache_read, cost = cost + excluded.cost;
        INSERT INTO api_usage_total (agent, model, requests, errors, input, output, cache_write, cache_read, cost)
        VALUES (NEW.agent, NEW.model, 1, NEW.status NOT LIKE '2%', NEW.input, NEW.output, NEW.cache_write,
                NEW.cache_read, NEW.cost)
        ON CONFLICT (agent, model) DO UPDATE SET
            requests = requests + 1, errors = errors + excluded.errors, input = input + excluded.input,
            output = output + excluded.output, cache_write = cache_write + excluded.cache_write,
            cache_read = cache_read + excluded.cache_read, cost = cost + excluded.cost;
    END;
    """,
)
ROLLUP_COLUMNS = ("requests", "errors", "input", "output", "cache_write", "cache_read", "cost")
"""The counts of the ledger's rollups (`api_usage_daily`, `api_usage_total`: migration 10), in their order."""


def split_sql(script: str) -> list[str]:
    """The statements of a script (a trigger's body keeps its own semicolons)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements


BUSY_TIMEOUT_MS = 30000
"""How long a connection of the store waits for another process's write (`Store.contended` waits its own way)."""

RESTATING = ("permission_prompt", "idle_prompt")
"""Notifications that only say again what an event before them said (HookEvent.restates)."""


@dataclass(frozen=True)
class HookEvent:
    """One hook event of a claude agent, as `agentmux hook` recorded it (agentmux/hook.py)."""

    id: int
    agent: str
    event: str
    """Claude Code's hook_event_name: UserPromptSubmit, PreToolUse, Stop, ..."""
    detail: str
    """The Notification's notification_type (permission_prompt, idle_prompt, ...); for a PermissionRequest
    the policy's word (`allowed by rule R`, `refused by rule R`, `deny rule R: left to the user`); else empty."""
    at: float
    session_id: str
    payload: str
    """The event's JSON as Claude Code gave it (trimmed to its small fields when very large)."""
    reply: str = ""
    """A PermissionRequest whose hook waits for the user's answer: its socket's name and the secret an answer must
    carry (NAME:SECRET; agentmux/hook.py)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> HookEvent:
        return cls(row["id"], row["agent"], row["event"], row["detail"], row["at"], row["session_id"],
                   row["payload"], row["reply"])

    @property
    def restates(self) -> bool:
        """A notification that only says again what an event before it said: Claude Code's permission_prompt
        comes seconds after the PermissionRequest (whose tool and command it lacks), idle_prompt a minute after
        a Stop. The state is the earlier event's."""
        return self.event == "Notification" and self.detail in RESTATING


@dataclass(frozen=True)
class Turn:
    """A claude agent's turn as its hook events tell it."""

    submitted: bool
    ended: HookEvent | None
    refused: HookEvent | None = None
    """The first PermissionRequest of the turn that the policy refused as fatal (on_deny = "fail")."""


@dataclass(frozen=True)
class TurnRecord:
    """A claude agent's finished turn: its reply and tokens from the transcript (agents/turns.py)."""

    agent: str
    session_id: str
    prompt_id: str
    ended_by: int
    """The Stop or StopFailure hook event that ended it."""
    ended_at: float
    failed: bool
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    calls: int
    reply: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TurnRecord:
        return cls(row["agent"], row["session_id"], row["prompt_id"], row["ended_by"], row["ended_at"],
                   bool(row["failed"]), row["model"], row["input_tokens"], row["output_tokens"],
                   row["cache_read_tokens"], row["cache_write_tokens"], row["calls"], row["reply"])


SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


class StoreDamaged(AgentmuxError):
    """SQLite says the store file is corrupt or not a database; `agentmux doctor --fix` salvages it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"the store {path} is damaged ({reason}); `agentmux doctor --fix` keeps it as a backup "
                         "and saves what can still be read into a new store")


class StoreTooNew(AgentmuxError):
    """The store was written by a newer agentmux: not damaged, and never repaired; upgrade agentmux."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version
        super().__init__(f"the store {path} was written by a newer agentmux (schema {version}); upgrade agentmux")


def is_damage(exc: BaseException) -> bool:
    """Does SQLite say the file is corrupt (SQLITE_CORRUPT) or not a database (SQLITE_NOTADB)?"""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    return "malformed" in str(exc) or "not a database" in str(exc)


@dataclass(frozen=True)
class AgentRecord:
    """An agent's runtime row."""

    name: str
    kind: str
    session: str | None
    pane_id: str | None
    pid: int | None
    desired: str
    state: AgentState
    reason: str
    state_since: float
    exit_status: int | None
    started_at: float | None
    stopped_at: float | None
    last_output_at: float | None
    screen_hash: str | None
    cleanup_pending: bool
    restarts: int = 0
    """Restarts in a row by the agent's restart policy (0 after a start by hand)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AgentRecord:
        values = dict(row)
        values["state"] = AgentState(values["state"])
        values["cleanup_pending"] = bool(values["cleanup_pending"])
        return cls(**values)


@dataclass(frozen=True)
class StateChange:
    agent: str
    state: AgentState
    reason: str
    at: float


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An IMMEDIATE transaction on a connection in autocommit mode: a deferred one that upgrades to a write fails
    at once with SQLITE_BUSY under WAL, whatever the busy timeout."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction (a snapshot under WAL) on a connection in autocommit mode, unless it is in one already:
    a summary read in several statements never mixes two states of the store."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.execute("COMMIT")


def while_locked(step: Callable[[], None], timeout: float = 30.0) -> None:
    """Run `step`, again while SQLite answers "locked" or "busy" (switching a new file to WAL can answer so at once,
    without waiting for the busy timeout, while other processes open it too), until a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Store:
    """A connection to the store of one socket. Cheap to open; safe to use from several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created 0600 before SQLite opens it: its -wal and -shm files then get the same mode. Only
            # when missing: closing any descriptor of a file drops every POSIX lock this process holds on
            # it, so touching a store another connection of this process has open released that
            # connection's locks (the next process to close then deleted the WAL under it: writes lost).
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            if path.stat().st_mode & 0o777 != 0o600:
                os.chmod(path, 0o600)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise AgentmuxError(f"cannot open the store {path}: {exc}") from None
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._prepare()
        except (OSError, sqlite3.Error, AgentmuxError) as exc:
            self.db.close()
            if isinstance(exc, AgentmuxError):
                raise
            if is_damage(exc):
                raise StoreDamaged(path, str(exc)) from None
            raise AgentmuxError(f"cannot open the store {path}: {exc}") from None

    def _prepare(self, timeout: float = 30.0) -> None:
        """Switch to WAL and migrate (retried while other processes open the file too: `while_locked`)."""

        def prepare() -> None:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.migrate()

        while_locked(prepare, timeout)

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """An IMMEDIATE transaction: atomic across processes, writers queue instead of failing."""
        return immediate(self.db)

    @contextmanager
    def contended(self, wait: float = BUSY_TIMEOUT_MS / 1000) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction for writers that hand the store back and forth many times a second (the
        coordination primitives, the rate limiter): it waits for the write lock in short steps of its own.

        SQLite's busy handler sleeps 1, 2, 5, 10... ms between tries: whoever loses a collision sleeps while the
        winner goes on, so two processes handing a lock back and forth split it unevenly (2:1 in bench/coord.py)
        and a collision costs a waiter whole milliseconds. Here the busy timeout is off while BEGIN IMMEDIATE is
        tried, and a refusal is tried again after 50 µs, doubling to at most 2 ms, until `wait` seconds: even turns
        and sub-millisecond waits, for fewer round trips in all (README: Benchmarks). Once the transaction began,
        nothing in it waits for another writer (WAL: readers never block it)."""
        db = self.db
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

    def migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreTooNew(self.path, version)
            for number in range(version, len(MIGRATIONS)):
                for statement in split_sql(MIGRATIONS[number]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def damage(self) -> str | None:
        """What SQLite's quick_check finds wrong with the file (its first words), None when it is sound.
        Reads every page: for doctor, not for every command."""
        try:
            found = [str(row[0]) for row in self.db.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                return str(exc)
            raise
        if found == ["ok"]:
            return None
        return found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # --- agents ------------------------------------------------------------------------------------------

    def agent(self, name: str) -> AgentRecord | None:
        row = self.db.execute("SELECT * FROM agents WHERE name = ?", (name,)).fetchone()
        return AgentRecord.from_row(row) if row else None

    def agents(self) -> list[AgentRecord]:
        return [AgentRecord.from_row(row) for row in self.db.execute("SELECT * FROM agents ORDER BY name")]

    def last_hook_id(self, agent: str) -> int:
        """The id of the agent's newest hook event, 0 when it has none."""
        row = self.db.execute("SELECT max(id) FROM hook_events WHERE agent = ?", (agent,)).fetchone()
        return int(row[0] or 0)

    def turn_after(self, agent: str, at: float) -> Turn:
        """The agent's first turn since `at` by its hook events: submitted (UserPromptSubmit) and its end (the
        first Stop or StopFailure), if any."""
        rows = self.db.execute("SELECT * FROM hook_events WHERE agent = ? AND at >= ? AND event IN "
                               "('UserPromptSubmit', 'Stop', 'StopFailure', 'PermissionRequest') ORDER BY id",
                               (agent, at)).fetchall()
        submitted, refused = False, None
        for row in rows:
            if row["event"] == "UserPromptSubmit":
                submitted = True
            elif row["event"] == "PermissionRequest":
                if submitted and refused is None and row["detail"].endswith("(fatal)"):
                    refused = HookEvent.from_row(row)
            elif submitted:
                return Turn(True, HookEvent.from_row(row), refused)
        return Turn(submitted, None, refused)

    def hook_since(self, agent: str, since: float | None) -> bool:
        """Has the agent sent any hook event since `since` (its start)?"""
        row = self.db.execute("SELECT 1 FROM hook_events WHERE agent = ? AND at >= ? LIMIT 1",
                              (agent, since or 0.0)).fetchone()
        return row is not None

    def open_question(self, agent: str, since: float | None) -> HookEvent | None:
        """The agent's newest PermissionRequest since `since` when nothing but notifications came after it: the
        permission question still open by its hooks."""
        row = self.db.execute("SELECT * FROM hook_events WHERE agent = ? AND event != 'Notification' ORDER BY id DESC "
                              "LIMIT 1", (agent,)).fetchone()
        if row is None or row["event"] != "PermissionRequest" or (since is not None and row["at"] < since):
            return None
        return HookEvent.from_row(row)

    def turn_ends_after(self, after: int, limit: int = 200) -> list[HookEvent]:
        """Stop and StopFailure events with an id above `after`, oldest first."""
        rows = self.db.execute("SELECT * FROM hook_events WHERE id > ? AND event IN ('Stop', 'StopFailure') "
                               "ORDER BY id LIMIT ?", (after, limit))
        return [HookEvent.from_row(row) for row in rows]

    def record_turn(self, turn: TurnRecord) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO turns (agent, session_id, prompt_id, ended_by, ended_at, failed, model, "
                       "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, calls, reply) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (turn.agent, turn.session_id, turn.prompt_id, turn.ended_by, turn.ended_at, int(turn.failed),
                        turn.model, turn.input_tokens, turn.output_tokens, turn.cache_read_tokens,
                        turn.cache_write_tokens, turn.calls, turn.reply))

    def turn_ended_by(self, event_id: int) -> TurnRecord | None:
        row = self.db.execute("SELECT * FROM turns WHERE ended_by = ?", (event_id,)).fetchone()
        return TurnRecord.from_row(row) if row else None

    def turns(self, agent: str | None = None) -> list[TurnRecord]:
        """Recorded turns, oldest first (of one agent, or all)."""
        if agent is None:
            rows = self.db.execute("SELECT * FROM turns ORDER BY ended_at, id")
        else:
            rows = self.db.execute("SELECT * FROM turns WHERE agent = ? ORDER BY ended_at, id", (agent,))
        return [TurnRecord.from_row(row) for row in rows]

    def last_turn_end(self) -> int:
        """The hook event that ended the newest recorded turn, 0 when none."""
        return int(self.db.execute("SELECT coalesce(max(ended_by), 0) FROM turns").fetchone()[0])

    def prompt_submitted_after(self, agent: str, after: int) -> bool:
        """Has Claude Code confirmed a prompt of the agent (UserPromptSubmit) since hook event `after`?"""
        row = self.db.execute("SELECT 1 FROM hook_events WHERE agent = ? AND id > ? AND event = 'UserPromptSubmit' "
                              "LIMIT 1", (agent, after)).fetchone()
        return row is not None

    def newest_turn_ends(self) -> dict[str, HookEvent]:
        """Each agent's newest Stop or StopFailure hook event (when its last turn ended), in one query."""
        rows = self.db.execute("SELECT * FROM hook_events WHERE id IN (SELECT max(id) FROM hook_events WHERE event "
                               "IN ('Stop', 'StopFailure') GROUP BY agent)")
        return {row["agent"]: HookEvent.from_row(row) for row in rows}

    def last_hook_event_id(self) -> int:
        """The id of the newest hook event of any agent (0 when there is none)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM hook_events").fetchone()[0])

    def hook_events_after(self, after: int | None) -> list[HookEvent]:
        """Claude Code's hook events with an id above `after`, oldest first; with None, each agent's newest that
        says its state (not a notification that only restates it: HookEvent.restates)."""
        if after is None:
            rows = self.db.execute("SELECT * FROM hook_events WHERE id IN (SELECT max(id) FROM hook_events WHERE NOT "
                                   f"(event = 'Notification' AND detail IN {RESTATING!r}) "
                                   "GROUP BY agent) ORDER BY id")
        else:
            rows = self.db.execute("SELECT * FROM hook_events WHERE id > ? ORDER BY id", (after,))
        return [HookEvent.from_row(row) for row in rows]

    def ensure_agent(self, name: str, kind: str, now: float | None = None) -> AgentRecord:
        """The agent's row, created as `stopped` when it has none yet."""
        now = time.time() if now is None else now
        with self.transaction() as db:
            db.execute(
                "INSERT INTO agents (name, kind, state, reason, state_since) VALUES (?, ?, 'stopped', "
                "'not started', ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind",
                (name, kind, now),
            )
        record = self.agent(name)
        assert record is not None
        return record

    def mark_started(self, name: str, kind: str, session: str, pane_id: str | None, pid: int | None,
                     now: float, restarts: int = 0) -> None:
        """A start (by hand: `restarts` 0) or a restart by the agent's policy (its count in a row)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO agents (name, kind, state, reason, state_since) "
                "VALUES (?, ?, 'stopped', 'not started', ?) ON CONFLICT (name) DO NOTHING", (name, kind, now),
            )
            db.execute(
                "UPDATE agents SET kind = ?, session = ?, pane_id = ?, pid = ?, desired = 'running', "
                "started_at = ?, stopped_at = NULL, exit_status = NULL, last_output_at = NULL, "
                "screen_hash = NULL, cleanup_pending = 1, restarts = ? WHERE name = ?",
                (kind, session, pane_id, pid, now, restarts, name),
            )
            self._set_state(db, name, AgentState.STARTING, "started" if not restarts else f"restart {restarts}", now)

    def set_desired(self, name: str, desired: str, now: float | None = None) -> None:
        with self.transaction() as db:
            stopped_at = (time.time() if now is None else now) if desired == "stopped" else None
            db.execute("UPDATE agents SET desired = ?, stopped_at = ? WHERE name = ?", (desired, stopped_at, name))

    def set_state(self, name: str, state: AgentState, reason: str, now: float | None = None,
                  exit_status: int | None = None) -> bool:
        """Record a state and its reason; a change of state is kept in the history. True when it changed."""
        with self.transaction() as db:
            return self._set_state(db, name, state, reason, time.time() if now is None else now, exit_status)

    def _set_state(self, db: sqlite3.Connection, name: str, state: AgentState, reason: str, now: float,
                   exit_status: int | None = None) -> bool:
        row = db.execute("SELECT state, reason FROM agents WHERE name = ?", (name,)).fetchone()
        if row is None:
            return False
        if exit_status is not None:
            db.execute("UPDATE agents SET exit_status = ? WHERE name = ?", (exit_status, name))
        if row["state"] == state.value and row["reason"] == reason:
            return False
        if row["state"] != state.value:
            db.execute("UPDATE agents SET state = ?, reason = ?, state_since = ? WHERE name = ?",
                       (state.value, reason, now, name))
            db.execute("INSERT INTO state_changes (agent, state, reason, at) VALUES (?, ?, ?, ?)",
                       (name, state.value, reason, now))
        else:
            db.execute("UPDATE agents SET reason = ? WHERE name = ?", (reason, name))
        return bool(row["state"] != state.value)

    def take_cleanup(self, name: str) -> bool:
        """Claim the agent's pending cleanup: True once per start, so cleanup commands run once."""
        with self.transaction() as db:
            cursor = db.execute("UPDATE agents SET cleanup_pending = 0 WHERE name = ? AND cleanup_pending = 1",
                                (name,))
            return cursor.rowcount == 1

    def record_output(self, name: str, screen_hash: str, last_output_at: float | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE agents SET screen_hash = ?, last_output_at = ? WHERE name = ?",
                       (screen_hash, last_output_at, name))

    def set_pane(self, name: str, session: str, pane_id: str, pid: int | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE agents SET session = ?, pane_id = ?, pid = ? WHERE name = ?",
                       (session, pane_id, pid, name))

    def delete_agent(self, name: str) -> None:
        """The agent's row and its api conversation (`rm`: an agent added again by that name starts afresh);
        its usage rows stay, for `agentmux usage`."""
        with self.transaction() as db:
            db.execute("DELETE FROM agents WHERE name = ?", (name,))
            db.execute("DELETE FROM api_messages WHERE agent = ?", (name,))

    def state_history(self, name: str) -> list[StateChange]:
        rows = self.db.execute(
            "SELECT agent, state, reason, at FROM state_changes WHERE agent = ? ORDER BY id", (name,)
        )
        return [StateChange(r["agent"], AgentState(r["state"]), r["reason"], r["at"]) for r in rows]

    # --- leases ------------------------------------------------------------------------------------------

    def take_lease(self, name: str, holder: str, ttl: float, now: float,
                   holder_gone: Callable[[str], bool] = lambda holder: False) -> bool:
        """Take or renew the lease `name` for `holder` until now + ttl. True when `holder` holds it now.

        Free, expired, or held by a holder that `holder_gone` says is dead: taken. Held by another live
        holder: refused (the caller stays a viewer and asks again later)."""
        with self.transaction() as db:
            row = db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row["holder"] != holder and row["expires_at"] > now \
                    and not holder_gone(row["holder"]):
                return False
            db.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                       "DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                       (name, holder, now + ttl))
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def lease(self, name: str) -> tuple[str, float] | None:
        """(holder, expires_at) of a lease, expired or not; None when nobody took it."""
        row = self.db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
        return (row["holder"], row["expires_at"]) if row else None

    # --- events ------------------------------------------------------------------------------------------

    def record_event(self, agent: str, kind: str, message: str, now: float | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO events (agent, at, kind, message) VALUES (?, ?, ?, ?)",
                       (agent, time.time() if now is None else now, kind, message))

    def events(self, agent: str | None = None) -> list[tuple[str, float, str, str]]:
        if agent is None:
            rows = self.db.execute("SELECT agent, at, kind, message FROM events ORDER BY id")
        else:
            rows = self.db.execute("SELECT agent, at, kind, message FROM events WHERE agent = ? ORDER BY id",
                                   (agent,))
        return [(r["agent"], r["at"], r["kind"], r["message"]) for r in rows]
