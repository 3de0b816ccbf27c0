"""Shared state (coord/kv.py): versions and revisions, compare-and-swap with no lost update across processes, a
watch that sees every change after a revision in order across processes, and resync once the log is compacted."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import pytest

from agentmux.coord.kv import TOPIC, Change, Conflict, Resync, SharedState
from agentmux.coord.owners import Refused
from agentmux.errors import UsageError
from agentmux.topics import topic_key, topics_dir
from tests.conftest import wait_until
from tests.coord.conftest import Coord


def watchers(state_dir: Path) -> set[str]:
    folder = topics_dir(state_dir)
    if not folder.is_dir():
        return set()
    return {entry.name for entry in folder.iterdir() if entry.name.startswith(topic_key(TOPIC) + ".")}


def test_set_get_versions_and_revisions(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    assert state.revision() == 0 and state.get("k") is None
    first = state.set("k", {"a": [1, 2]}, "a")
    assert (first.version, first.created_rev, first.mod_rev, first.updated_by) == (1, 1, 1, "a")
    state.set("other", "x", "b")
    second = state.set("k", 3, "b")
    assert (second.version, second.created_rev, second.mod_rev) == (2, 1, 3)
    assert state.get("k") == second and state.get("k").value == 3  # type: ignore[union-attr]
    assert state.revision() == 3
    gone = state.delete("k", "c")
    assert gone == second
    assert state.get("k") is None and state.revision() == 4
    assert state.delete("k", "c") is None and state.revision() == 4  # nothing to delete: no change
    again = state.set("k", None, "a")
    assert (again.version, again.created_rev, again.mod_rev, again.value) == (1, 5, 5, None)
    assert [(c.rev, c.key, c.op, c.value, c.version, c.by) for c in state.changes("", 0)] == [
        (1, "k", "set", {"a": [1, 2]}, 1, "a"), (2, "other", "set", "x", 1, "b"), (3, "k", "set", 3, 2, "b"),
        (4, "k", "del", None, 0, "c"), (5, "k", "set", None, 1, "a")]
    assert [c.rev for c in state.changes("ot", 0)] == [2]
    assert [c.rev for c in state.changes("", 3, limit=1)] == [4]


def test_values_and_keys(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    value: object
    for value in (0, -1.5, True, "", "é ☃", [], {"nested": {"list": [None, 1, "x"]}}):
        assert state.set("v", value, "a").value == value
        assert state.get("v").value == value  # type: ignore[union-attr]
    for bad in (math.nan, math.inf, {"a": object()}, {1, 2}, b"bytes"):
        with pytest.raises(UsageError, match="not JSON"):
            state.set("v", bad, "a")
    for key in ("", "x" * 513, "tab\there", "nl\n", "del\x7f", "c1\x85", "surrogate\udcff"):
        with pytest.raises(UsageError, match="key"):
            state.set(key, 1, "a")
    assert state.set("x" * 512, 1, "a").version == 1
    assert state.set("a/b:c d.é", 1, "a").version == 1
    with pytest.raises(UsageError):
        state.set("k", 1, "bad name")
    assert state.revision() == 9  # the refused ones changed nothing


def test_ls_by_prefix(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    for key in ("b/2", "a", "b/1", "b%", "c", "b_"):
        state.set(key, key, "a")
    assert [e.key for e in state.ls()] == ["a", "b%", "b/1", "b/2", "b_", "c"]
    assert [e.key for e in state.ls("b/")] == ["b/1", "b/2"]
    assert [e.key for e in state.ls("b%")] == ["b%"]  # no LIKE wildcards
    assert state.ls("zz") == []
    assert state.snapshot("b/") == (6, state.ls("b/"))


def test_cas(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    created = state.cas("n", 0, 1, "a")
    assert created.version == 1
    with pytest.raises(Conflict, match="at version 1, not version 0") as refused:
        state.cas("n", 0, 1, "a")
    assert refused.value.current == 1 and isinstance(refused.value, Refused) and refused.value.exit_code == 1
    assert state.cas("n", 1, 2, "b").version == 2
    with pytest.raises(Conflict, match="absent"):
        state.cas("missing", 3, 1, "a")
    with pytest.raises(UsageError):
        state.cas("n", -1, 1, "a")
    assert state.get("n").value == 2 and state.revision() == 2  # type: ignore[union-attr]


INCREMENTER = """
from agentmux.coord.kv import SharedState, Conflict
from agentmux.store import Store
store = Store(STORE)
state = SharedState(store, STATE)
import time
who, times, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():  # all start together
    time.sleep(0.005)
retries = 0
for _ in range(times):
    while True:
        entry = state.get("counter")
        version, value = (0, 0) if entry is None else (entry.version, entry.value)
        try:
            state.cas("counter", version, value + 1, who)
            break
        except Conflict:
            retries += 1
print(retries)
"""


def test_cas_increments_race_without_lost_update(coord: Coord, tmp_path: Path) -> None:
    workers, times = 5, 40
    go = tmp_path / "go"
    children = [coord.spawn(INCREMENTER, f"w{index}", str(times), str(go)) for index in range(workers)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    go.touch()
    retries = 0
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        retries += int(out.split()[-1])
    entry = SharedState(coord.store, coord.state_dir).get("counter")
    assert entry is not None
    assert entry.value == workers * times and entry.version == workers * times
    print(f"{workers} x {times} CAS increments: {retries} retries")


WATCHER = """
import json
from agentmux.coord.kv import SharedState
from agentmux.store import Store
store = Store(STORE)
state = SharedState(store, STATE)
after, until = int(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
for change in state.watch(sys.argv[3], after=after, timeout=60):
    print(json.dumps(change.to_json()), flush=True)
    if change.rev >= until:
        break
"""

WRITER = """
from agentmux.coord.kv import SharedState
from agentmux.store import Store
store = Store(STORE)
state = SharedState(store, STATE)
for index in range(int(sys.argv[1])):
    state.set(f"w/{index % 7}", index, "writer")
    if index % 5 == 4:
        state.delete(f"w/{index % 7}", "writer")
"""


def test_watch_from_a_revision_across_processes(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    for index in range(10):
        state.set(f"w/before{index}", index, "me")
        state.set("elsewhere", index, "me")
    start = 7
    writes = 60
    total = 20 + writes + writes // 5
    before = watchers(coord.state_dir)
    watcher = coord.spawn(WATCHER, str(start), str(total + 1), "w/")
    wait_until(lambda: watchers(coord.state_dir) - before, timeout=30, message="the watcher waits")
    writer = coord.spawn(WRITER, str(writes))
    assert writer.wait(timeout=60) == 0, writer.communicate()[1]
    state.set("w/last", "end", "me")  # the last revision, which ends the watch
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    seen = [Change(**json.loads(line)) for line in out.splitlines()[1:]]
    expected = state.changes("w/", start, limit=10_000)
    assert seen == expected
    assert [c.rev for c in seen] == sorted(c.rev for c in seen)
    assert seen[0].rev == 9 and seen[-1].rev == total + 1  # rev 8 was "elsewhere"'s
    assert sum(c.op == "del" for c in seen) == writes // 5


def test_watch_from_now_waits_and_wakes(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    state.set("old", 1, "me")
    started = time.monotonic()
    assert list(state.watch("", None, timeout=0.3)) == []  # only new changes, none came
    assert 0.3 <= time.monotonic() - started < 2
    assert [c.key for c in state.watch("", 0, timeout=0)] == ["old"]
    rounds = 5
    code = WATCHER.replace("print(json.dumps(change.to_json()), flush=True)",
                           "print(json.dumps({'seen_at': time.time(), **change.to_json()}), flush=True)")
    watcher = coord.spawn("import time\n" + code, str(state.revision()), str(state.revision() + rounds), "")
    assert watcher.stdout is not None and watcher.stdout.readline() == "ready\n"
    wait_until(lambda: watchers(coord.state_dir), timeout=30, message="the watcher waits")
    latencies = []
    for index in range(rounds):
        time.sleep(0.05)  # not to wait for something: to write while the watcher sleeps in its wait
        entry = state.set("new", index, "me")
        line = json.loads(watcher.stdout.readline())
        assert line["rev"] == entry.mod_rev
        latencies.append(line["seen_at"] - entry.updated_at)
    assert watcher.wait(timeout=30) == 0
    print(f"state watch woken after {statistics.median(latencies) * 1000:.1f} ms (median of {rounds}), "
          f"max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 0.5  # a look every WAIT_BEAT (1 s) alone would take ~0.95 s


def test_resync_when_compacted(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir, keep=5)
    for index in range(20):
        state.set(f"k{index % 3}", index, "me")
    assert state.revision() == 20 and state.compacted() == 15
    assert tuple(coord.store.db.execute("SELECT min(rev), count(*) FROM coord_kv_log").fetchone()) == (16, 5)
    assert [c.rev for c in state.changes("", 15)] == [16, 17, 18, 19, 20]
    with pytest.raises(Resync) as told:
        state.changes("", 14)
    assert (told.value.revision, told.value.compacted, told.value.exit_code) == (20, 15, 1)
    assert str(told.value) == ("resync: changes before revision 16 were compacted; read the keys again (state ls) "
                               "and watch from revision 20")
    seen: list[Change] = []
    with pytest.raises(Resync):
        for change in state.watch("", 3, timeout=0):
            seen.append(change)
    assert seen == []  # raised before yielding anything, never skipping
    # what a resync means: read the keys at a revision, watch from it
    revision, entries = state.snapshot()
    assert {e.key: e.value for e in entries} == {"k0": 18, "k1": 19, "k2": 17}
    assert list(state.watch("", revision, timeout=0)) == []


def test_watch_that_falls_behind_resyncs(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir, keep=5)
    for index in range(3):
        state.set("k", index, "me")
    watch = state.watch("", 0, timeout=5)
    assert next(watch).rev == 1
    for index in range(10):  # another writer, while this watcher dawdles
        SharedState(coord.store, coord.state_dir, keep=5).set("k", index, "other")
    assert [next(watch).rev, next(watch).rev] == [2, 3]  # what it had read already
    with pytest.raises(Resync, match="before revision 9"):
        next(watch)


def test_watch_of_a_quiet_prefix_reads_up_to_the_revision(coord: Coord) -> None:
    """A watcher of a prefix nobody writes moves its cursor to the revision of each look, so others' changes being
    compacted later do not make it resync."""
    state = SharedState(coord.store, coord.state_dir, keep=5)
    for index in range(4):
        state.set("busy", index, "me")
    assert state._changes("quiet/", 0, 1000) == ([], 4)
    for index in range(4):
        state.set("busy", index, "me")
    assert state.compacted() == 3
    assert state._changes("quiet/", 4, 1000) == ([], 8)  # from the last look's revision: no resync
    assert [c.rev for c in state._changes("", 4, 2)[0]] == [5, 6] and state._changes("", 4, 2)[1] == 6
