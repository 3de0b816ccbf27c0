"""The log database: every stored entry with a trigram full-text index, capped per agent and in total.

Its own SQLite file beside the store (`Config.logs_path`), in WAL mode: the lease holder writes, any process
reads (a search never blocks the writer, nor the writer a search). Entries arrive already masked: what enters
this file stays in it until it is trimmed.

Caps (`LogSettings`): entries and bytes of text per agent, entries in total, and the size of the file. After
each append the oldest entries over a cap are deleted (their index entries with them, by trigger); when the
file's used pages reach its cap the oldest tenth goes, the index merges its segments so deleted entries leave
its pages, and free pages are given back (`auto_vacuum = INCREMENTAL`): the file stops growing at its cap.

The index is FTS5's trigram tokenizer without positions (`detail=none`: about half the size and 40% faster to
write than with them); `LogQuery` asks it for the trigrams a search needs and checks each candidate exactly.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from agentmux.config import LogSettings
from agentmux.errors import AgentmuxError
from agentmux.logs.model import LogEntry, Severity, Stream
from agentmux.logs.query import LogQuery
from agentmux.store import immediate, split_sql, while_locked

SCHEMA = """
CREATE TABLE log_agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    lines INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE log_lines (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    agent INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    text TEXT NOT NULL,
    styled TEXT
);
CREATE INDEX log_lines_agent ON log_lines (agent, id);
CREATE INDEX log_lines_notable ON log_lines (id) WHERE severity >= 30;
CREATE VIRTUAL TABLE log_index USING fts5 (
    text, content = 'log_lines', content_rowid = 'id', tokenize = 'trigram', detail = 'none'
);
CREATE TABLE log_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TRIGGER log_lines_deleted AFTER DELETE ON log_lines BEGIN
    INSERT INTO log_index (log_index, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
VERSION = 1
ENTRY_BYTES = "length(CAST(text AS BLOB)) + coalesce(length(CAST(styled AS BLOB)), 0)"
COLUMNS = "l.id, l.at, a.name, l.stream, l.severity, l.text, l.styled"
SCAN_CHUNK = 5000
CAP_FILL = 0.9
"""The file's used pages are kept under this share of its cap (the rest is room for the index's merges)."""
MERGE_PAGES = 300
"""Pages of index one merge after a deletion writes at most (about 1 MB)."""
RECLAIM_FREE = 0.25
"""Free pages are given back once they are this share of the file."""


def entry_bytes(entry: LogEntry) -> int:
    return len(entry.text.encode("utf-8", "replace")) + (len(entry.styled.encode("utf-8", "replace"))
                                                         if entry.styled is not None else 0)


class LogStoreError(AgentmuxError):
    pass


@dataclass
class LogStats:
    """What the file holds."""

    lines: int = 0
    bytes: int = 0
    file_bytes: int = 0
    per_agent: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Entries and bytes of text, by agent."""


class LogStore:
    """A connection to the log database. The writer (the lease holder) appends; readers search."""

    def __init__(self, path: Path, limits: LogSettings | None = None) -> None:
        self.path = path
        self.limits = limits or LogSettings()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._prepare()
        except (OSError, sqlite3.Error) as exc:
            raise LogStoreError(f"cannot open the log database {path}: {exc}") from None
        self._agent_ids: dict[str, int] = {}
        self._agent_names: dict[int, str] = {}
        self._totals: tuple[int, int] | None = None
        self._last_at = 0.0
        self._deleted = False
        self._page_size: int | None = None

    def _prepare(self) -> None:
        def prepare() -> None:
            # before the first table: free pages can then be given back to the file system
            self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA journal_size_limit = 16777216")
            with self._write() as db:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version > VERSION:
                    raise LogStoreError(f"the log database {self.path} was written by a newer agentmux "
                                        f"(version {version}); upgrade agentmux")
                if version == 0:
                    for statement in split_sql(SCHEMA):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {VERSION}")

        while_locked(prepare)

    def close(self) -> None:
        self.db.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self.db)

    # --- agents ------------------------------------------------------------------------------------------

    def _agent_id(self, name: str) -> int:
        known = self._agent_ids.get(name)
        if known is not None:
            return known
        self.db.execute("INSERT OR IGNORE INTO log_agents (name) VALUES (?)", (name,))
        agent_id = int(self.db.execute("SELECT id FROM log_agents WHERE name = ?", (name,)).fetchone()[0])
        self._agent_ids[name], self._agent_names[agent_id] = agent_id, name
        return agent_id

    def _name(self, agent_id: int) -> str:
        name = self._agent_names.get(agent_id)
        if name is None:
            for found_id, found in self.db.execute("SELECT id, name FROM log_agents"):
                self._agent_names[found_id] = found
            name = self._agent_names.get(agent_id, f"#{agent_id}")
        return name

    def agents(self) -> list[str]:
        """Agents with entries, by name."""
        return [row[0] for row in self.db.execute("SELECT name FROM log_agents WHERE lines > 0 ORDER BY name")]

    def meta_int(self, key: str) -> int | None:
        """A number the writer keeps between runs (the last hook event logged), or None."""
        row = self.db.execute("SELECT value FROM log_meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def set_meta(self, key: str, value: int) -> None:
        with self._write() as db:
            db.execute("INSERT INTO log_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value", (key, str(value)))

    # --- writing -----------------------------------------------------------------------------------------

    def append(self, entries: Sequence[LogEntry]) -> int:
        """Store entries (one transaction), then trim what is over a cap. Returns the id of the last one."""
        if not entries:
            return self.newest_id()
        with self._write() as db:
            last = int(db.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()[0])
            rows = []
            counts: dict[int, list[int]] = {}
            at = self._last_at
            for number, entry in enumerate(entries, start=last + 1):
                agent = self._agent_id(entry.agent)
                at = max(entry.at, at)  # times never go back: a time range is an id range
                rows.append((number, at, agent, int(entry.stream), int(entry.severity), entry.text, entry.styled))
                count = counts.setdefault(agent, [0, 0])
                count[0] += 1
                count[1] += entry_bytes(entry)
            self._last_at = at
            db.executemany("INSERT INTO log_lines VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO log_index (rowid, text) VALUES (?, ?)", [(row[0], row[5]) for row in rows])
            db.executemany("UPDATE log_agents SET lines = lines + ?, bytes = bytes + ? WHERE id = ?",
                           [(lines, size, agent) for agent, (lines, size) in counts.items()])
            if self._totals is not None:
                self._totals = (self._totals[0] + len(rows), self._totals[1] + sum(c[1] for c in counts.values()))
            self._trim_agents(db, list(counts))
            self._trim_total(db)
        self._check_file()
        return last + len(entries)

    def _delete_upto(self, db: sqlite3.Connection, last_id: int, agent: int | None = None) -> None:
        """Delete the entries up to `last_id` (of one agent, or all), keeping the counts right."""
        where, args = ("agent = ? AND id <= ?", (agent, last_id)) if agent is not None else ("id <= ?", (last_id,))
        gone = db.execute(f"SELECT agent, count(*), sum({ENTRY_BYTES}) FROM log_lines WHERE {where} GROUP BY agent",
                          args).fetchall()
        db.execute(f"DELETE FROM log_lines WHERE {where}", args)
        self._deleted = True
        db.executemany("UPDATE log_agents SET lines = max(0, lines - ?), bytes = max(0, bytes - ?) WHERE id = ?",
                       [(lines, size or 0, agent_id) for agent_id, lines, size in gone])
        if self._totals is not None:
            self._totals = (self._totals[0] - sum(row[1] for row in gone),
                            self._totals[1] - sum(row[2] or 0 for row in gone))

    def _trim_agents(self, db: sqlite3.Connection, agents: list[int]) -> None:
        limits = self.limits
        marks = ",".join("?" * len(agents))
        for agent, lines, size in db.execute(f"SELECT id, lines, bytes FROM log_agents WHERE id IN ({marks})",
                                             agents).fetchall():
            cut = 0
            if lines > limits.max_lines_per_agent:
                row = db.execute("SELECT id FROM log_lines WHERE agent = ? ORDER BY id LIMIT 1 OFFSET ?",
                                 (agent, lines - limits.max_lines_per_agent - 1)).fetchone()
                cut = row[0] if row else 0
            if size > limits.max_bytes_per_agent:
                excess = size - limits.max_bytes_per_agent
                for entry_id, length in db.execute(
                        f"SELECT id, {ENTRY_BYTES} FROM log_lines WHERE agent = ? ORDER BY id", (agent,)):
                    excess -= length
                    if excess <= 0:
                        cut = max(cut, entry_id)
                        break
            if cut:
                self._delete_upto(db, cut, agent)

    def _totals_now(self, db: sqlite3.Connection) -> tuple[int, int]:
        if self._totals is None:
            row = db.execute("SELECT coalesce(sum(lines), 0), coalesce(sum(bytes), 0) FROM log_agents").fetchone()
            self._totals = (int(row[0]), int(row[1]))
        return self._totals

    def _trim_total(self, db: sqlite3.Connection) -> None:
        lines, _ = self._totals_now(db)
        if lines > self.limits.max_lines:
            row = db.execute("SELECT id FROM log_lines ORDER BY id LIMIT 1 OFFSET ?",
                             (lines - self.limits.max_lines - 1,)).fetchone()
            if row:
                self._delete_upto(db, row[0])

    @property
    def page_size(self) -> int:
        if self._page_size is None:
            self._page_size = int(self.db.execute("PRAGMA page_size").fetchone()[0])
        return self._page_size

    def used_bytes(self) -> int:
        """Bytes of the file's pages in use (its size less the free pages)."""
        pages = int(self.db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self.page_size

    def _check_file(self) -> None:
        """Keep the file's used pages under its cap (deleting the oldest twentieth at a time), merge the index
        after deletions so their entries leave its pages, and give free pages back."""
        cap = self.limits.max_bytes
        for _ in range(20):
            if self.used_bytes() <= cap * CAP_FILL:
                break
            with self._write() as db:
                lines, _ = self._totals_now(db)
                row = db.execute("SELECT id FROM log_lines ORDER BY id LIMIT 1 OFFSET ?",
                                 (max(0, lines // 20 - 1),)).fetchone() if lines else None
                if row is None:
                    break
                self._delete_upto(db, row[0])
            self._merge()
        if self._deleted:
            self._merge()
        free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0])
        pages = int(self.db.execute("PRAGMA page_count").fetchone()[0])
        if free > RECLAIM_FREE * pages or pages * self.page_size > cap:
            self.reclaim()

    def _merge(self) -> None:
        """Some work of merging every segment of the index into one (a negative `merge`): deleted entries
        leave the index as the segments holding them are rewritten, a bounded amount per call."""
        self._deleted = False
        with self._write() as db:
            db.execute("INSERT INTO log_index (log_index, rank) VALUES ('merge', ?)", (-MERGE_PAGES,))

    def reclaim(self) -> None:
        """Give free pages back to the file system (the file shrinks to what it uses)."""
        self.db.executescript("PRAGMA incremental_vacuum;")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def forget(self, agents: Sequence[str]) -> None:
        """Delete every entry of these agents."""
        with self._write() as db:
            for name in agents:
                row = db.execute("SELECT id FROM log_agents WHERE name = ?", (name,)).fetchone()
                if row:
                    newest = db.execute("SELECT max(id) FROM log_lines WHERE agent = ?", (row[0],)).fetchone()[0]
                    if newest is not None:
                        self._delete_upto(db, newest, row[0])

    # --- reading -----------------------------------------------------------------------------------------

    def newest_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()[0])

    def stats(self) -> LogStats:
        stats = LogStats(file_bytes=self.path.stat().st_size if self.path.exists() else 0)
        for name, lines, size in self.db.execute("SELECT name, lines, bytes FROM log_agents ORDER BY name"):
            stats.per_agent[name] = (lines, size)
            stats.lines += lines
            stats.bytes += size
        return stats

    def _entry(self, row: tuple[int, float, str, int, int, str, str | None]) -> LogEntry:
        return LogEntry(id=row[0], at=row[1], agent=row[2], stream=Stream(row[3]), severity=Severity(row[4]),
                        text=row[5], styled=row[6])

    def id_at(self, at: float) -> int:
        """The id of the first entry at or after a time (times grow with ids), or one past the newest."""
        newest = self.newest_id()
        oldest = int(self.db.execute("SELECT coalesce(min(id), 1) FROM log_lines").fetchone()[0])

        class Times:
            def __getitem__(_, index: int) -> float:
                row = self.db.execute("SELECT at FROM log_lines WHERE id >= ? ORDER BY id LIMIT 1",
                                      (index,)).fetchone()
                return float(row[0]) if row else float("inf")

            def __len__(_) -> int:
                return newest + 1

        return bisect.bisect_left(Times(), at, lo=oldest)

    def _where(self, query: LogQuery) -> tuple[list[str], list[object]]:
        where: list[str] = []
        args: list[object] = []
        if query.agents:
            ids = [row[0] for row in self.db.execute(
                f"SELECT id FROM log_agents WHERE name IN ({','.join('?' * len(query.agents))})", query.agents)]
            if not ids:
                return ["0"], []
            where.append(f"l.agent IN ({','.join('?' * len(ids))})")
            args += ids
        if query.level is not None and query.level > Severity.INFO:
            where.append("l.severity >= 30 AND l.severity >= ?")  # the first term lets the partial index serve
            args.append(int(query.level))
        elif query.level is not None:
            where.append("l.severity >= ?")
            args.append(int(query.level))
        low = query.after_id
        if query.since is not None:
            low = max(low or 0, self.id_at(query.since) - 1)
        high = query.before_id
        if query.until is not None:
            until_id = self.id_at(query.until)
            high = until_id if high is None else min(high, until_id)
        if low is not None:
            where.append("l.id > ?")
            args.append(low)
        if high is not None:
            where.append("l.id < ?")
            args.append(high)
        return where, args

    def search(self, query: LogQuery) -> list[LogEntry]:
        """The entries that match, oldest first: the newest `limit` of them, or with `after_id` and no
        `before_id` the oldest `limit` after it (following)."""
        forward = query.after_id is not None and query.before_id is None
        where, args = self._where(query)
        match = query.fts_match()
        if query.filters_text:
            self.db.create_function("agentmux_accepts", 1, query.accepts, deterministic=True)
            where.append("agentmux_accepts(l.text)")
        order = "ASC" if forward else "DESC"
        if match is not None:
            sql = (f"SELECT {COLUMNS} FROM log_index f JOIN log_lines l ON l.id = f.rowid "
                   f"JOIN log_agents a ON a.id = l.agent WHERE log_index MATCH ? "
                   f"{''.join(' AND ' + term for term in where)} ORDER BY f.rowid {order} LIMIT ?")
            args = [match, *args, query.limit]
        else:
            sql = (f"SELECT {COLUMNS} FROM log_lines l JOIN log_agents a ON a.id = l.agent "
                   f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY l.id {order} LIMIT ?")
            args = [*args, query.limit]
        rows = [self._entry(row) for row in self.db.execute(sql, args)]
        return rows if forward else rows[::-1]

    def export(self, query: LogQuery) -> Iterator[LogEntry]:
        """Every entry that matches, oldest first, read in chunks (the limit is ignored)."""
        after = query.after_id or 0
        while True:
            chunk = self.search(LogQuery(agents=query.agents, text=query.text, regex=query.regex,
                                         ignore_case=query.ignore_case, level=query.level, since=query.since,
                                         until=query.until, after_id=after, limit=SCAN_CHUNK))
            if query.before_id is not None:
                chunk = [entry for entry in chunk if entry.id < query.before_id]
            yield from chunk
            if len(chunk) < SCAN_CHUNK:
                return
            after = chunk[-1].id
