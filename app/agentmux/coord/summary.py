"""What the coordination view and the tiles' badges show: every primitive's live state, read in one go.

The TUI's buffer (supervisor/ui.py) reads it in the supervisor's thread when the store changed and once a second
(leases count down, holds end with their lease or their agent's run), so it must be cheap: one read transaction
(a consistent picture: a lock is never shown held by two exclusive owners half way through a hand-over) of small,
indexed queries, capped where a table can grow (messages, shared keys). It reads the `coord_*` tables (store.py,
migration 8) directly, with the primitives' own liveness rules (owners.py: a lease that ended, or an owner whose
agent's run ended, holds nothing), so it needs none of the primitives' modules and never writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agentmux.ansi import one_line
from agentmux.coord.owners import dead
from agentmux.store import snapshot

RECENT_MESSAGES = 20
"""Messages shown: the newest live ones."""
MAX_KEYS = 200
"""Shared keys shown (by key); the total is counted too."""
VALUE_WIDTH = 80
"""A shared value is shown up to this many characters."""
BODY_WIDTH = 200
"""A message is shown by its first line, up to this many characters."""
RECENT_BARRIER = 600.0
"""A barrier generation that passed or broke this many seconds ago is still shown, with its outcome."""


@dataclass(frozen=True)
class LockHolder:
    """One live hold of a lock."""

    owner: str
    mode: str
    """"exclusive" or "shared"."""
    token: int
    expires_at: float
    remaining: float = field(compare=False)
    """Seconds of lease left when the summary was read (not compared: two reads of the same holds are equal)."""


@dataclass(frozen=True)
class LockWaiter:
    owner: str
    mode: str
    since: float


@dataclass(frozen=True)
class LockView:
    """A lock held or waited for: its holders (by token) and its waiters (in the order they will be served)."""

    name: str
    holders: tuple[LockHolder, ...]
    waiters: tuple[LockWaiter, ...]


@dataclass(frozen=True)
class ReservationView:
    """A live reservation of files (`pattern` under `root`)."""

    id: int
    owner: str
    pattern: str
    root: str
    exclusive: bool
    reason: str
    expires_at: float
    remaining: float = field(compare=False)

    @property
    def mode(self) -> str:
        return "exclusive" if self.exclusive else "shared"


@dataclass(frozen=True)
class BarrierView:
    """A barrier generation: an open one with who has arrived, or the last one that ended (lately) and how."""

    name: str
    generation: int
    parties: int
    state: str
    """"open", "passed" or "broken"."""
    arrived: tuple[str, ...]
    """Owners arrived (an open generation: those still alive there, in arrival order)."""
    reason: str
    opened_at: float
    ended_at: float | None


@dataclass(frozen=True)
class MessageView:
    id: int
    sender: str
    recipients: tuple[str, ...]
    thread: str
    importance: str
    body: str
    """Its first line, shortened to BODY_WIDTH."""
    sent_at: float
    unread_by: tuple[str, ...]
    """Recipients who have not read it yet."""


@dataclass(frozen=True)
class KeyView:
    key: str
    version: int
    mod_rev: int
    updated_by: str
    updated_at: float
    value: str
    """On one line, shortened to VALUE_WIDTH (an ellipsis says so)."""


@dataclass(frozen=True)
class OwnerCoord:
    """What one owner (an agent's name, usually) is doing in coordination: what its tile's badges say."""

    holds: tuple[str, ...] = ()
    """Locks it holds."""
    waits: tuple[str, ...] = ()
    """Locks it waits for."""
    barriers: tuple[str, ...] = ()
    """Open barriers it has arrived at (and waits at)."""
    unread: int = 0
    """Live messages to it it has not read."""

    def __bool__(self) -> bool:
        return bool(self.holds or self.waits or self.barriers or self.unread)


NOTHING = OwnerCoord()


@dataclass(frozen=True)
class CoordSummary:
    """Every coordination primitive's live state at `at`, as one read transaction saw it. Two summaries are
    equal when they show the same (whenever they were read): the lease left is `expires_at` less the clock."""

    at: float = field(compare=False)
    locks: tuple[LockView, ...] = ()
    reservations: tuple[ReservationView, ...] = ()
    barriers: tuple[BarrierView, ...] = ()
    messages: tuple[MessageView, ...] = ()
    """The newest live messages (RECENT_MESSAGES at most), newest first."""
    unread: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Unread live messages per recipient."""
    keys: tuple[KeyView, ...] = ()
    """Shared keys by key (MAX_KEYS at most)."""
    key_count: int = 0
    """Every shared key, also those beyond MAX_KEYS."""
    owners: Mapping[str, OwnerCoord] = field(default_factory=lambda: MappingProxyType({}))
    """Per owner with anything to show."""

    def of(self, owner: str) -> OwnerCoord:
        """What the owner holds, waits for and has unread (NOTHING when none)."""
        return self.owners.get(owner, NOTHING)

    @property
    def empty(self) -> bool:
        return not (self.locks or self.reservations or self.barriers or self.messages or self.key_count)


def _mode(shared: object) -> str:
    return "shared" if shared else "exclusive"


def _shorten(text: str, width: int) -> str:
    text = one_line(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def read_summary(db: sqlite3.Connection, now: float) -> CoordSummary:
    """The coordination state live at `now`, read in one transaction from the store's `coord_*` tables."""
    with snapshot(db):
        holds = db.execute(f"SELECT lock, owner, shared, token, expires_at FROM coord_holds WHERE expires_at > ? "
                           f"AND NOT {dead('owner', 'bound')} ORDER BY lock, token", (now,)).fetchall()
        waiters = db.execute("SELECT lock, owner, shared, since FROM coord_waiters WHERE alive_until > ? ORDER BY id",
                             (now,)).fetchall()
        reservations = db.execute(
            f"SELECT id, owner, pattern, root, exclusive, reason, expires_at FROM coord_reservations "
            f"WHERE expires_at > ? AND NOT {dead('owner', 'bound')} ORDER BY root, pattern, id", (now,)).fetchall()
        opened = db.execute("SELECT * FROM coord_barriers WHERE state = 'open' ORDER BY name, generation").fetchall()
        ended = db.execute(
            "SELECT * FROM coord_barriers b WHERE state != 'open' AND ended_at > ? AND generation = "
            "(SELECT MAX(generation) FROM coord_barriers c WHERE c.name = b.name AND c.state != 'open') "
            "ORDER BY name", (now - RECENT_BARRIER,)).fetchall()
        arrivals = db.execute(
            f"SELECT r.name, r.generation, r.owner, r.alive_until > ? AND NOT {dead('r.owner', 'r.bound')} AS live "
            f"FROM coord_arrivals r JOIN coord_barriers b ON b.name = r.name AND b.generation = r.generation "
            f"WHERE b.state = 'open' OR b.ended_at > ? ORDER BY r.arrived_at, r.owner",
            (now, now - RECENT_BARRIER)).fetchall()
        messages = db.execute("SELECT id, sender, thread, importance, substr(body, 1, ?) AS body, sent_at "
                              "FROM coord_messages WHERE expires_at IS NULL OR expires_at > ? ORDER BY id DESC "
                              "LIMIT ?", (BODY_WIDTH * 2, now, RECENT_MESSAGES)).fetchall()
        inbox = db.execute(f"SELECT message, recipient, read_at FROM coord_inbox WHERE message IN "
                           f"({','.join('?' * len(messages))}) ORDER BY recipient",
                           [row["id"] for row in messages]).fetchall() if messages else []
        unread = db.execute("SELECT i.recipient, COUNT(*) FROM coord_inbox i JOIN coord_messages m ON m.id = i.message "
                            "WHERE i.read_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > ?) "
                            "GROUP BY i.recipient ORDER BY i.recipient", (now,)).fetchall()
        keys = db.execute("SELECT key, version, mod_rev, updated_by, updated_at, substr(value, 1, ?) AS value "
                          "FROM coord_kv ORDER BY key LIMIT ?", (VALUE_WIDTH * 2, MAX_KEYS)).fetchall()
        key_count = int(db.execute("SELECT COUNT(*) FROM coord_kv").fetchone()[0])

    holders: dict[str, list[LockHolder]] = {}
    waiting: dict[str, list[LockWaiter]] = {}
    held: dict[str, list[str]] = {}
    waits: dict[str, list[str]] = {}
    for row in holds:
        holders.setdefault(row["lock"], []).append(LockHolder(row["owner"], _mode(row["shared"]), int(row["token"]),
                                                              float(row["expires_at"]),
                                                              float(row["expires_at"]) - now))
        held.setdefault(row["owner"], []).append(row["lock"])
    for row in waiters:
        waiting.setdefault(row["lock"], []).append(LockWaiter(row["owner"], _mode(row["shared"]), float(row["since"])))
        if row["lock"] not in waits.setdefault(row["owner"], []):
            waits[row["owner"]].append(row["lock"])
    locks = tuple(LockView(name, tuple(holders.get(name, ())), tuple(waiting.get(name, ())))
                  for name in sorted(holders.keys() | waiting.keys()))

    arrived: dict[tuple[str, int], list[str]] = {}
    live_arrived: dict[tuple[str, int], list[str]] = {}
    for row in arrivals:
        arrived.setdefault((row["name"], row["generation"]), []).append(row["owner"])
        if row["live"]:
            live_arrived.setdefault((row["name"], row["generation"]), []).append(row["owner"])
    at_barrier: dict[str, list[str]] = {}
    barriers = []
    for row in sorted([*opened, *ended], key=lambda row: (row["name"], row["generation"])):
        key = (row["name"], int(row["generation"]))
        is_open = row["state"] == "open"
        who = tuple(live_arrived.get(key, ()) if is_open else arrived.get(key, ()))
        barriers.append(BarrierView(row["name"], int(row["generation"]), int(row["parties"]), row["state"], who,
                                    row["reason"], float(row["opened_at"]),
                                    None if row["ended_at"] is None else float(row["ended_at"])))
        if is_open:
            for owner in who:
                at_barrier.setdefault(owner, []).append(row["name"])

    recipients: dict[int, list[str]] = {}
    unread_by: dict[int, list[str]] = {}
    for row in inbox:
        recipients.setdefault(row["message"], []).append(row["recipient"])
        if row["read_at"] is None:
            unread_by.setdefault(row["message"], []).append(row["recipient"])
    shown_messages = tuple(
        MessageView(int(row["id"]), row["sender"], tuple(recipients.get(row["id"], ())), row["thread"],
                    row["importance"], _shorten(row["body"].split("\n", 1)[0] if row["body"] else "", BODY_WIDTH),
                    float(row["sent_at"]), tuple(unread_by.get(row["id"], ())))
        for row in messages)
    unread_counts = {row[0]: int(row[1]) for row in unread}

    names = held.keys() | waits.keys() | at_barrier.keys() | unread_counts.keys()
    owners = {name: OwnerCoord(tuple(held.get(name, ())), tuple(waits.get(name, ())),
                               tuple(at_barrier.get(name, ())), unread_counts.get(name, 0)) for name in sorted(names)}
    return CoordSummary(
        at=now, locks=locks,
        reservations=tuple(ReservationView(int(row["id"]), row["owner"], row["pattern"], row["root"],
                                           bool(row["exclusive"]), row["reason"], float(row["expires_at"]),
                                           float(row["expires_at"]) - now) for row in reservations),
        barriers=tuple(barriers), messages=shown_messages, unread=MappingProxyType(unread_counts),
        keys=tuple(KeyView(row["key"], int(row["version"]), int(row["mod_rev"]), row["updated_by"],
                           float(row["updated_at"]), _shorten(row["value"], VALUE_WIDTH)) for row in keys),
        key_count=key_count, owners=MappingProxyType(owners))
