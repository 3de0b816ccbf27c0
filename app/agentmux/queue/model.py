"""The command queue: persistent per-agent tasks with priority, dependencies and conditions.

Plain Python over the store (SQLite, WAL): every change is one IMMEDIATE transaction, so adding a task is
durable when `add` returns and any number of processes can use the queue at once. Dispatching (sending a
ready task to an idle agent and following it) belongs to the process holding the supervisor lease; this
module holds the rules every process shares:

- a task with dependencies is `queued` until every task it waits for has ended; then its condition decides:
  `ready`, or `skipped` with the reason (which may skip the tasks waiting for it in turn);
- conditions (`run_when`) apply to every dependency: `success` (all succeeded), `failure` (all failed),
  `always` (all ended, whatever the outcome); `if_output` additionally needs the pattern (RE2, see
  `patterns`) to match the output of every dependency. A user's pattern never runs inside a transaction:
  such a task is read, matched with no transaction open, then decided in a short transaction if nothing
  it depends on changed meanwhile (see `_settle`);
- a dependency that would close a cycle is refused;
- ready tasks of an agent go out highest priority first, then oldest first, one at a time per agent.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from agentmux.errors import AgentmuxError, UsageError
from agentmux.queue import patterns
from agentmux.store import Store

RESULT_LIMIT = 16_000
"""Characters of an agent's output kept as a task's result (the newest)."""
BACKOFF_BASE = 2.0
BACKOFF_MAX = 60.0
SUPERVISOR_LEASE = "supervisor"
"""The lease whose holder dispatches; a claim is refused to anyone who does not hold it (fencing)."""
OPEN_SQL = "state IN ('queued', 'ready', 'dispatched', 'running')"
"""Tasks not ended; written exactly as the partial index `tasks_open` says, so queries can use it."""


class TaskState(StrEnum):
    QUEUED = "queued"
    READY = "ready"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def ended(self) -> bool:
        return self in ENDED

    @property
    def active(self) -> bool:
        return self in (TaskState.DISPATCHED, TaskState.RUNNING)


ENDED = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED})
WHEN = ("success", "failure", "always")


@dataclass(frozen=True)
class Task:
    id: int
    agent: str
    text: str
    priority: int
    state: TaskState
    run_when: str
    if_output: str | None
    timeout: float | None
    retries: int
    attempts: int
    reason: str
    result: str
    created_at: float
    updated_at: float
    not_before: float | None
    dispatched_at: float | None
    sent_at: float | None
    started_at: float | None
    finished_at: float | None
    output_mark: int | None
    dispatched_by: str | None = None
    after: tuple[int, ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row, after: tuple[int, ...] = ()) -> Task:
        values = dict(row)
        values["state"] = TaskState(values["state"])
        return cls(**values, after=after)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id, "agent": self.agent, "text": self.text, "priority": self.priority,
            "state": self.state.value, "after": list(self.after), "when": self.run_when,
            "if_output": self.if_output, "timeout": self.timeout, "retries": self.retries,
            "attempts": self.attempts, "reason": self.reason, "result": self.result,
            "created_at": self.created_at, "updated_at": self.updated_at, "dispatched_at": self.dispatched_at,
            "sent_at": self.sent_at, "started_at": self.started_at, "finished_at": self.finished_at,
            "dispatched_by": self.dispatched_by,
        }


@dataclass(frozen=True)
class ConditionInputs:
    """What decides a waiting task whose dependencies have all ended: compared again before a verdict reached
    outside a transaction is written."""

    when: str
    pattern: str | None
    deps: tuple[tuple[int, TaskState, str], ...]
    """(id, state, result) of each dependency, by id."""


@dataclass(frozen=True)
class QueueSummary:
    """The queue at a glance: each agent's depth (tasks not ended; agents with none left out) and the
    agents whose queue is paused."""

    depths: Mapping[str, int]
    paused: frozenset[str]


@dataclass(frozen=True)
class TaskEvent:
    """One step in a task's history: claimed, typed, cut off, finished, retried..."""

    task: int
    at: float
    message: str


MAX_PRIORITY = 10**9
MAX_TIMEOUT = 7 * 86400
MAX_RETRIES = 1000


def _fits(number: int) -> bool:
    """Can SQLite hold it (a 64-bit integer)? An id beyond that names no task."""
    return -(2**63) <= number < 2**63


def _check_priority(priority: int) -> None:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise UsageError(f"priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")


class Queue:
    """The queue of every agent on one socket, in that socket's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- reading -----------------------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        return Task.from_row(self._row(self.store.db, task_id), self._after(self.store.db, task_id))

    def tasks(self, agent: str | None = None) -> list[Task]:
        """Tasks in the order they would go out: by agent, then priority, then age."""
        query = "SELECT * FROM tasks" + (" WHERE agent = ?" if agent is not None else "")
        query += " ORDER BY agent, priority DESC, created_at, id"
        params = [agent] if agent is not None else []
        rows = self.store.db.execute(query, params).fetchall()
        deps: dict[int, list[int]] = {}
        for task, after in self.store.db.execute("SELECT task, after FROM task_deps ORDER BY after"):
            deps.setdefault(task, []).append(after)
        return [Task.from_row(row, tuple(deps.get(row["id"], ()))) for row in rows]

    def board(self, agent: str | None = None, open_limit: int = 500, ended_limit: int = 50) -> list[Task]:
        """What a queue panel shows of one agent (or, with None, of every agent): tasks not ended, in the
        order they go out (at most `open_limit` per agent), then the most recently ended ones (newest first,
        at most `ended_limit`). Read agent by agent, so one agent's long queue never hides another's."""
        db = self.store.db
        agents = [agent] if agent is not None else sorted(self.summary().depths)
        rows: list[sqlite3.Row] = []
        # The partial indexes hold exactly these orders, so each read stops after LIMIT rows.
        for name in agents:
            rows += db.execute(f"SELECT * FROM tasks INDEXED BY tasks_open WHERE agent = ? AND {OPEN_SQL} "
                               "ORDER BY priority DESC, created_at, id LIMIT ?", (name, open_limit)).fetchall()
        ended = "finished_at IS NOT NULL AND state IN ('succeeded', 'failed', 'cancelled', 'skipped')"
        if agent is None:
            rows += db.execute(f"SELECT * FROM tasks INDEXED BY tasks_finished WHERE {ended} "
                               "ORDER BY finished_at DESC LIMIT ?", (ended_limit,)).fetchall()
        else:
            rows += db.execute(f"SELECT * FROM tasks WHERE agent = ? AND {ended} ORDER BY finished_at DESC LIMIT ?",
                               (agent, ended_limit)).fetchall()
        ids = [row["id"] for row in rows]
        deps: dict[int, list[int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for task, after in db.execute(f"SELECT task, after FROM task_deps WHERE task IN ({marks}) "
                                          "ORDER BY after", chunk):
                deps.setdefault(task, []).append(after)
        return [Task.from_row(row, tuple(deps.get(row["id"], ()))) for row in rows]

    def events(self, task_id: int) -> list[TaskEvent]:
        rows = self.store.db.execute("SELECT task, at, message FROM task_events WHERE task = ? ORDER BY id",
                                     (task_id,))
        return [TaskEvent(row["task"], row["at"], row["message"]) for row in rows]

    def summary(self) -> QueueSummary:
        """Every agent's depth (tasks not ended) and the paused queues: what tiles show, at any queue size."""
        rows = self.store.db.execute(f"SELECT agent, COUNT(*) FROM tasks INDEXED BY tasks_open WHERE {OPEN_SQL} "
                                     "GROUP BY agent")
        return QueueSummary(depths=MappingProxyType({row[0]: int(row[1]) for row in rows}),
                            paused=frozenset(self.paused_agents()))

    def paused(self, agent: str) -> bool:
        return self.store.db.execute("SELECT 1 FROM queue_paused WHERE agent = ?", (agent,)).fetchone() is not None

    def paused_agents(self) -> set[str]:
        return {row[0] for row in self.store.db.execute("SELECT agent FROM queue_paused")}

    @staticmethod
    def _event(db: sqlite3.Connection, task_id: int, now: float, message: str) -> None:
        db.execute("INSERT INTO task_events (task, at, message) VALUES (?, ?, ?)", (task_id, now, message))

    @staticmethod
    def _after(db: sqlite3.Connection, task_id: int) -> tuple[int, ...]:
        return tuple(r[0] for r in db.execute("SELECT after FROM task_deps WHERE task = ? ORDER BY after",
                                              (task_id,)))

    # --- adding ------------------------------------------------------------------------------------------

    def add(self, agent: str, text: str, *, priority: int = 0, after: tuple[int, ...] | list[int] = (),
            when: str = "success", if_output: str | None = None, timeout: float | None = None,
            retries: int = 0, now: float | None = None) -> Task:
        """Add a task; durable when this returns. Dependencies must exist already."""
        text = text.replace("\r\n", "\n").strip("\n")  # Enter follows the text: a final newline would be a second
        if not text.strip():
            raise UsageError("the task's text is empty")
        _check_priority(priority)
        if when not in WHEN:
            raise UsageError(f"--when must be one of {', '.join(WHEN)}, not {when!r}")
        if if_output is not None:
            patterns.check(if_output)
        if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
            raise UsageError(f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:,} (a week)")
        if not 0 <= retries <= MAX_RETRIES:
            raise UsageError(f"--retries must be between 0 and {MAX_RETRIES}")
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            for dep in after:
                if not _fits(dep) or db.execute("SELECT 1 FROM tasks WHERE id = ?", (dep,)).fetchone() is None:
                    raise AgentmuxError(f"--after {dep}: no such task")
            cursor = db.execute(
                "INSERT INTO tasks (agent, text, priority, state, run_when, if_output, timeout, retries, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (agent, text, priority, (TaskState.QUEUED if after else TaskState.READY).value, when,
                 if_output, timeout, retries, now, now))
            task_id = int(cursor.lastrowid or 0)
            db.executemany("INSERT OR IGNORE INTO task_deps (task, after) VALUES (?, ?)",
                           [(task_id, dep) for dep in after])
            pending = self._resolve(db, now, candidates=[task_id]) if after else []
        self._settle(pending, now)
        return self.get(task_id)

    def add_dependency(self, task_id: int, after: int, now: float | None = None) -> Task:
        """Make a waiting task also wait for another; refused when it would close a cycle."""
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            task = self._row(db, task_id)
            self._row(db, after)
            if TaskState(task["state"]) not in (TaskState.QUEUED, TaskState.READY):
                raise AgentmuxError(f"task {task_id} is {task['state']}: only a waiting task can get dependencies")
            path = self._path(db, after, task_id)
            if path is not None:
                chain = " → ".join(str(step) for step in [task_id, *path])
                raise AgentmuxError(f"task {task_id} cannot wait for task {after}: that would be a cycle ({chain})")
            db.execute("INSERT OR IGNORE INTO task_deps (task, after) VALUES (?, ?)", (task_id, after))
            db.execute("UPDATE tasks SET state = 'queued', updated_at = ? WHERE id = ? AND state = 'ready'",
                       (now, task_id))
            pending = self._resolve(db, now, candidates=[task_id])
        self._settle(pending, now)
        return self.get(task_id)

    @staticmethod
    def _path(db: sqlite3.Connection, start: int, goal: int) -> list[int] | None:
        """Dependency path start → … → goal (following "waits for"), or None."""
        stack: list[tuple[int, list[int]]] = [(start, [start])]
        seen: set[int] = set()
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            if node in seen:
                continue
            seen.add(node)
            for (nxt,) in db.execute("SELECT after FROM task_deps WHERE task = ?", (node,)):
                stack.append((nxt, [*path, nxt]))
        return None

    @staticmethod
    def _row(db: sqlite3.Connection, task_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = (db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
                                   if _fits(task_id) else None)
        if row is None:
            raise AgentmuxError(f"no task {task_id}")
        return row

    # --- the user's changes ------------------------------------------------------------------------------

    def cancel(self, task_id: int, now: float | None = None) -> Task:
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            state = TaskState(self._row(db, task_id)["state"])
            if state.ended:
                raise AgentmuxError(f"task {task_id} already {state.value}")
            reason = ("cancelled while the agent worked on it (the agent was not interrupted)" if state.active
                      else "cancelled")
            db.execute("UPDATE tasks SET state = 'cancelled', reason = ?, updated_at = ?, finished_at = ? "
                       "WHERE id = ?", (reason, now, now, task_id))
            self._event(db, task_id, now, reason)
            pending = self._resolve(db, now, ended=task_id)
        self._settle(pending, now)
        return self.get(task_id)

    def retry(self, task_id: int, now: float | None = None) -> Task:
        """Put an ended task (failed, cancelled, skipped) back in the queue."""
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            row = self._row(db, task_id)
            state = TaskState(row["state"])
            if state not in (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED):
                raise AgentmuxError(f"task {task_id} is {state.value}: only a failed, cancelled or skipped task "
                                    "can be retried")
            waits = self._after(db, task_id)
            # its own retries start again: as many automatic retries after this attempt as it was given
            retries = row["retries"] + row["attempts"] if row["retries"] else 0
            db.execute("UPDATE tasks SET state = ?, reason = 'retried by request', result = '', updated_at = ?, "
                       "not_before = NULL, finished_at = NULL, retries = ? WHERE id = ?",
                       ((TaskState.QUEUED if waits else TaskState.READY).value, now, retries, task_id))
            self._event(db, task_id, now, f"retried by request (was {state.value})")
            self._reopen_skipped_after(db, task_id, now)
            pending = self._resolve(db, now, candidates=[task_id])
        self._settle(pending, now)
        return self.get(task_id)

    def set_priority(self, task_id: int, priority: int, now: float | None = None) -> Task:
        """Reprioritise a task that has not gone out yet."""
        _check_priority(priority)
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            state = TaskState(self._row(db, task_id)["state"])
            if state not in (TaskState.QUEUED, TaskState.READY):
                raise AgentmuxError(f"task {task_id} is {state.value}: only a waiting task can be reprioritised")
            db.execute("UPDATE tasks SET priority = ?, updated_at = ? WHERE id = ?", (priority, now, task_id))
        return self.get(task_id)

    def pause(self, agent: str, now: float | None = None) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO queue_paused (agent, at) VALUES (?, ?)",
                       (agent, time.time() if now is None else now))

    def resume(self, agent: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM queue_paused WHERE agent = ?", (agent,))

    # --- dependencies ------------------------------------------------------------------------------------

    def _resolve(self, db: sqlite3.Connection, now: float, ended: int | None = None,
                 candidates: list[int] | None = None) -> list[int]:
        """Decide waiting tasks whose dependencies have all ended: those waiting for task `ended`, or the
        `candidates`, or (neither given) every waiting task; a skip decides the tasks waiting for it in turn.

        A task whose condition comes down to its pattern is left waiting and returned: the caller commits,
        then gives these to `_settle`, which matches the pattern with no transaction open."""
        if candidates is None:
            candidates = self._waiting_for(db, ended) if ended is not None else [
                row[0] for row in db.execute("SELECT id FROM tasks WHERE state = 'queued'")]
        work = list(candidates)
        pending: list[int] = []
        while work:
            task_id = work.pop()
            seen = self._condition_inputs(db, task_id)
            if seen is None:
                continue
            problem = self._state_fails(seen)
            if problem is None and seen.pattern is not None:
                pending.append(task_id)
            elif self._decide(db, task_id, problem, now):
                work += self._waiting_for(db, task_id)
        return pending

    def _settle(self, pending: list[int], now: float) -> None:
        """Decide the tasks whose condition needs their pattern: read what the condition looks at, match with
        no transaction open (a pattern never holds the store), then write the verdict in a short transaction
        if the task and its dependencies are still as read; if not, decide it again. Skips cascade, and the
        tasks they reach may need their patterns in turn."""
        work = list(dict.fromkeys(pending))
        while work:
            task_id = work.pop()
            seen = self._condition_inputs(self.store.db, task_id)
            if seen is None:
                continue  # decided meanwhile, or waits again: whoever changed it decides it
            problem = self._state_fails(seen) or self._output_fails(seen)
            with self.store.transaction() as db:
                if self._condition_inputs(db, task_id) != seen:
                    work += self._resolve(db, now, candidates=[task_id])
                elif self._decide(db, task_id, problem, now):
                    work += self._resolve(db, now, ended=task_id)

    def _decide(self, db: sqlite3.Connection, task_id: int, problem: str | None, now: float) -> bool:
        """Make a waiting task ready, or skip it with the reason; True when it was skipped."""
        if problem is None:
            db.execute("UPDATE tasks SET state = 'ready', reason = '', updated_at = ? WHERE id = ?", (now, task_id))
            return False
        db.execute("UPDATE tasks SET state = 'skipped', reason = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                   (problem, now, now, task_id))
        self._event(db, task_id, now, f"skipped: {problem}")
        return True

    def _reopen_skipped_after(self, db: sqlite3.Connection, task_id: int, now: float) -> None:
        """Tasks skipped because of a task now retried wait for it again (and so on down the chain): they
        are decided on its new outcome, not on the old one."""
        work = [task_id]
        while work:
            retried = work.pop()
            for (waiting,) in db.execute("SELECT d.task FROM task_deps d JOIN tasks t ON t.id = d.task "
                                         "WHERE d.after = ? AND t.state = 'skipped'", (retried,)).fetchall():
                db.execute("UPDATE tasks SET state = 'queued', reason = '', updated_at = ?, finished_at = NULL "
                           "WHERE id = ?", (now, waiting))
                self._event(db, waiting, now, f"waiting again: task {task_id} was retried")
                work.append(waiting)

    @staticmethod
    def _waiting_for(db: sqlite3.Connection, task_id: int) -> list[int]:
        return [row[0] for row in db.execute(
            "SELECT d.task FROM task_deps d JOIN tasks t ON t.id = d.task WHERE d.after = ? AND t.state = 'queued'",
            (task_id,))]

    @staticmethod
    def _condition_inputs(db: sqlite3.Connection, task_id: int) -> ConditionInputs | None:
        """What a waiting task's condition looks at, or None when it is not waiting or still has a dependency
        that has not ended."""
        row = db.execute("SELECT state, run_when, if_output FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None or row["state"] != TaskState.QUEUED.value:
            return None
        deps = tuple((dep["id"], TaskState(dep["state"]), dep["result"]) for dep in db.execute(
            "SELECT t.id, t.state, t.result FROM task_deps d JOIN tasks t ON t.id = d.after WHERE d.task = ? "
            "ORDER BY t.id", (task_id,)))
        if any(not state.ended for _, state, _ in deps):
            return None
        return ConditionInputs(row["run_when"], row["if_output"], deps)

    @staticmethod
    def _state_fails(seen: ConditionInputs) -> str | None:
        """Why `--when` can no longer hold, or None."""
        for dep, state, _ in seen.deps:
            if seen.when == "success" and state != TaskState.SUCCEEDED:
                return f"task {dep} {state.value} (runs only after success)"
            if seen.when == "failure" and state != TaskState.FAILED:
                return f"task {dep} {state.value} (runs only after failure)"
        return None

    @staticmethod
    def _output_fails(seen: ConditionInputs) -> str | None:
        """Why `--if-output` does not hold (no match, or a pattern that cannot be used), or None. Slow only in
        proportion to the outputs (RE2): called with no transaction open all the same."""
        if seen.pattern is None:
            return None
        try:
            pattern = patterns.Pattern(seen.pattern)
            for dep, _, result in seen.deps:
                if not pattern.search(result[-RESULT_LIMIT:]):
                    return f"the output of task {dep} does not match {seen.pattern!r}"
        except patterns.PatternError as exc:
            return f"--if-output {patterns.one_line(repr(seen.pattern))} is {exc.reason}"
        return None

    # --- dispatching (the supervisor) --------------------------------------------------------------------

    def agents_with_work(self, now: float | None = None) -> dict[str, bool]:
        """Agents with a task out (True) or a ready task due now (False): all the dispatcher looks at.

        Runs at every look of the supervisor, so it walks the (agent, state) index agent by agent (a few
        index seeks per agent) instead of reading every ready task: 0.1 ms with 10,000 tasks queued."""
        now = time.time() if now is None else now
        rows = self.store.db.execute(
            "WITH RECURSIVE agents(name) AS (SELECT MIN(agent) FROM tasks UNION ALL "
            "SELECT (SELECT MIN(agent) FROM tasks WHERE agent > name) FROM agents WHERE name IS NOT NULL) "
            "SELECT name, EXISTS (SELECT 1 FROM tasks WHERE agent = name AND state IN ('dispatched', 'running')), "
            "EXISTS (SELECT 1 FROM tasks WHERE agent = name AND state = 'ready' "
            "AND (not_before IS NULL OR not_before <= ?)) FROM agents WHERE name IS NOT NULL", (now,))
        return {name: bool(out) for name, out, ready in rows if out or ready}

    def active(self, agent: str) -> Task | None:
        """The task out with this agent (dispatched or running), if any."""
        row = self.store.db.execute("SELECT * FROM tasks WHERE agent = ? AND state IN ('dispatched', 'running') "
                                    "ORDER BY id LIMIT 1", (agent,)).fetchone()
        return Task.from_row(row) if row else None

    def next_ready(self, agent: str, now: float | None = None) -> Task | None:
        """The task to send to this agent now, if any: none while the agent has one out or is paused."""
        now = time.time() if now is None else now
        db = self.store.db
        if self.paused(agent):
            return None
        if db.execute("SELECT 1 FROM tasks WHERE agent = ? AND state IN ('dispatched', 'running')",
                      (agent,)).fetchone():
            return None
        row = db.execute(
            f"SELECT * FROM tasks INDEXED BY tasks_open WHERE agent = ? AND {OPEN_SQL} AND state = 'ready' "
            "AND (not_before IS NULL OR not_before <= ?) ORDER BY priority DESC, created_at, id LIMIT 1",
            (agent, now)).fetchone()
        return Task.from_row(row) if row else None

    def mark_dispatched(self, task_id: int, output_mark: int | None, now: float | None = None,
                        holder: str | None = None) -> bool:
        """Claim a ready task for sending (before it is sent: a crash then is seen on recovery).

        False when it is no longer ready (cancelled in between), when its agent is being (or was) stopped,
        or, given a `holder`, when that holder no longer holds the supervisor lease: two processes can never
        both claim (and so send) a task."""
        now = time.time() if now is None else now
        fence, params = "", [now, output_mark, now, holder, task_id]
        if holder is not None:
            fence = " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND expires_at > ?)"
            params += [SUPERVISOR_LEASE, holder, now]
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE tasks SET state = 'dispatched', attempts = attempts + 1, dispatched_at = ?, sent_at = NULL, "
                "started_at = NULL, output_mark = ?, updated_at = ?, reason = '', dispatched_by = ? "
                "WHERE id = ? AND state = 'ready' "
                # an agent being stopped comes back to its prompt on the way out: nothing more goes in
                "AND NOT EXISTS (SELECT 1 FROM agents WHERE name = tasks.agent AND desired = 'stopped')" + fence,
                params)
            return cursor.rowcount == 1

    def mark_sent(self, task_id: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            row = db.execute("UPDATE tasks SET sent_at = ?, updated_at = ? WHERE id = ? AND state = 'dispatched' "
                             "RETURNING attempts, agent, dispatched_by", (now, now, task_id)).fetchone()
            if row is not None:
                by = f" by {row['dispatched_by']}" if row["dispatched_by"] else ""
                self._event(db, task_id, now, f"attempt {row['attempts']} typed into {row['agent']}{by}")

    def mark_running(self, task_id: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            db.execute("UPDATE tasks SET state = 'running', started_at = ?, updated_at = ? "
                       "WHERE id = ? AND state = 'dispatched'", (now, now, task_id))

    def move_mark(self, task_id: int, lines: int) -> None:
        """The agent's scrollback lost `lines` old lines (tmux trims a full history): keep the mark on the
        same line of output."""
        with self.store.transaction() as db:
            db.execute("UPDATE tasks SET output_mark = output_mark - ? WHERE id = ?", (lines, task_id))

    def finish(self, task_id: int, ok: bool, result: str, reason: str, now: float | None = None) -> Task:
        """Record how a task ended; a failure with retries left goes back to ready after a backoff."""
        now = time.time() if now is None else now
        result = result[-RESULT_LIMIT:]
        with self.store.transaction() as db:
            row = self._row(db, task_id)
            if not TaskState(row["state"]).active:
                return self.get(task_id)  # cancelled meanwhile: the user's word stands
            if ok:
                db.execute("UPDATE tasks SET state = 'succeeded', result = ?, reason = ?, finished_at = ?, "
                           "updated_at = ? WHERE id = ?", (result, reason, now, now, task_id))
                self._event(db, task_id, now, f"succeeded: {reason}")
            elif row["attempts"] <= row["retries"]:
                delay = min(BACKOFF_MAX, BACKOFF_BASE ** (row["attempts"] - 1))
                reason = f"{reason}; retry {row['attempts']} of {row['retries']} in {delay:g}s"
                db.execute("UPDATE tasks SET state = 'ready', result = ?, reason = ?, not_before = ?, updated_at = ? "
                           "WHERE id = ?", (result, reason, now + delay, now, task_id))
                self._event(db, task_id, now, f"attempt {row['attempts']} failed: {reason}")
            else:
                db.execute("UPDATE tasks SET state = 'failed', result = ?, reason = ?, finished_at = ?, "
                           "updated_at = ? WHERE id = ?", (result, reason, now, now, task_id))
                self._event(db, task_id, now, f"failed: {reason}")
            pending = self._resolve(db, now, ended=task_id)
        self._settle(pending, now)
        return self.get(task_id)

    def recover(self, policy: str = "retry", now: float | None = None) -> list[Task]:
        """After a supervisor died: a task claimed but not known to be sent may or may not have reached the
        agent. `retry` sends it again (its attempts count shows it), `fail` marks it failed; either way the
        reason and the task's history say so. Tasks known to be sent are followed as usual.

        Also decides waiting tasks left undecided by a process that stopped between adding a task and
        matching its pattern (its dependencies had all ended)."""
        now = time.time() if now is None else now
        pending: list[int] = []
        with self.store.transaction() as db:
            rows = db.execute("SELECT id, attempts FROM tasks WHERE state = 'dispatched' AND sent_at IS NULL"
                              ).fetchall()
            for row in rows:
                note = f"dispatch attempt {row['attempts']} was cut off; it may have reached the agent"
                if policy == "retry":
                    note += ": sent again"
                    db.execute("UPDATE tasks SET state = 'ready', reason = ?, updated_at = ? WHERE id = ?",
                               (note, now, row["id"]))
                else:
                    db.execute("UPDATE tasks SET state = 'failed', reason = ?, finished_at = ?, updated_at = ? "
                               "WHERE id = ?", (note, now, now, row["id"]))
                    pending += self._resolve(db, now, ended=row["id"])
                self._event(db, row["id"], now, note)
            undecided = [row[0] for row in db.execute(
                "SELECT id FROM tasks t WHERE state = 'queued' AND NOT EXISTS (SELECT 1 FROM task_deps d "
                f"JOIN tasks dep ON dep.id = d.after WHERE d.task = t.id AND dep.{OPEN_SQL})")]
            pending += self._resolve(db, now, candidates=undecided)
        self._settle(pending, now)
        return [self.get(row["id"]) for row in rows]
