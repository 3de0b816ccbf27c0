"""Barriers: wait until a number of parties have arrived, then all of them go on together; used again and again.

A barrier is a name and a series of generations (`coord_barriers`): at most one is open at a time, and each ends
passed (its last party arrived) or broken (a party timed out or left). `wait` joins the open generation, or opens
the next one with the `parties` it is given, and adds the caller's arrival (`coord_arrivals`); the arrival that
completes it marks it passed in the same transaction, so every waiter of that generation goes on, however late it
looks (it reads its own generation's row), and the next arrival opens the next generation.

A party leaves when its process stops renewing its arrival (it died: `alive_until` lapses), when its wait is
interrupted (Ctrl-C, any error: it breaks the generation on its way out), or when its agent's run ends (the
arrival is bound to the run like a lock, owners.py). Whoever notices first (a waiter's next look, the next
arrival, `reap`) breaks the generation, and every waiter is told who left and who had arrived: a barrier never
lets a party wait forever for one that is gone. Every change wakes the waiters at once (wake.py, topic
`barrier:NAME`); between wake-ups a waiter looks again every WAITER_BEAT, when the first other party's arrival
would lapse, and at its deadline.
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

MAX_PARTIES = 1000
WAITER_BEAT = 1.0
"""How often a waiter renews its arrival (and looks again, whatever wake-ups say)."""
WAITER_ALIVE = 5.0
"""An arrival is kept this long after its last renewal; then its party has left (its process is gone)."""
KEEP_ENDED = 3600.0
"""Ended generations older than this are removed (each barrier keeps its newest one, whatever its age)."""


def topic(name: str) -> str:
    return f"barrier:{name}"


class Broken(Refused):
    """The generation waited in broke before everyone arrived: a party timed out or left (exit 1)."""


@dataclass(frozen=True)
class Passage:
    """A generation passed: who arrived (in order) and where the caller came."""

    name: str
    generation: int
    parties: int
    arrived: tuple[str, ...]
    """The owners in arrival order."""
    index: int
    """The caller's place in `arrived`, from 0."""
    waited: float
    """Seconds the call took."""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "generation": self.generation, "parties": self.parties,
                "arrived": list(self.arrived), "index": self.index, "waited": round(self.waited, 3)}


@dataclass(frozen=True)
class BarrierInfo:
    """One generation of a barrier: open (with those who arrived so far), passed or broken (and why)."""

    name: str
    generation: int
    parties: int
    state: str
    reason: str
    arrived: tuple[str, ...]
    opened_at: float
    ended_at: float | None

    def to_json(self, now: float) -> dict[str, object]:
        return {"name": self.name, "generation": self.generation, "parties": self.parties, "state": self.state,
                "reason": self.reason, "arrived": list(self.arrived), "missing": self.parties - len(self.arrived),
                "opened_at": self.opened_at, "ended_at": self.ended_at,
                "age": round(max(0.0, (self.ended_at if self.ended_at is not None else now) - self.opened_at), 3)}

    def count(self) -> str:
        """`2 of 3 arrived: a, b`."""
        return f"{len(self.arrived)} of {self.parties} arrived" + (f": {', '.join(self.arrived)}" if self.arrived
                                                                   else "")


def check_parties(parties: int) -> int:
    if not 1 <= parties <= MAX_PARTIES:
        raise UsageError(f"--parties {parties}: a barrier has 1 to {MAX_PARTIES} parties")
    return parties


def broke(info: BarrierInfo) -> str:
    """`barrier b broke: a left (generation 2; 2 of 3 had arrived: a, c)`."""
    return (f"barrier {info.name} broke: {info.reason} (generation {info.generation}; {len(info.arrived)} of "
            f"{info.parties} had arrived: {', '.join(info.arrived) or 'nobody'})")


def _left(db: sqlite3.Connection, name: str, generation: int, now: float, alive: str | None = None) -> str:
    """Why the open generation must break because a party left ('' when none did); `alive` is a party known to
    be alive (the waiter looking), whose arrival lapsing means only that it was slow to renew it."""
    rows = db.execute(f"SELECT owner, alive_until <= ? AS lapsed, {dead('owner', 'bound')} AS ended "
                      f"FROM coord_arrivals WHERE name = ? AND generation = ? ORDER BY arrived_at, rowid",
                      (now, name, generation)).fetchall()
    ended = [row["owner"] for row in rows if row["ended"]]
    lapsed = [row["owner"] for row in rows if row["lapsed"] and not row["ended"] and row["owner"] != alive]
    reasons = []
    if ended:
        reasons.append(f"{', '.join(ended)} left (the agent's run ended)")
    if lapsed:
        reasons.append(f"{', '.join(lapsed)} left (no sign of life for {WAITER_ALIVE:g} s)")
    return "; ".join(reasons)


def _break(db: sqlite3.Connection, name: str, generation: int, reason: str, now: float) -> None:
    db.execute("UPDATE coord_barriers SET state = 'broken', reason = ?, ended_at = ? WHERE name = ? AND "
               "generation = ? AND state = 'open'", (reason, now, name, generation))


def _info(db: sqlite3.Connection, name: str, generation: int) -> BarrierInfo | None:
    row = db.execute("SELECT * FROM coord_barriers WHERE name = ? AND generation = ?", (name, generation)).fetchone()
    if row is None:
        return None
    arrived = tuple(owner for (owner,) in db.execute("SELECT owner FROM coord_arrivals WHERE name = ? AND "
                                                     "generation = ? ORDER BY arrived_at, rowid", (name, generation)))
    return BarrierInfo(row["name"], int(row["generation"]), int(row["parties"]), row["state"], row["reason"], arrived,
                       float(row["opened_at"]), None if row["ended_at"] is None else float(row["ended_at"]))


def _prune(db: sqlite3.Connection, now: float, name: str | None = None) -> None:
    """Remove generations that ended KEEP_ENDED ago, but each barrier's newest (of one barrier, or all)."""
    old = ("SELECT b.name, b.generation FROM coord_barriers b WHERE b.state != 'open' AND b.ended_at < ? "
           "AND b.generation < (SELECT max(c.generation) FROM coord_barriers c WHERE c.name = b.name)"
           + (" AND b.name = ?" if name is not None else ""))
    args: tuple[object, ...] = (now - KEEP_ENDED,) if name is None else (now - KEEP_ENDED, name)
    gone = db.execute(old, args).fetchall()
    if gone:
        pairs = [(row[0], row[1]) for row in gone]
        db.executemany("DELETE FROM coord_arrivals WHERE name = ? AND generation = ?", pairs)
        db.executemany("DELETE FROM coord_barriers WHERE name = ? AND generation = ?", pairs)


class Barriers:
    """The barriers of one store; `state_dir` is where waiters are woken (wake.py)."""

    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock

    # --- waiting --------------------------------------------------------------------------------------------

    def wait(self, name: str, owner: str, parties: int, timeout: float | None = None,
             on_wait: Callable[[BarrierInfo], None] | None = None) -> Passage:
        """Arrive at barrier `name` as `owner` and wait until `parties` have arrived; the Passage says who and in
        which order. Up to `timeout` seconds (None: as long as it takes; 0: only when this arrival completes it):
        then the generation breaks and this raises TimedOut, the others Broken. Raises Broken when a party left,
        UsageError when the open generation has other `parties`. `on_wait` is told the generation once when
        the caller must wait. Interrupted (KeyboardInterrupt, any error) the caller leaves: the generation
        breaks."""
        check_name("barrier", name)
        check_parties(parties)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        told = False
        with Listener(self.state_dir, [topic(name)]) as listener:  # listening before arriving: no wake-up lost
            try:
                generation = self._arrive(name, owner, parties)
                while True:
                    late = deadline is not None and time.monotonic() >= deadline
                    info, pause = self._look(name, generation, owner, late, timeout)
                    if info.state == "passed":
                        return Passage(name, generation, info.parties, info.arrived, info.arrived.index(owner),
                                       time.monotonic() - started)
                    if info.state == "broken":
                        if late and info.reason == self._timed_out(owner, timeout):
                            raise TimedOut(f"barrier {name}: {owner} timed out after {timeout:g} s (generation "
                                           f"{generation}; {len(info.arrived)} of {info.parties} had arrived: "
                                           f"{', '.join(info.arrived)}); the generation broke")
                        raise Broken(broke(info))
                    if not told and on_wait is not None:
                        on_wait(info)
                        told = True
                    if deadline is not None:
                        pause = min(pause, max(0.0, deadline - time.monotonic()))
                    listener.wait(pause)
            except (Broken, TimedOut, UsageError):
                raise
            except BaseException:
                with contextlib.suppress(Exception):
                    self._abandon(name, owner)
                raise

    @staticmethod
    def _timed_out(owner: str, timeout: float | None) -> str:
        return f"{owner} timed out after {timeout or 0:g} s"

    def _arrive(self, name: str, owner: str, parties: int) -> int:
        """Join the open generation (opening the next one when there is none); its number."""
        with self.store.contended() as db:
            now = self.clock()
            row = db.execute("SELECT generation, parties FROM coord_barriers WHERE name = ? AND state = 'open' "
                             "ORDER BY generation DESC LIMIT 1", (name,)).fetchone()
            if row is not None:
                generation = int(row["generation"])
                reason = _left(db, name, generation, now)
                if reason:
                    _break(db, name, generation, reason, now)
                    row = None
                elif int(row["parties"]) != parties:
                    arrived = db.execute("SELECT count(*) FROM coord_arrivals WHERE name = ? AND generation = ?",
                                         (name, generation)).fetchone()[0]
                    if arrived:
                        raise UsageError(f"barrier {name} has {row['parties']} parties (generation {generation}), "
                                         f"not {parties}")
                    db.execute("UPDATE coord_barriers SET parties = ? WHERE name = ? AND generation = ?",
                               (parties, name, generation))
            if row is None:
                last = db.execute("SELECT max(generation) FROM coord_barriers WHERE name = ?", (name,)).fetchone()[0]
                generation = int(last or 0) + 1
                db.execute("INSERT INTO coord_barriers (name, generation, parties, state, opened_at) "
                           "VALUES (?, ?, ?, 'open', ?)", (name, generation, parties, now))
                _prune(db, now, name)
            db.execute("INSERT INTO coord_arrivals (name, generation, owner, arrived_at, alive_until, bound) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name, generation, owner) DO UPDATE SET "
                       "alive_until = excluded.alive_until",
                       (name, generation, owner, now, now + WAITER_ALIVE, bound_run(db, owner)))
            count = db.execute("SELECT count(*) FROM coord_arrivals WHERE name = ? AND generation = ?",
                               (name, generation)).fetchone()[0]
            if count >= parties:
                db.execute("UPDATE coord_barriers SET state = 'passed', ended_at = ? WHERE name = ? AND "
                           "generation = ?", (now, name, generation))
        notify(self.state_dir, topic(name))
        return generation

    def _look(self, name: str, generation: int, owner: str, late: bool,
              timeout: float | None) -> tuple[BarrierInfo, float]:
        """The generation now, and how long to wait before looking again. While it is open: break it when a
        party left (or the caller's deadline passed), else renew the caller's arrival."""
        info = _info(self.store.db, name, generation)  # an ended generation never changes: no write needed
        if info is not None and info.state != "open":
            return info, 0.0
        changed = False
        with self.store.contended() as db:
            now = self.clock()
            info = _info(db, name, generation)
            if info is None:
                raise Broken(f"barrier {name}: generation {generation} is gone (it ended long ago)")
            pause = WAITER_BEAT
            if info.state == "open":
                reason = _left(db, name, generation, now, alive=owner)
                if not reason and late:
                    reason = self._timed_out(owner, timeout)
                if reason:
                    _break(db, name, generation, reason, now)
                    changed = True
                    info = _info(db, name, generation)
                    assert info is not None
                else:
                    db.execute("UPDATE coord_arrivals SET alive_until = ? WHERE name = ? AND generation = ? AND "
                               "owner = ?", (now + WAITER_ALIVE, name, generation, owner))
                    first = db.execute("SELECT min(alive_until) FROM coord_arrivals WHERE name = ? AND "
                                       "generation = ? AND owner != ?", (name, generation, owner)).fetchone()[0]
                    if first is not None:  # look again the moment another party's arrival would lapse
                        pause = min(pause, max(0.0, float(first) - now) + 0.002)
        if changed:
            notify(self.state_dir, topic(name))
        return info, pause

    def _abandon(self, name: str, owner: str) -> None:
        """The caller's wait ended early: it leaves the open generation (which breaks)."""
        with self.store.contended() as db:
            now = self.clock()
            found = db.execute("SELECT b.generation FROM coord_barriers b JOIN coord_arrivals a ON a.name = b.name "
                               "AND a.generation = b.generation WHERE b.name = ? AND b.state = 'open' AND "
                               "a.owner = ?", (name, owner)).fetchall()
            for (generation,) in found:
                _break(db, name, int(generation), f"{owner} left", now)
        if found:
            notify(self.state_dir, topic(name))

    # --- leaving and reaping --------------------------------------------------------------------------------

    def leave(self, owner: str) -> list[str]:
        """`owner` leaves every open generation it waits in: each breaks ("OWNER left"); the barriers' names."""
        with self.store.contended() as db:
            now = self.clock()
            found = db.execute("SELECT DISTINCT b.name, b.generation FROM coord_barriers b JOIN coord_arrivals a "
                               "ON a.name = b.name AND a.generation = b.generation WHERE b.state = 'open' AND "
                               "a.owner = ?", (owner,)).fetchall()
            for name, generation in found:
                _break(db, name, int(generation), f"{owner} left", now)
        names = sorted({row[0] for row in found})
        if names:
            notify(self.state_dir, *(topic(name) for name in names))
        return names

    def reap(self) -> list[str]:
        """Break every open generation a party left (its arrival lapsed: its process is gone; or its agent's run
        ended), waking its waiters; remove generations long ended. The barriers' names."""
        names: list[str] = []
        with self.store.contended() as db:
            now = self.clock()
            for name, generation in db.execute("SELECT name, generation FROM coord_barriers WHERE state = 'open'"
                                               ).fetchall():
                reason = _left(db, name, int(generation), now)
                if reason:
                    _break(db, name, int(generation), reason, now)
                    names.append(name)
            _prune(db, now)
        if names:
            notify(self.state_dir, *(topic(name) for name in names))
        return sorted(names)

    # --- reading --------------------------------------------------------------------------------------------

    def ls(self) -> list[BarrierInfo]:
        """Each barrier's open generation (with its arrivals), else its last one, by name."""
        db = self.store.db
        rows = db.execute("SELECT name, coalesce(max(CASE WHEN state = 'open' THEN generation END), max(generation)) "
                          "FROM coord_barriers GROUP BY name ORDER BY name").fetchall()
        found = [_info(db, name, int(generation)) for name, generation in rows]
        return [info for info in found if info is not None]

    def info(self, name: str) -> BarrierInfo | None:
        """Barrier `name`'s open generation, else its last one; None when it was never used."""
        return next((info for info in self.ls() if info.name == name), None)
