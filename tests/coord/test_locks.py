"""Locks (coord/locks.py) on a real store: leases, fencing tokens, fairness, shared mode, owners whose run ended."""

from __future__ import annotations

import threading
import time

import pytest

from agentmux.coord.locks import Locks
from agentmux.coord.owners import Refused, TimedOut
from agentmux.errors import UsageError
from agentmux.state import AgentState
from agentmux.store import Store
from tests.conftest import wait_until
from tests.coord.conftest import Coord


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_lock_is_held_by_one_owner_and_refused_to_another_with_who_holds_it(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    hold = locks.acquire("build", "alice", ttl=30, wait=0)
    assert (hold.owner, hold.shared, hold.token) == ("alice", False, 1)
    with pytest.raises(Refused, match=r"lock build is held by alice \(exclusive, token 1, 30 s left\)"):
        locks.acquire("build", "bob", wait=0)
    assert [h.owner for h in locks.holders("build")] == ["alice"]
    locks.release("build", "alice")
    assert locks.acquire("build", "bob", wait=0).token == 2


def test_holding_again_renews_the_lease_and_keeps_the_token(coord: Coord) -> None:
    clock = Clock()
    locks = Locks(coord.store, coord.state_dir, clock)
    first = locks.acquire("build", "alice", ttl=10, wait=0)
    clock.now += 5
    again = locks.acquire("build", "alice", ttl=10, wait=0)
    assert again.token == first.token and again.expires_at == first.expires_at + 5


def test_tokens_only_grow_across_releases_expiries_and_locks_of_other_names(coord: Coord) -> None:
    clock = Clock()
    locks = Locks(coord.store, coord.state_dir, clock)
    tokens = []
    for round_ in range(6):
        hold = locks.acquire("build", f"o{round_}", ttl=1, wait=0)
        tokens.append(hold.token)
        locks.acquire(f"other{round_}", f"o{round_}", ttl=1, wait=0)  # counters of other locks are their own
        if round_ % 2:
            locks.release("build", f"o{round_}")
        else:
            clock.now += 2  # its lease ends: the next owner gets it without a release
    assert tokens == sorted(set(tokens)) and tokens == list(range(1, 7))


def test_an_ended_lease_is_never_renewed_nor_reported_held(coord: Coord) -> None:
    clock = Clock()
    locks = Locks(coord.store, coord.state_dir, clock)
    hold = locks.acquire("build", "alice", ttl=5, wait=0)
    clock.now += 5
    assert locks.check("build", hold.token) is None
    with pytest.raises(Refused, match="a lease that ended cannot be renewed"):
        locks.renew("build", "alice")
    with pytest.raises(Refused, match="alice no longer held lock build: its lease ended at"):
        locks.release("build", "alice")
    with pytest.raises(Refused, match="alice does not hold lock build"):
        locks.release("build", "alice")
    hold = locks.acquire("build", "alice", ttl=5, wait=0)
    clock.now += 5.5
    with pytest.raises(Refused, match="its lease ended at"):
        locks.release("build", "alice")


def test_a_grant_whose_lease_ended_before_it_came_back_is_refused(coord: Coord) -> None:
    """The bug class of lock services that reported success for a lease that had expired meanwhile."""
    ticks = iter([1000.0, 1010.0])  # the grant's transaction reads the clock once, the check after it once
    locks = Locks(coord.store, coord.state_dir, lambda: next(ticks))
    with pytest.raises(Refused, match="ended before the grant came back"):
        locks.acquire("build", "alice", ttl=5, wait=0)


def test_check_says_whether_a_token_still_holds(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    old = locks.acquire("db", "alice", wait=0)
    locks.release("db", "alice")
    new = locks.acquire("db", "bob", wait=0)
    assert locks.check("db", old.token) is None
    found = locks.check("db", new.token)
    assert found is not None and found.owner == "bob"


def test_shared_holds_share_and_an_exclusive_one_waits_for_them_all(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    a = locks.acquire("data", "a", shared=True, wait=0)
    b = locks.acquire("data", "b", shared=True, wait=0)
    assert a.token != b.token
    with pytest.raises(Refused, match=r"held by a \(shared.*b \(shared"):
        locks.acquire("data", "w", wait=0)
    locks.release("data", "a")
    with pytest.raises(Refused):
        locks.acquire("data", "w", wait=0)
    locks.release("data", "b")
    assert not locks.acquire("data", "w", wait=0).shared
    with pytest.raises(Refused):
        locks.acquire("data", "c", shared=True, wait=0)


def test_a_sole_shared_holder_may_change_its_mode(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    shared = locks.acquire("data", "a", shared=True, wait=0)
    exclusive = locks.acquire("data", "a", wait=0)
    assert not exclusive.shared and exclusive.token > shared.token
    assert [h.mode for h in locks.holders("data")] == ["exclusive"]


def test_waiters_are_served_in_arrival_order_and_a_shared_one_does_not_pass_an_exclusive_one(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    locks.acquire("q", "holder", wait=0)
    order: list[str] = []

    def wait_for(owner: str, shared: bool) -> None:
        mine = Locks(Store(coord.store_path), coord.state_dir)
        hold = mine.acquire("q", owner, shared=shared, wait=20)
        order.append(owner)
        mine.release("q", hold.owner)
        mine.store.close()

    threads = []
    for owner, shared in (("first", False), ("second", True), ("third", False)):
        thread = threading.Thread(target=wait_for, args=(owner, shared))
        thread.start()
        threads.append(thread)
        wait_until(lambda owner=owner: any(w.owner == owner for info in locks.ls() for w in info.waiters))
    with pytest.raises(Refused, match="others wait for it first"):  # free for a moment, but others are in line
        locks.release("q", "holder")
        locks.acquire("q", "latecomer", shared=True, wait=0)
    for thread in threads:
        thread.join(30)
    assert order == ["first", "second", "third"]


def test_a_waiter_that_died_stops_holding_up_those_behind_it(coord: Coord) -> None:
    clock = Clock()
    locks = Locks(coord.store, coord.state_dir, clock)
    locks.acquire("q", "holder", ttl=100, wait=0)
    with coord.store.transaction() as db:  # a waiter whose process was killed: its place is never renewed
        db.execute("INSERT INTO coord_waiters (lock, owner, shared, since, alive_until) VALUES "
                   "('q', 'ghost', 0, ?, ?)", (clock.now, clock.now + 5))
    locks.release("q", "holder")
    with pytest.raises(Refused, match="others wait for it first"):
        locks.acquire("q", "next", wait=0)
    clock.now += 5
    assert locks.acquire("q", "next", wait=0).owner == "next"


def test_a_wait_times_out_saying_who_holds_it_and_leaves_the_line(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    locks.acquire("build", "alice", wait=0)
    started = time.monotonic()
    with pytest.raises(TimedOut, match=r"lock build: held by alice .*; waited 0\.\d s"):
        locks.acquire("build", "bob", wait=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert all(not info.waiters for info in locks.ls())


def test_a_waiter_gets_the_lock_as_soon_as_the_lease_of_its_holder_ends(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    locks.acquire("build", "alice", ttl=0.5, wait=0)
    started = time.monotonic()
    hold = locks.acquire("build", "bob", wait=5)
    assert hold.owner == "bob" and time.monotonic() - started < 1.0


def test_what_an_agent_holds_ends_with_its_run(coord: Coord) -> None:
    store, locks = coord.store, Locks(coord.store, coord.state_dir)
    store.mark_started("builder", "shell", "builder", "%1", 123, now=time.time())
    locks.acquire("build", "builder", ttl=3600, wait=0)
    locks.acquire("x", "person", ttl=3600, wait=0)  # no agent: only its lease ends it
    with pytest.raises(Refused):
        locks.acquire("build", "other", wait=0)
    store.set_state("builder", AgentState.EXITED, "exited with status 0")
    assert locks.acquire("build", "other", wait=0).owner == "other"
    assert [h.owner for h in locks.holders("x")] == ["person"]


def test_a_restart_ends_what_the_last_run_held_and_removing_the_agent_too(coord: Coord) -> None:
    store, locks = coord.store, Locks(coord.store, coord.state_dir)
    store.mark_started("a", "shell", "a", "%1", 1, now=100.0)
    locks.acquire("one", "a", ttl=3600, wait=0)
    store.mark_started("a", "shell", "a", "%2", 2, now=200.0)
    assert locks.holders("one") == []
    locks.acquire("two", "a", ttl=3600, wait=0)
    assert [h.owner for h in locks.holders("two")] == ["a"]
    store.delete_agent("a")
    assert locks.holders("two") == []
    assert locks.reap() == ["one", "two"] or locks.ls() == []


def test_bad_names_and_leases_are_usage_errors(coord: Coord) -> None:
    locks = Locks(coord.store, coord.state_dir)
    with pytest.raises(UsageError, match="lock 'a b'"):
        locks.acquire("a b", "x", wait=0)
    for ttl in (0, -1, 8 * 24 * 3600):
        with pytest.raises(UsageError, match="--ttl"):
            locks.acquire("ok", "x", ttl=ttl, wait=0)
