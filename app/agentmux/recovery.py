"""Recovering a damaged store: keep the file as a backup, save every row that can still be read.

SQLite keeps each table as a b-tree of pages, and any scan that reaches a damaged page fails. Rows are
copied table by table; when a table's scan fails, the readable rowid ranges around the bad pages are
found by seeking (a seek past a bad page lands on the next good one), so one bad page loses only its own
rows. The new store is filled under a temporary name and moved into place when complete: no agentmux
process ever opens a half-filled one.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentmux import processes
from agentmux.errors import AgentmuxError
from agentmux.store import ROLLUP_COLUMNS, Store, is_damage

TABLES = ("agents", "state_changes", "events", "tasks", "task_deps", "task_events", "queue_paused", "hook_events",
          "turns", "coord_locks", "coord_reservations", "coord_barriers", "coord_messages", "coord_inbox", "coord_kv",
          "coord_kv_log", "coord_meta", "api_messages", "api_permits", "api_key_state", "api_usage")
"""Every table whose rows are saved; leases, lock holds and waiters and barrier arrivals are
not (whoever held one is gone or must be stopped first). The ledger's rollups are not copied row by row: the
store's trigger rebuilds them from the rescued ledger, and `merge_rollups` adds what only they still knew."""
ROLLUPS = (("api_usage_daily", ("day", "agent", "model")), ("api_usage_total", ("agent", "model")))
SIBLINGS = ("-wal", "-shm")
MAGIC = b"SQLite format 3\x00"
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
MIN_ROWID, MAX_ROWID = -(2**63), 2**63 - 1
LINEAR_STEPS = 1024
"""Ids tried one by one past a bad page, when no index lists the rowids, before the steps double."""


@dataclass(frozen=True)
class TableRescue:
    """What became of one table's rows."""

    table: str
    saved: int
    lost: int | None
    """Rows that could not be read (None: unknown)."""
    counted: bool = True
    """`lost` was counted from an intact index (or the scan read every row); else estimated from the gaps
    in the rowids, which for these tables are ids given out in order."""

    def describe(self) -> str:
        line = f"{self.table}: {self.saved} rows saved"
        if self.lost is None:
            return line + ", an unknown number could not be read"
        if self.lost == 0:
            return line
        return line + f", {'' if self.counted else 'about '}{self.lost} could not be read"


@dataclass(frozen=True)
class Recovery:
    backup: Path
    tables: tuple[TableRescue, ...]
    header_rebuilt: bool
    skipped: tuple[int, ...]
    """Waiting tasks skipped because a task they waited for could not be read."""


def store_files(path: Path) -> list[Path]:
    return [path, *(Path(f"{path}{suffix}") for suffix in SIBLINGS)]


def open_by_others(path: Path) -> list[int] | None:
    """Processes other than this one with the store (or its -wal/-shm) open; None when that is unknown."""
    return processes.holders({os.path.realpath(file) for file in store_files(path)})


def refuse_if_open(path: Path) -> None:
    pids = open_by_others(path)
    if pids:
        who = ", ".join(processes.describe(pid) for pid in pids)
        raise AgentmuxError(f"{who} has the store {path} open; quit it first (agentmux-tui, `agentmux serve`, "
                            "or any agentmux command still running), then run `agentmux doctor --fix` again")


def backup_path(path: Path, now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    backup, number = path.with_name(f"{path.name}.damaged-{stamp}"), 2
    while any(file.exists() for file in store_files(backup)):
        backup, number = path.with_name(f"{path.name}.damaged-{stamp}-{number}"), number + 1
    return backup


def recover(path: Path, now: float | None = None) -> Recovery:
    """Move the damaged store at `path` (with its -wal and -shm) to `PATH.damaged-YYYYmmdd-HHMMSS` and put a
    new store there holding every row that could be read. Refused while another process has it open."""
    now = time.time() if now is None else now
    refuse_if_open(path)
    fresh = path.with_name(f".{path.name}.new-{os.getpid()}")
    for file in store_files(fresh):
        file.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.recover-", dir=path.parent))
    try:
        source = scratch / "damaged.db"  # a copy: reading may replay its WAL; the backup stays as it was
        for file, copy in zip(store_files(path), store_files(source), strict=True):
            if file.exists():
                shutil.copyfile(file, copy)
        header_rebuilt = not schema_readable(source) and rebuild_header(source)
        store = Store(fresh)
        try:
            tables = copy_tables(store.db, source)
            skipped = skip_orphans(store, now)
        finally:
            store.close()
        refuse_if_open(path)
        backup = backup_path(path, now)
        for file, moved in zip(store_files(path), store_files(backup), strict=True):
            if file.exists():
                file.rename(moved)
        fresh.rename(path)
    except BaseException:
        for file in store_files(fresh):
            file.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Recovery(backup, tables, header_rebuilt, skipped)


# --- reading what can be read --------------------------------------------------------------------------------

def schema_readable(source: Path) -> bool:
    db = sqlite3.connect(source)
    try:
        db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        return True
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return False
    finally:
        db.close()


def rebuild_header(source: Path) -> bool:
    """Write a new header (the first 100 bytes) over a garbage one, trying the usual page sizes until the
    schema reads; True when one did. Its other fields are the defaults of a fresh WAL database."""
    size = source.stat().st_size
    with source.open("r+b") as handle:
        original = handle.read(100)
        for page_size in PAGE_SIZES:
            pages = -(-size // page_size)
            header = struct.pack(
                ">16sHBBBBBBIIIIIIIIIIII20sII", MAGIC, 1 if page_size == 65536 else page_size, 2, 2, 0, 64, 32,
                32, 1, pages, 0, 0, 1, 4, 0, 0, 1, 0, 0, 0, b"", 1, sqlite3.sqlite_version_info[0] * 1000000,
            )
            handle.seek(0)
            handle.write(header)
            handle.flush()
            if schema_readable(source):
                return True
        handle.seek(0)
        handle.write(original)
    return False


def copy_tables(db: sqlite3.Connection, source: Path) -> tuple[TableRescue, ...]:
    nothing = tuple(TableRescue(table, 0, None, counted=False) for table in TABLES)
    try:
        db.execute("ATTACH DATABASE ? AS damaged", (str(source),))
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return nothing
    try:
        try:
            present = {row[0] for row in db.execute("SELECT name FROM damaged.sqlite_schema WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            return nothing
        rescued = tuple(rescue_table(db, table) if table in present else TableRescue(table, 0, 0)
                        for table in TABLES)
        keep_task_ids_unique(db)
        merge_rollups(db, present)
        return rescued
    finally:
        db.execute("DETACH DATABASE damaged")


def merge_rollups(db: sqlite3.Connection, present: set[str]) -> None:
    """The ledger's rollups as the damaged store had them, merged into those the trigger rebuilt from the rescued
    ledger: each count the larger of the two (never added: the same requests would count twice), so spending
    on ledger rows that could not be read still counts against budgets; then each total at least its days' sum,
    so everything is never less than a week. A rollup that cannot be read whole is left as rebuilt."""
    update = ", ".join(f"{column} = max({column}, excluded.{column})" for column in ROLLUP_COLUMNS)
    for table, key in ROLLUPS:
        if table not in present:
            continue
        names = ", ".join((*key, *ROLLUP_COLUMNS))
        try:
            db.execute(f'INSERT INTO main."{table}" ({names}) SELECT {names} FROM damaged."{table}" NOT INDEXED '
                       f"WHERE true ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}")
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
    sums = ", ".join(f"sum({column})" for column in ROLLUP_COLUMNS)
    db.execute(f"INSERT INTO main.api_usage_total (agent, model, {', '.join(ROLLUP_COLUMNS)}) "
               f"SELECT agent, model, {sums} FROM main.api_usage_daily WHERE true GROUP BY agent, model "
               f"ON CONFLICT (agent, model) DO UPDATE SET {update}")


def rescue_table(db: sqlite3.Connection, table: str) -> TableRescue:
    """Copy every readable row of `table` from the damaged store, rowids kept."""
    theirs = [row[1] for row in db.execute(f'PRAGMA damaged.table_info("{table}")')]
    ours = {row[1]: row for row in db.execute(f'PRAGMA main.table_info("{table}")')}
    columns = [name for name in theirs if name in ours]
    key = [row for row in ours.values() if row[5]]
    rowid_alias = len(key) == 1 and str(key[0][2]).upper() == "INTEGER"  # `id INTEGER PRIMARY KEY` is the rowid
    names = ", ".join(([] if rowid_alias else ["rowid"]) + [f'"{name}"' for name in columns])
    insert = f'INSERT OR IGNORE INTO main."{table}" ({names}) SELECT {names} FROM damaged."{table}" NOT INDEXED'
    try:
        db.execute(insert)
        read = db.execute(f'SELECT count(*) FROM damaged."{table}" NOT INDEXED').fetchone()[0]
        saved = count(db, table)
        return TableRescue(table, saved, read - saved)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
    listed = indexed_rowids(db, table)
    runs, gaps = readable_runs(db, table, None if listed is None else sorted(listed))
    for run in runs:
        copy_rows(db, insert, run)
    saved_ids = {row[0] for row in db.execute(f'SELECT rowid FROM main."{table}"')}
    if listed is not None:
        return TableRescue(table, len(saved_ids), len(listed - saved_ids))
    unread = sum(len(run) for run in runs) - len(saved_ids)
    if any(after is None for _, after in gaps):
        return TableRescue(table, len(saved_ids), None, counted=False)
    missing = sum(max(0, after - (before or 0) - 1) for before, after in gaps if after is not None)
    return TableRescue(table, len(saved_ids), unread + missing, counted=False)


def count(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f'SELECT count(*) FROM main."{table}"').fetchone()[0])


def copy_rows(db: sqlite3.Connection, insert: str, rowids: list[int]) -> None:
    """Copy the rows with these rowids (consecutive in the table); a range that fails is halved until each
    row that cannot be read is left out on its own. LIMIT, not an upper bound: checking a bound reads the
    row after the range, which may lie on the bad page."""
    try:
        db.execute(f"{insert} WHERE rowid >= ? ORDER BY rowid LIMIT ?", (rowids[0], len(rowids)))
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        if len(rowids) > 1:
            middle = len(rowids) // 2
            copy_rows(db, insert, rowids[:middle])
            copy_rows(db, insert, rowids[middle:])


def readable_runs(db: sqlite3.Connection, table: str, listed: list[int] | None = None,
                  ) -> tuple[list[list[int]], list[tuple[int | None, int | None]]]:
    """The table's readable rowids in runs, and the gaps between them: (last rowid read before, first read
    after; None when nothing after could be read). Only the table's own b-tree is read (NOT INDEXED);
    `listed`: every rowid as an intact index lists them, sorted, where one could be read."""
    scan = f'SELECT rowid FROM damaged."{table}" NOT INDEXED WHERE rowid >= ? ORDER BY rowid'
    runs: list[list[int]] = []
    gaps: list[tuple[int | None, int | None]] = []
    start = MIN_ROWID
    while True:
        run: list[int] = []
        try:
            for (rowid,) in db.execute(scan, (start,)):
                run.append(rowid)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
        else:
            if run:
                runs.append(run)
            return runs, gaps
        # The cursor reads a row ahead, so the rows just before the bad page are read one seek at a time.
        at = run[-1] + 1 if run else start
        while at <= MAX_ROWID:
            ok, rowid = first_rowid(db, table, at)
            if not ok:
                break
            if rowid is None:  # nothing after: the scan failed on its way to the end
                if run:
                    runs.append(run)
                return runs, gaps
            run.append(rowid)
            at = rowid + 1
        if run:
            runs.append(run)
        before = runs[-1][-1] if runs else None
        resume = next_readable(lambda at: first_rowid(db, table, at), at, listed)
        if resume is None or resume[1] is None:
            gaps.append((before, None))
            return runs, gaps
        start = resume[1]
        gaps.append((before, start))


def first_rowid(db: sqlite3.Connection, table: str, at: int) -> tuple[bool, int | None]:
    """(readable, the first rowid >= at or None when there is none) for a seek into the table's b-tree."""
    try:
        row = db.execute(f'SELECT rowid FROM damaged."{table}" NOT INDEXED WHERE rowid >= ? ORDER BY rowid LIMIT 1',
                         (at,)).fetchone()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return False, None
    return True, None if row is None else int(row[0])


def next_readable(seek: Callable[[int], tuple[bool, int | None]], lower: int,
                  listed: list[int] | None = None) -> tuple[int, int | None] | None:
    """The smallest start >= lower whose seek reads, with what it read; None when none is found.

    With the rowids an intact index lists (sorted), each one after `lower` is tried in turn: exact. Without,
    ids are tried one by one for a while (ids are given out in order from 1, so a few bad pages are crossed
    exactly), then in doubling steps bisected back, which can step over a short readable stretch between
    bad pages; what it steps over is counted as lost."""
    if lower > MAX_ROWID:
        return None
    ok, first = seek(lower)
    if ok:
        return lower, first
    if listed is not None:
        for rowid in listed[bisect.bisect_right(listed, lower):]:
            ok, first = seek(rowid)
            if ok:
                return rowid, first
        return None
    bad = lower
    if bad < 0:  # SQLite gives out rowids from 1: look there before stepping through the negatives
        ok, first = seek(1)
        if ok:
            return 1, first
        bad = 1
    for candidate in range(bad + 1, min(bad + LINEAR_STEPS, MAX_ROWID) + 1):
        ok, first = seek(candidate)
        if ok:
            return candidate, first
        bad = candidate
    step = LINEAR_STEPS
    while True:
        good = min(bad + step, MAX_ROWID)
        ok, first = seek(good)
        if ok:
            break
        if good == MAX_ROWID:
            return None
        bad, step = good, step * 2
    while good - bad > 1:
        middle = (bad + good) // 2
        ok, found = seek(middle)
        if ok:
            good, first = middle, found
        else:
            bad = middle
    return good, first


def indexed_rowids(db: sqlite3.Connection, table: str) -> set[int] | None:
    """Every rowid of the table as an intact full index lists it (an index holds the rowid of every row);
    None when no index of the table can be read."""
    for row in db.execute(f'PRAGMA damaged.index_list("{table}")').fetchall():
        if row[4]:  # a partial index lists only some rows
            continue
        try:
            return {r[0] for r in db.execute(f'SELECT rowid FROM damaged."{table}" INDEXED BY "{row[1]}"')}
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
    return None


def keep_task_ids_unique(db: sqlite3.Connection) -> None:
    """New tasks must never get the id of one that could not be read: its history, the tasks that wait for
    it and the user's notes still name it. The id counter goes past every id any readable row mentions."""
    highest = [db.execute("SELECT max(id) FROM main.tasks").fetchone()[0],
               db.execute("SELECT max(task) FROM main.task_events").fetchone()[0],
               db.execute("SELECT max(max(task, after)) FROM main.task_deps").fetchone()[0]]
    with contextlib.suppress(sqlite3.DatabaseError):
        row = db.execute("SELECT seq FROM damaged.sqlite_sequence WHERE name = 'tasks'").fetchone()
        highest.append(None if row is None else row[0])  # None: the damaged store never had a task
    with contextlib.suppress(sqlite3.DatabaseError):
        highest.append(db.execute('SELECT max(rowid) FROM damaged."tasks"').fetchone()[0])
    top = max((value for value in highest if isinstance(value, int)), default=0)
    if db.execute("UPDATE main.sqlite_sequence SET seq = max(seq, ?) WHERE name = 'tasks'", (top,)).rowcount == 0:
        db.execute("INSERT INTO main.sqlite_sequence (name, seq) VALUES ('tasks', ?)", (top,))


def skip_orphans(store: Store, now: float) -> tuple[int, ...]:
    """A waiting task whose dependency could not be read would run as if it had none: it is skipped with
    that reason instead (and the tasks waiting for it decided in turn), so `queue retry` is a choice."""
    from agentmux.queue.model import Queue

    queue = Queue(store)
    skipped: list[int] = []
    with store.transaction() as db:
        rows = db.execute("SELECT d.task, min(d.after) FROM task_deps d JOIN tasks t ON t.id = d.task "
                          "WHERE t.state = 'queued' AND d.after NOT IN (SELECT id FROM tasks) GROUP BY d.task "
                          "ORDER BY d.task").fetchall()
        for task_id, after in rows:
            reason = f"task {after}, which it waits for, could not be read when the damaged store was recovered"
            db.execute("UPDATE tasks SET state = 'skipped', reason = ?, updated_at = ?, finished_at = ? "
                       "WHERE id = ? AND state = 'queued'", (reason, now, now, task_id))
            queue._event(db, task_id, now, f"skipped: {reason}")
            queue._resolve(db, now, ended=task_id)  # the queue's own rule for the tasks waiting for it
            skipped.append(task_id)
    return tuple(skipped)
