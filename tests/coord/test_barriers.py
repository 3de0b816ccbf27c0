"""Barriers (coord/barriers.py): real processes arriving in any order, passing the same barrier again and again,
timing out, dying, interrupted, their agent's run ending; and how fast the last arrival releases the others."""

from __future__ import annotations

import json
import random
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentmux.coord.barriers import KEEP_ENDED, WAITER_ALIVE, WAITER_BEAT, BarrierInfo, Barriers, Broken, Passage
from agentmux.coord.owners import TimedOut
from agentmux.errors import UsageError
from agentmux.state import AgentState
from agentmux.store import Store
from tests.conftest import wait_until
from tests.coord.conftest import Coord

WAITER = """
import json, time
from agentmux.coord.barriers import Barriers, Broken
from agentmux.coord.owners import TimedOut
from agentmux.store import Store

name, owner, parties, delay, timeout, rounds = sys.argv[1:]
barriers = Barriers(Store(STORE), STATE)
time.sleep(float(delay))
for _ in range(int(rounds)):
    try:
        passage = barriers.wait(name, owner, int(parties), None if timeout == "-" else float(timeout))
    except (Broken, TimedOut) as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc), "at": time.time()}), flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    print(json.dumps({"passed": passage.to_json(), "at": time.time()}), flush=True)
"""
"""A process that waits at barrier NAME as OWNER with PARTIES (after DELAY s; TIMEOUT or -) ROUNDS times, and
prints each outcome as a JSON line."""


def waiter(coord: Coord, name: str, owner: str, parties: int, *, delay: float = 0.0, timeout: float | None = None,
           rounds: int = 1) -> subprocess.Popen[str]:
    return coord.spawn(WAITER, name, owner, str(parties), str(delay), "-" if timeout is None else str(timeout),
                       str(rounds))


def outcomes(child: subprocess.Popen[str], timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
    out, err = child.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return child.returncode, [json.loads(line) for line in out.splitlines()]


def barriers_of(coord: Coord, clock: Callable[[], float] = time.time) -> Barriers:
    return Barriers(coord.store, coord.state_dir, clock)


def arrived(coord: Coord, name: str, count: int) -> Callable[[], BarrierInfo | None]:
    """A predicate: the open generation of barrier `name` once `count` have arrived in it."""

    def look() -> BarrierInfo | None:
        info = barriers_of(coord).info(name)
        return info if info is not None and info.state == "open" and len(info.arrived) == count else None

    return look


# --- processes ----------------------------------------------------------------------------------------------


def test_five_processes_arriving_in_random_order_pass_the_same_generation(coord: Coord) -> None:
    rng = random.Random()
    owners = [f"p{i}" for i in range(5)]
    children = {owner: waiter(coord, "start", owner, 5, delay=rng.uniform(0, 0.3)) for owner in owners}
    passages = {}
    for owner, child in children.items():
        code, found = outcomes(child)
        assert code == 0, found
        passages[owner] = found[0]["passed"]
    orders = {tuple(p["arrived"]) for p in passages.values()}
    assert len(orders) == 1, orders
    order = orders.pop()
    assert sorted(order) == owners  # every arrival listed once
    assert {p["generation"] for p in passages.values()} == {1}
    assert {p["parties"] for p in passages.values()} == {5}
    assert {owner: p["index"] for owner, p in passages.items()} == {owner: order.index(owner) for owner in owners}
    info = barriers_of(coord).info("start")
    assert info is not None and (info.generation, info.state, info.arrived) == (1, "passed", order)


def test_three_processes_pass_the_same_barrier_twenty_times(coord: Coord) -> None:
    owners = ("a", "b", "c")
    children = [waiter(coord, "loop", owner, 3, delay=i * 0.05, rounds=20) for i, owner in enumerate(owners)]
    seen: dict[str, list[dict[str, Any]]] = {}
    for owner, child in zip(owners, children, strict=True):
        code, found = outcomes(child)
        assert code == 0, found
        seen[owner] = [line["passed"] for line in found]
    for owner in owners:
        generations = [p["generation"] for p in seen[owner]]
        assert generations == list(range(1, 21)), (owner, generations)  # consecutive, none skipped
    for round_ in range(20):
        lists = {tuple(seen[owner][round_]["arrived"]) for owner in owners}
        assert len(lists) == 1
        assert sorted(lists.pop()) == list(owners)  # each party exactly once per generation
    rows = coord.store.db.execute("SELECT generation, count(*), count(DISTINCT owner) FROM coord_arrivals "
                                  "WHERE name = 'loop' GROUP BY generation ORDER BY generation").fetchall()
    assert [tuple(row) for row in rows] == [(g, 3, 3) for g in range(1, 21)]


def test_a_waiter_renews_its_arrival_while_it_waits(coord: Coord) -> None:
    fast = "import agentmux.coord.barriers as module\nmodule.WAITER_ALIVE = 0.5\nmodule.WAITER_BEAT = 0.1\n"
    a = coord.spawn(fast + WAITER, "long", "a", "2", "0", "-", "1")
    wait_until(arrived(coord, "long", 1), message="a arrived")
    arrived_at = coord.store.db.execute("SELECT arrived_at FROM coord_arrivals").fetchone()[0]
    # renewed again and again: alive well past several of its (shortened) alive windows
    wait_until(lambda: coord.store.db.execute("SELECT alive_until FROM coord_arrivals").fetchone()[0]
               > arrived_at + 4 * 0.5, message="a renewed its arrival")
    barriers = barriers_of(coord)
    assert barriers.reap() == []
    passage = barriers.wait("long", "b", 2)
    assert passage.arrived == ("a", "b")
    code, found = outcomes(a)
    assert code == 0 and found[0]["passed"]["arrived"] == ["a", "b"]


def test_a_timeout_breaks_the_generation_for_the_others(coord: Coord) -> None:
    b = waiter(coord, "t", "b", 3)
    wait_until(arrived(coord, "t", 1), message="b arrived")
    a = waiter(coord, "t", "a", 3, timeout=0.5)
    code_a, found_a = outcomes(a)
    code_b, found_b = outcomes(b)
    assert code_a == 1 and found_a[0]["error"] == "TimedOut"
    assert found_a[0]["message"] == ("barrier t: a timed out after 0.5 s (generation 1; 2 of 3 had arrived: b, a); "
                                     "the generation broke")
    assert code_b == 1 and found_b[0]["error"] == "Broken"
    assert found_b[0]["message"] == "barrier t broke: a timed out after 0.5 s (generation 1; 2 of 3 had arrived: b, a)"
    assert found_b[0]["at"] - found_a[0]["at"] < 1.0
    # the next arrival opens a new generation
    with pytest.raises(TimedOut, match="generation 2; 1 of 3"):
        barriers_of(coord).wait("t", "c", 3, timeout=0)


def test_a_killed_party_breaks_the_generation_within_its_alive_window(coord: Coord) -> None:
    a = waiter(coord, "k", "a", 3)
    b = waiter(coord, "k", "b", 3)
    wait_until(arrived(coord, "k", 2), message="a and b arrived")
    killed = time.time()
    a.send_signal(signal.SIGKILL)
    code, found = outcomes(b, timeout=WAITER_ALIVE + 10)
    took = found[0]["at"] - killed
    print(f"\na SIGKILLed waiter was noticed {took:.2f} s later (alive window {WAITER_ALIVE:g} s, beat "
          f"{WAITER_BEAT:g} s)")
    assert code == 1 and found[0]["error"] == "Broken"
    assert found[0]["message"].startswith(f"barrier k broke: a left (no sign of life for {WAITER_ALIVE:g} s) "
                                          "(generation 1; 2 of 3 had arrived: ")
    assert WAITER_ALIVE - WAITER_BEAT - 0.5 < took < WAITER_ALIVE + 1.5


def test_an_interrupted_waiter_breaks_the_generation_at_once(coord: Coord) -> None:
    a = waiter(coord, "i", "a", 3)
    b = waiter(coord, "i", "b", 3)
    wait_until(arrived(coord, "i", 2), message="a and b arrived")
    interrupted = time.time()
    a.send_signal(signal.SIGINT)  # KeyboardInterrupt inside wait: a leaves on its way out
    code_a, _ = outcomes(a)
    code_b, found_b = outcomes(b)
    took = found_b[0]["at"] - interrupted
    print(f"\nan interrupted waiter's leaving reached the other in {took * 1000:.0f} ms")
    assert code_a == 130 and code_b == 1
    assert found_b[0]["message"] in ("barrier i broke: a left (generation 1; 2 of 3 had arrived: a, b)",
                                     "barrier i broke: a left (generation 1; 2 of 3 had arrived: b, a)")
    assert took < 1.0


def test_a_party_whose_agent_run_ends_breaks_the_generation(coord: Coord) -> None:
    coord.store.mark_started("builder", "demo", "agentmux-builder", None, None, now=time.time())
    builder = waiter(coord, "r", "builder", 3)
    other = waiter(coord, "r", "other", 3)
    wait_until(arrived(coord, "r", 2), message="builder and other arrived")
    bound = coord.store.db.execute("SELECT bound FROM coord_arrivals WHERE owner = 'builder'").fetchone()[0]
    assert bound is not None  # bound to the agent's run
    ended = time.time()
    coord.store.set_state("builder", AgentState.EXITED, "exited 0")
    for child in (builder, other):
        code, found = outcomes(child)
        assert code == 1 and found[0]["error"] == "Broken", found
        assert found[0]["message"].startswith("barrier r broke: builder left (the agent's run ended) "
                                              "(generation 1; 2 of 3 had arrived: ")
        assert found[0]["at"] - ended < WAITER_BEAT + 1.0  # a waiter's next look, not the alive window


def test_reap_breaks_a_generation_whose_agent_run_ended_and_wakes_the_waiters_at_once(coord: Coord) -> None:
    coord.store.mark_started("builder", "demo", "agentmux-builder", None, None, now=time.time())
    builder = waiter(coord, "r", "builder", 2)
    wait_until(arrived(coord, "r", 1), message="builder arrived")
    coord.store.set_state("builder", AgentState.STOPPED, "stopped")
    reaped = time.time()
    assert barriers_of(coord).reap() == ["r"]
    code, found = outcomes(builder)
    assert code == 1 and "builder left (the agent's run ended)" in found[0]["message"]
    assert found[0]["at"] - reaped < 0.5
    assert barriers_of(coord).reap() == []


def test_the_last_arrival_releases_every_waiter_fast(coord: Coord) -> None:
    rounds = 20
    children = [waiter(coord, "fast", owner, 3, rounds=rounds) for owner in ("a", "b")]
    barriers = barriers_of(coord)
    latencies = []
    for round_ in range(rounds):
        wait_until(arrived(coord, "fast", 2), interval=0.005, message=f"round {round_}: a and b arrived")
        released = time.time()
        passage = barriers.wait("fast", "last", 3)
        assert (passage.generation, passage.index) == (round_ + 1, 2)
        latencies.append(released)
    found = [outcomes(child)[1] for child in children]
    delays = sorted(lines[i]["at"] - latencies[i] for lines in found for i in range(rounds))
    p95 = delays[int(0.95 * (len(delays) - 1))]
    print(f"\nlast arrival to each waiter's return, {len(delays)} over {rounds} rounds: median "
          f"{statistics.median(delays) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms")
    assert p95 < 0.05


# --- in one process -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def in_thread(path: Path, state: Path, name: str, owner: str, parties: int) -> tuple[threading.Thread, list[object]]:
    """A waiter in a thread (its own store connection); the list gets its Passage or exception."""
    result: list[object] = []

    def run() -> None:
        store = Store(path)
        try:
            result.append(Barriers(store, state).wait(name, owner, parties))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result.append(exc)
        finally:
            store.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_arriving_again_is_the_same_party_and_parties_must_agree(coord: Coord) -> None:
    clock = Clock()
    barriers = barriers_of(coord, clock)
    assert barriers._arrive("s", "a", 3) == 1
    clock.now += 2
    assert barriers._arrive("s", "a", 3) == 1  # the same party: its arrival renewed, not counted twice
    info = barriers.info("s")
    assert info is not None and info.arrived == ("a",) and info.state == "open"
    alive = coord.store.db.execute("SELECT arrived_at, alive_until FROM coord_arrivals").fetchone()
    assert tuple(alive) == (1_000_000.0, clock.now + WAITER_ALIVE)
    with pytest.raises(UsageError, match=r"^barrier s has 3 parties \(generation 1\), not 2$"):
        barriers.wait("s", "b", 2)
    for parties in (0, -1, 1001):
        with pytest.raises(UsageError, match="1 to 1000 parties"):
            barriers.wait("s", "b", parties)
    with pytest.raises(UsageError, match="barrier 'no way'"):
        barriers.wait("no way", "b", 2)


def test_one_party_passes_at_once_and_a_barrier_is_reused(coord: Coord) -> None:
    barriers = barriers_of(coord)
    first = barriers.wait("solo", "a", 1, timeout=0)
    assert (first.generation, first.arrived, first.index) == (1, ("a",), 0)
    assert first.to_json()["arrived"] == ["a"]
    second = barriers.wait("solo", "a", 1)
    assert second.generation == 2
    thread, result = in_thread(coord.store_path, coord.state_dir, "pair", "a", 2)
    wait_until(arrived(coord, "pair", 1), message="a arrived")
    passage = barriers.wait("pair", "b", 2, timeout=0)  # completing it needs no wait at all
    thread.join(10)
    assert isinstance(result[0], Passage) and result[0].arrived == passage.arrived == ("a", "b")
    assert (result[0].index, passage.index) == (0, 1)


def test_a_late_waiter_still_sees_its_generation_passed(coord: Coord) -> None:
    clock = Clock()
    barriers = barriers_of(coord, clock)
    assert barriers._arrive("late", "a", 2) == 1
    assert barriers._arrive("late", "b", 2) == 1  # passed
    assert barriers._arrive("late", "b", 2) == 2  # b at the next generation already
    info, _ = barriers._look("late", 1, "a", False, None)
    assert info.state == "passed" and info.arrived == ("a", "b")
    listed = barriers.ls()
    assert [(i.name, i.generation, i.state, i.arrived) for i in listed] == [("late", 2, "open", ("b",))]


def test_an_error_while_waiting_leaves_and_breaks_the_generation(coord: Coord) -> None:
    def boom(info: BarrierInfo) -> None:
        raise KeyboardInterrupt

    other, result = in_thread(coord.store_path, coord.state_dir, "e", "b", 3)
    wait_until(arrived(coord, "e", 1), message="b arrived")
    with pytest.raises(KeyboardInterrupt):
        barriers_of(coord).wait("e", "a", 3, on_wait=boom)
    other.join(5)
    assert isinstance(result[0], Broken)
    assert str(result[0]) == "barrier e broke: a left (generation 1; 2 of 3 had arrived: b, a)"
    info = barriers_of(coord).info("e")
    assert info is not None and (info.state, info.reason) == ("broken", "a left")


def test_leave_breaks_every_open_generation_of_the_owner(coord: Coord) -> None:
    barriers = barriers_of(coord)
    barriers._arrive("x", "a", 2)
    barriers._arrive("y", "a", 2)
    barriers._arrive("z", "b", 2)
    assert barriers.leave("a") == ["x", "y"]
    assert barriers.leave("a") == []
    states = {info.name: (info.state, info.reason) for info in barriers.ls()}
    assert states == {"x": ("broken", "a left"), "y": ("broken", "a left"), "z": ("open", "")}
    assert barriers._arrive("x", "c", 3) == 2  # a new generation, with other parties


def test_reap_breaks_generations_whose_party_lapsed_and_the_next_arrival_does_too(coord: Coord) -> None:
    clock = Clock()
    barriers = barriers_of(coord, clock)
    barriers._arrive("gone", "a", 2)
    barriers._arrive("next", "a", 2)
    clock.now += WAITER_ALIVE - 0.1
    assert barriers.reap() == []
    clock.now += 0.2
    assert barriers._arrive("next", "b", 2) == 2  # a's arrival lapsed: generation 1 broke, b opens 2
    assert barriers.reap() == ["gone"]
    reasons = {(info.name, info.generation): info.reason for info in barriers.ls()}
    assert reasons == {("gone", 1): f"a left (no sign of life for {WAITER_ALIVE:g} s)", ("next", 2): ""}
    row = coord.store.db.execute("SELECT state, reason FROM coord_barriers WHERE name = 'next' AND generation = 1"
                                 ).fetchone()
    assert tuple(row) == ("broken", f"a left (no sign of life for {WAITER_ALIVE:g} s)")


def test_generations_long_ended_are_removed_but_the_newest(coord: Coord) -> None:
    clock = Clock()
    barriers = barriers_of(coord, clock)
    for _ in range(3):
        barriers._arrive("old", "a", 1)
    clock.now += KEEP_ENDED + 1
    assert barriers.reap() == []
    rows = coord.store.db.execute("SELECT generation FROM coord_barriers WHERE name = 'old'").fetchall()
    assert [row[0] for row in rows] == [3]
    assert coord.store.db.execute("SELECT count(*) FROM coord_arrivals").fetchone()[0] == 1
    assert barriers._arrive("old", "a", 1) == 4


def test_ls_and_json(coord: Coord) -> None:
    clock = Clock()
    barriers = barriers_of(coord, clock)
    assert barriers.ls() == []
    barriers._arrive("b", "x", 2)
    barriers._arrive("a", "x", 1)
    clock.now += 3
    listed = barriers.ls()
    assert [info.name for info in listed] == ["a", "b"]
    assert listed[1].to_json(clock.now) == {
        "name": "b", "generation": 1, "parties": 2, "state": "open", "reason": "", "arrived": ["x"], "missing": 1,
        "opened_at": 1_000_000.0, "ended_at": None, "age": 3.0}
    assert listed[0].to_json(clock.now)["state"] == "passed" and listed[0].to_json(clock.now)["age"] == 0.0
    assert listed[1].count() == "1 of 2 arrived: x"
