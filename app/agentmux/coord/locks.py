"""Locks with leases, fencing tokens, fair waiting and a shared mode.

A lock is held by an owner (an agent's name) for a lease (`ttl` seconds, renewable). Each grant hands out the
lock's next fencing token, a number that only ever grows (the counter lives in `coord_locks` and is never reset),
so whatever the lock protects can refuse a holder that stalled past its lease: it keeps the highest token it has
seen and refuses a smaller one (`agentmux lock check NAME TOKEN` says whether a token still holds). A hold ends
when its owner releases it, when its lease ends, or when the owner agent's run ends (owners.py).

Waiting is fair: a waiter takes a row of `coord_waiters` (ids in arrival order) and is granted only when nobody
ahead of it waits for a mode that conflicts (an exclusive waiter needs no one ahead; a shared one, no exclusive
waiter ahead). A waiter renews its row while it waits, so one that died stops holding up those behind it.
Every grant is decided, and its lease computed, inside one IMMEDIATE transaction (db.py) that first removes ended holds;
after the transaction the grant is checked once more against the clock, so a lease that ended before the answer
came back is never reported as held.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentmux.coord.owners import Refused, TimedOut, bound_run, check_name, dead
from agentmux.errors import UsageError
from agentmux.store import Store
from agentmux.topics import Listener, notify

DEFAULT_TTL = 60.0
"""A lease's length when none is given: long enough for a build step, short enough that a lost holder frees it."""
MAX_TTL = 7 * 24 * 3600.0
WAITER_BEAT = 1.0
"""How often a waiter renews its place (and looks again, whatever wake-ups say)."""
WAITER_ALIVE = 5.0
"""A waiter's place is kept this long after its last renewal."""


def topic(name: str) -> str:
    return f"lock:{name}"


@dataclass(frozen=True)
class Hold:
    lock: str
    owner: str
    shared: bool
    token: int
    acquired_at: float
    expires_at: float
    ttl: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Hold:
        return cls(row["lock"], row["owner"], bool(row["shared"]), int(row["token"]), float(row["acquired_at"]),
                   float(row["expires_at"]), float(row["ttl"]))

    @property
    def mode(self) -> str:
        return "shared" if self.shared else "exclusive"

    def to_json(self, now: float) -> dict[str, object]:
        return {"lock": self.lock, "owner": self.owner, "mode": self.mode, "token": self.token,
                "acquired_at": self.acquired_at, "expires_at": self.expires_at, "ttl": self.ttl,
                "remaining": round(max(0.0, self.expires_at - now), 3)}


@dataclass(frozen=True)
class Waiter:
    lock: str
    owner: str
    shared: bool
    since: float

    def to_json(self) -> dict[str, object]:
        return {"owner": self.owner, "mode": "shared" if self.shared else "exclusive", "since": self.since}


@dataclass(frozen=True)
class LockInfo:
    name: str
    token: int
    """The last token granted."""
    holds: tuple[Hold, ...]
    waiters: tuple[Waiter, ...]

    def to_json(self, now: float) -> dict[str, object]:
        return {"name": self.name, "token": self.token, "holders": [hold.to_json(now) for hold in self.holds],
                "waiters": [waiter.to_json() for waiter in self.waiters]}


def describe(holds: tuple[Hold, ...] | list[Hold], now: float) -> str:
    """`builder (exclusive, token 7, 41 s left)` for each hold, joined."""
    return ", ".join(f"{hold.owner} ({hold.mode}, token {hold.token}, {max(0.0, hold.expires_at - now):.0f} s left)"
                     for hold in holds)


def check_ttl(ttl: float) -> float:
    if not 0 < ttl <= MAX_TTL:
        raise UsageError(f"--ttl {ttl:g}: a lease is more than 0 and at most {MAX_TTL:.0f} seconds")
    return ttl


class Locks:
    """The locks of one store; `state_dir` is where waiters are woken (wake.py)."""

    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock

    # --- taking ---------------------------------------------------------------------------------------------

    def acquire(self, name: str, owner: str, *, ttl: float = DEFAULT_TTL, shared: bool = False,
                wait: float | None = None, on_wait: Callable[[list[Hold]], None] | None = None) -> Hold:
        """Hold lock `name` for `owner`; wait up to `wait` seconds (None: as long as it takes; 0: try once).
        Holding it already in that mode renews the lease and keeps the token. Raises Refused (try once) or
        TimedOut, each saying who holds it; `on_wait` is told the holders once when the wait begins."""
        check_name("lock", name)
        check_ttl(ttl)
        hold, _, blockers = self._attempt(name, owner, shared, ttl, None, queue=False)  # free: no socket needed
        if hold is not None:
            return self._alive(hold)
        if wait is not None and wait <= 0:
            raise Refused(f"lock {name} is held by {describe(blockers, self.clock())}"
                          if blockers else f"lock {name}: others wait for it first")
        deadline = None if wait is None else time.monotonic() + wait
        started = time.monotonic()
        place: int | None = None
        told = False
        with Listener(self.state_dir, [topic(name)]) as listener:
            try:
                while True:
                    hold, place, blockers = self._attempt(name, owner, shared, ttl, place, queue=True)
                    if hold is not None:
                        place = None
                        return self._alive(hold)
                    now = self.clock()
                    if not told and on_wait is not None:
                        on_wait(blockers)
                        told = True
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        held = f"held by {describe(blockers, now)}" if blockers else "others waited for it first"
                        raise TimedOut(f"lock {name}: {held}; waited {time.monotonic() - started:.1f} s")
                    pause = WAITER_BEAT
                    if blockers:  # look again the moment the first blocking lease ends
                        pause = min(pause, max(0.0, min(hold.expires_at for hold in blockers) - now) + 0.002)
                    if left is not None:
                        pause = min(pause, left)
                    listener.wait(pause)
            finally:
                if place is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self._leave(name, place)

    def _alive(self, hold: Hold) -> Hold:
        if self.clock() >= hold.expires_at:
            raise Refused(f"lock {hold.lock}: the lease ({hold.ttl:g} s) ended before the grant came back; "
                          "not held")
        return hold

    def _attempt(self, name: str, owner: str, shared: bool, ttl: float, place: int | None,
                 queue: bool) -> tuple[Hold | None, int | None, list[Hold]]:
        """One try in one transaction: (the hold when granted, the waiter's place, the holds in the way)."""
        notify_after = False
        with self.store.contended() as db:
            now = self.clock()
            ended = db.execute(f"DELETE FROM coord_holds WHERE lock = ? AND (expires_at <= ? OR "
                               f"{dead('owner', 'bound')}) RETURNING owner", (name, now)).fetchall()
            notify_after = bool(ended)
            db.execute("DELETE FROM coord_waiters WHERE lock = ? AND alive_until <= ?", (name, now))
            holds = [Hold.from_row(row) for row in db.execute("SELECT * FROM coord_holds WHERE lock = ?", (name,))]
            mine = next((hold for hold in holds if hold.owner == owner), None)
            others = [hold for hold in holds if hold.owner != owner]
            if mine is not None and mine.shared == shared:
                granted = Hold(name, owner, shared, mine.token, mine.acquired_at, now + ttl, ttl)
                db.execute("UPDATE coord_holds SET expires_at = ?, ttl = ? WHERE lock = ? AND owner = ?",
                           (granted.expires_at, ttl, name, owner))
                if place is not None:
                    db.execute("DELETE FROM coord_waiters WHERE id = ?", (place,))
                return granted, None, []
            blockers = [hold for hold in others if not (shared and hold.shared)]
            if not blockers:
                if mine is None:  # a change of mode by a holder does not queue behind those waiting for it
                    ahead = db.execute("SELECT shared FROM coord_waiters WHERE lock = ? AND owner != ? "
                                       "AND id < ?", (name, owner, place if place is not None else 2**62)).fetchall()
                    in_way = [row for row in ahead if not (shared and row[0])]
                else:
                    in_way = []
                if not in_way:
                    token = int(db.execute("INSERT INTO coord_locks (name, token) VALUES (?, 1) ON CONFLICT (name) "
                                           "DO UPDATE SET token = token + 1 RETURNING token", (name,)).fetchone()[0])
                    granted = Hold(name, owner, shared, token, now, now + ttl, ttl)
                    db.execute("INSERT OR REPLACE INTO coord_holds (lock, owner, shared, token, acquired_at, "
                               "expires_at, ttl, bound) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (name, owner, int(shared), token, now, now + ttl, ttl, bound_run(db, owner)))
                    if place is not None:
                        db.execute("DELETE FROM coord_waiters WHERE id = ?", (place,))
                    notify_after = notify_after or shared  # shared waiters behind may come in too
                    hold: Hold | None = granted
                    place = None
                else:
                    hold = None
            else:
                hold = None
            if hold is None and queue:
                if place is None:
                    place = int(db.execute("INSERT INTO coord_waiters (lock, owner, shared, since, alive_until) "
                                           "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                           (name, owner, int(shared), now, now + WAITER_ALIVE)).fetchone()[0])
                else:
                    found = db.execute("UPDATE coord_waiters SET alive_until = ? WHERE id = ? RETURNING id",
                                       (now + WAITER_ALIVE, place)).fetchone()
                    if found is None:  # its place lapsed (the process stalled): in line again, at the end
                        place = int(db.execute("INSERT INTO coord_waiters (lock, owner, shared, since, alive_until) "
                                               "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                               (name, owner, int(shared), now, now + WAITER_ALIVE)).fetchone()[0])
        if notify_after:
            notify(self.state_dir, topic(name))
        return hold, place, blockers

    def _leave(self, name: str, place: int) -> None:
        with self.store.contended() as db:
            db.execute("DELETE FROM coord_waiters WHERE id = ?", (place,))
        notify(self.state_dir, topic(name))  # those behind may go now

    # --- keeping and giving back ----------------------------------------------------------------------------

    def release(self, name: str, owner: str) -> Hold:
        """Give the lock back; Refused when `owner` does not hold it (any more)."""
        check_name("lock", name)
        with self.store.contended() as db:
            now = self.clock()
            # (read first: SQLite evaluates a correlated subquery in DELETE's RETURNING wrongly)
            row = db.execute(f"SELECT *, (expires_at <= ? OR {dead('owner', 'bound')}) AS ended FROM coord_holds "
                             f"WHERE lock = ? AND owner = ?", (now, name, owner)).fetchone()
            if row is not None:
                db.execute("DELETE FROM coord_holds WHERE lock = ? AND owner = ?", (name, owner))
        if row is None:
            raise Refused(f"{owner} does not hold lock {name}{self._held_by(name)}")
        notify(self.state_dir, topic(name))
        if row["ended"]:
            raise Refused(f"{owner} no longer held lock {name}: its lease ended at "
                          f"{time.strftime('%H:%M:%S', time.localtime(row['expires_at']))}")
        return Hold.from_row(row)

    def renew(self, name: str, owner: str, ttl: float | None = None) -> Hold:
        """Extend a live lease by `ttl` (its own length when None) from now; Refused when it already ended:
        an ended lease is never brought back."""
        check_name("lock", name)
        with self.store.contended() as db:
            now = self.clock()
            row = db.execute(f"UPDATE coord_holds SET expires_at = ? + coalesce(?, ttl), ttl = coalesce(?, ttl) "
                             f"WHERE lock = ? AND owner = ? AND expires_at > ? AND NOT {dead('owner', 'bound')} "
                             f"RETURNING *", (now, ttl, ttl, name, owner, now)).fetchone()
        if row is None:
            raise Refused(f"{owner} does not hold lock {name} (a lease that ended cannot be renewed)"
                          f"{self._held_by(name)}")
        return self._alive(Hold.from_row(row))

    def release_all(self, owner: str) -> list[str]:
        """Every lock `owner` holds, given back (its waits too); the names."""
        with self.store.contended() as db:
            names = [row[0] for row in db.execute("DELETE FROM coord_holds WHERE owner = ? RETURNING lock", (owner,))]
            db.execute("DELETE FROM coord_waiters WHERE owner = ?", (owner,))
        if names:
            notify(self.state_dir, *(topic(name) for name in names))
        return names

    def reap(self) -> list[str]:
        """Remove holds whose lease or run ended, and waiters gone; wake those waiting on the locks freed."""
        with self.store.contended() as db:
            now = self.clock()
            names = {row[0] for row in db.execute(f"DELETE FROM coord_holds WHERE expires_at <= ? OR "
                                                  f"{dead('owner', 'bound')} RETURNING lock", (now,))}
            names |= {row[0] for row in db.execute("DELETE FROM coord_waiters WHERE alive_until <= ? RETURNING lock",
                                                   (now,))}
        if names:
            notify(self.state_dir, *(topic(name) for name in names))
        return sorted(names)

    # --- reading --------------------------------------------------------------------------------------------

    def _live_holds(self, where: str = "", args: tuple[object, ...] = ()) -> list[Hold]:
        now = self.clock()
        rows = self.store.db.execute(f"SELECT * FROM coord_holds WHERE expires_at > ? AND NOT {dead('owner', 'bound')}"
                                     f"{where} ORDER BY lock, token", (now, *args))
        return [Hold.from_row(row) for row in rows]

    def _held_by(self, name: str) -> str:
        holds = self._live_holds(" AND lock = ?", (name,))
        return f"; held by {describe(holds, self.clock())}" if holds else ""

    def holders(self, name: str) -> list[Hold]:
        return self._live_holds(" AND lock = ?", (name,))

    def check(self, name: str, token: int) -> Hold | None:
        """The live hold of lock `name` with fencing token `token`, None when that token holds no more."""
        found = self._live_holds(" AND lock = ? AND token = ?", (name, token))
        return found[0] if found else None

    def ls(self, owner: str | None = None) -> list[LockInfo]:
        """Locks held or waited for now (of one owner, held or waited for by it), by name."""
        holds = self._live_holds()
        now = self.clock()
        waiters = [Waiter(row["lock"], row["owner"], bool(row["shared"]), float(row["since"]))
                   for row in self.store.db.execute("SELECT * FROM coord_waiters WHERE alive_until > ? ORDER BY id",
                                                    (now,))]
        names = sorted({hold.lock for hold in holds} | {waiter.lock for waiter in waiters})
        if owner is not None:
            names = [name for name in names if any(h.lock == name and h.owner == owner for h in holds)
                     or any(w.lock == name and w.owner == owner for w in waiters)]
        tokens = dict(self.store.db.execute("SELECT name, token FROM coord_locks"))
        return [LockInfo(name, int(tokens.get(name, 0)), tuple(h for h in holds if h.lock == name),
                         tuple(w for w in waiters if w.lock == name)) for name in names]
