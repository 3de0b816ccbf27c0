"""Messages between agents: a mailbox per agent, delivered once, with threads, importance and expiry.

A message is one row of `coord_messages` and one delivery (`coord_inbox`) per recipient, written in one IMMEDIATE
transaction, so a recipient either has it or not; "all" is every agent of the fleet but the sender. A receiver
takes its oldest unread live messages and marks them read in the same IMMEDIATE transaction, so two processes
receiving for one agent never both get a message. A receiver that waits is woken through the topic `msg:AGENT`
(wake.py) the moment a message for it commits, and looks again at least every `WAIT_BEAT` whatever wake-ups say.
Messages expire (`DEFAULT_TTL`); `reap()` removes expired messages and read deliveries older than `READ_KEPT`.
A thread is a free string; a message sent without one starts a thread named after its own id, so a reply can
give `--thread ID`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux.coord.owners import check_name
from agentmux.errors import UnknownAgent, UsageError
from agentmux.store import Store
from agentmux.topics import Listener, notify

IMPORTANCE = ("low", "normal", "high", "urgent")
DEFAULT_TTL = 7 * 24 * 3600.0
"""How long a message is kept for its recipients when the sender gives no ttl: a week."""
MAX_BODY = 1 << 20
"""The longest body, in characters (1 MiB): messages are notes between agents, not files."""
MAX_THREAD = 256
READ_KEPT = 24 * 3600.0
"""How long a delivery is kept once read (`ls` shows it), before `reap` removes it."""
WAIT_BEAT = 1.0
"""A waiting receiver looks again at least this often, whatever wake-ups say."""


def topic(recipient: str) -> str:
    return f"msg:{recipient}"


@dataclass(frozen=True)
class Message:
    """One message; `recipients` is everyone it was sent to, `read_at` when it was read by the recipient it was
    received or listed for (None when unread, or when listed for nobody in particular)."""

    id: int
    sender: str
    recipients: tuple[str, ...]
    thread: str
    importance: str
    body: str
    sent_at: float
    expires_at: float | None
    read_at: float | None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "sender": self.sender, "recipients": list(self.recipients), "thread": self.thread,
                "importance": self.importance, "body": self.body, "sent_at": self.sent_at,
                "expires_at": self.expires_at, "read_at": self.read_at}


def check_text(what: str, text: str) -> str:
    """Text that SQLite can store: UTF-8 (a command line's undecodable bytes arrive as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (at character {exc.start + 1})") from None
    return text


def check_thread(thread: str) -> str:
    check_text("--thread", thread)
    if len(thread) > MAX_THREAD or any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in thread):
        raise UsageError(f"--thread {thread[:40]!r}: a thread is at most {MAX_THREAD} characters, with no control "
                         "characters")
    return thread


class Messages:
    """The mailboxes of one store; `state_dir` is where receivers are woken (wake.py)."""

    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock

    # --- sending --------------------------------------------------------------------------------------------

    def recipients(self, sender: str, to: Sequence[str], fleet: Sequence[str] = ()) -> list[str]:
        """The names `to` means, in order, once each: "all" is every name of `fleet` but the sender; with a
        `fleet`, any other name must be one of it (UnknownAgent)."""
        known = set(fleet)
        found: list[str] = []
        for name in to:
            names = [other for other in fleet if other != sender] if name == "all" else [name]
            for one in names:
                check_name("recipient", one)
                if fleet and one not in known:
                    raise UnknownAgent(one, " in the config (send to its agents, or all)")
                if one not in found:
                    found.append(one)
        if not found:
            raise UsageError("nobody to send to: " + ("the fleet has no other agent" if "all" in to
                                                      else "give a name, several joined by commas, or all"))
        return found

    def send(self, sender: str, to: Sequence[str], body: str, *, thread: str = "", importance: str = "normal",
             ttl: float | None = DEFAULT_TTL, fleet: Sequence[str] = ()) -> Message:
        """Send `body` to the names of `to` (agent names and/or "all"; see `recipients`), kept `ttl` seconds for
        them (None: until read and reaped). An empty `thread` starts a thread named after the message's id."""
        check_name("sender", sender)
        check_text("the message", body)
        if not body.strip():
            raise UsageError("the message is empty")
        if len(body) > MAX_BODY:
            raise UsageError(f"the message is {len(body)} characters; at most {MAX_BODY}")
        if importance not in IMPORTANCE:
            raise UsageError(f"--importance {importance!r}: one of {', '.join(IMPORTANCE)}")
        check_thread(thread)
        if ttl is not None and not 0 < ttl < float("inf"):
            raise UsageError(f"--ttl {ttl:g}: a message is kept more than 0 seconds")
        names = self.recipients(sender, to, fleet)
        with self.store.contended() as db:
            now = self.clock()
            expires = None if ttl is None else now + ttl
            ident = int(db.execute("INSERT INTO coord_messages (sender, thread, importance, body, sent_at, expires_at) "
                                   "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                   (sender, thread, importance, body, now, expires)).fetchone()[0])
            if not thread:
                thread = str(ident)
                db.execute("UPDATE coord_messages SET thread = ? WHERE id = ?", (thread, ident))
            db.executemany("INSERT INTO coord_inbox (recipient, message) VALUES (?, ?)",
                           [(name, ident) for name in names])
        notify(self.state_dir, *(topic(name) for name in names))
        return Message(ident, sender, tuple(names), thread, importance, body, now, expires, None)

    # --- receiving ------------------------------------------------------------------------------------------

    def recv(self, recipient: str, *, wait: float | None = 0, limit: int = 100,
             thread: str | None = None) -> list[Message]:
        """The recipient's oldest unread live messages (at most `limit`, in arrival order, of one thread when
        given), marked read as they are taken: each is received once, whoever else receives for the recipient.
        With `wait` (seconds; None: as long as it takes) it waits until one comes; [] when none came."""
        check_name("recipient", recipient)
        if limit < 1:
            raise UsageError(f"--limit {limit}: at least 1")
        if thread is not None:
            check_thread(thread)
        if wait is not None and wait <= 0:
            return self._take(recipient, limit, thread)
        deadline = None if wait is None else time.monotonic() + wait
        with Listener(self.state_dir, [topic(recipient)]) as listener:  # before the first look: no wake-up lost
            while True:
                got = self._take(recipient, limit, thread)
                if got:
                    return got
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return []
                listener.wait(WAIT_BEAT if left is None else min(WAIT_BEAT, left))

    def _take(self, recipient: str, limit: int, thread: str | None) -> list[Message]:
        with self.store.contended() as db:
            now = self.clock()
            rows = db.execute("SELECT m.* FROM coord_inbox i JOIN coord_messages m ON m.id = i.message "
                              "WHERE i.recipient = ? AND i.read_at IS NULL AND (m.expires_at IS NULL OR "
                              "m.expires_at > ?) AND (? IS NULL OR m.thread = ?) ORDER BY m.id LIMIT ?",
                              (recipient, now, thread, thread, limit)).fetchall()
            if not rows:
                return []
            db.executemany("UPDATE coord_inbox SET read_at = ? WHERE recipient = ? AND message = ?",
                           [(now, recipient, row["id"]) for row in rows])
            everyone = self._recipients(db, [int(row["id"]) for row in rows])
        return [self._message(row, everyone, now) for row in rows]

    # --- reading --------------------------------------------------------------------------------------------

    def ls(self, recipient: str | None = None, *, unread: bool = False, thread: str | None = None,
           limit: int = 100) -> list[Message]:
        """Live messages, read or not (only unread ones with `unread`), never marking them read: the recipient's
        (its `read_at`), or with None everyone's (an unread one is one some recipient has not read). The newest
        `limit`, oldest first."""
        if recipient is not None:
            check_name("recipient", recipient)
        if thread is not None:
            check_thread(thread)
        if limit < 1:
            raise UsageError(f"--limit {limit}: at least 1")
        db = self.store.db
        now = self.clock()
        live = "(m.expires_at IS NULL OR m.expires_at > ?) AND (? IS NULL OR m.thread = ?)"
        if recipient is not None:
            rows = db.execute(f"SELECT m.*, i.read_at AS read_at FROM coord_inbox i JOIN coord_messages m "
                              f"ON m.id = i.message WHERE i.recipient = ? AND {live}"
                              f"{' AND i.read_at IS NULL' if unread else ''} ORDER BY m.id DESC LIMIT ?",
                              (recipient, now, thread, thread, limit)).fetchall()
        else:
            some_unread = (" AND EXISTS (SELECT 1 FROM coord_inbox i WHERE i.message = m.id AND i.read_at IS NULL)"
                           if unread else "")
            rows = db.execute(f"SELECT m.*, NULL AS read_at FROM coord_messages m WHERE {live}{some_unread} "
                              f"ORDER BY m.id DESC LIMIT ?", (now, thread, thread, limit)).fetchall()
        rows.reverse()
        everyone = self._recipients(db, [int(row["id"]) for row in rows])
        return [self._message(row, everyone, row["read_at"]) for row in rows]

    def deliveries(self, message: int) -> dict[str, float | None]:
        """Who a message was sent to, and when each read it (None: not yet)."""
        return {row[0]: row[1] for row in self.store.db.execute(
            "SELECT recipient, read_at FROM coord_inbox WHERE message = ? ORDER BY rowid", (message,))}

    def unread_counts(self) -> dict[str, int]:
        """Each recipient's unread live messages (recipients with none are left out)."""
        rows = self.store.db.execute("SELECT i.recipient, count(*) FROM coord_inbox i JOIN coord_messages m "
                                     "ON m.id = i.message WHERE i.read_at IS NULL AND (m.expires_at IS NULL OR "
                                     "m.expires_at > ?) GROUP BY i.recipient ORDER BY i.recipient", (self.clock(),))
        return {row[0]: int(row[1]) for row in rows}

    def unread(self, recipient: str, ids: Sequence[int]) -> None:
        """Messages received for nobody (the call that took them was given up): unread again, for the next
        recv, and its waiters woken."""
        if not ids:
            return
        with self.store.contended() as db:
            db.executemany("UPDATE coord_inbox SET read_at = NULL WHERE recipient = ? AND message = ?",
                           [(recipient, message) for message in ids])
        notify(self.state_dir, topic(recipient))

    def reap(self) -> int:
        """Remove expired messages (with their deliveries), read deliveries older than `READ_KEPT`, and messages
        no delivery is left of; how many messages and read deliveries were removed."""
        with self.store.contended() as db:
            now = self.clock()
            expired = [row[0] for row in db.execute("DELETE FROM coord_messages WHERE expires_at <= ? RETURNING id",
                                                    (now,))]
            db.executemany("DELETE FROM coord_inbox WHERE message = ?", [(ident,) for ident in expired])
            read = db.execute("DELETE FROM coord_inbox WHERE read_at IS NOT NULL AND read_at <= ?",
                              (now - READ_KEPT,)).rowcount
            done = db.execute("DELETE FROM coord_messages WHERE NOT EXISTS (SELECT 1 FROM coord_inbox i "
                              "WHERE i.message = coord_messages.id)").rowcount
        return len(expired) + read + done

    # --- rows -----------------------------------------------------------------------------------------------

    @staticmethod
    def _recipients(db: sqlite3.Connection, ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        found: dict[int, list[str]] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in db.execute(f"SELECT message, recipient FROM coord_inbox WHERE message IN ({marks}) "
                                  f"ORDER BY rowid", chunk):
                found.setdefault(int(row[0]), []).append(row[1])
        return {ident: tuple(names) for ident, names in found.items()}

    @staticmethod
    def _message(row: sqlite3.Row, everyone: dict[int, tuple[str, ...]], read_at: float | None) -> Message:
        return Message(int(row["id"]), row["sender"], everyone.get(int(row["id"]), ()), row["thread"],
                       row["importance"], row["body"], float(row["sent_at"]),
                       None if row["expires_at"] is None else float(row["expires_at"]),
                       None if read_at is None else float(read_at))
