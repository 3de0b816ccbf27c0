"""Messages (coord/messages.py): delivered exactly once across processes, waking a waiting receiver at once, "all"
fanning out to the fleet, threads, expiry, and read deliveries kept apart from unread ones."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest

from agentmux.coord.messages import DEFAULT_TTL, READ_KEPT, Messages, topic
from agentmux.errors import UnknownAgent, UsageError
from agentmux.topics import topic_key, topics_dir
from tests.conftest import wait_until
from tests.coord.conftest import Coord

FLEET = ("a", "b", "c")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def notes(state_dir: Path, name: str) -> set[str]:
    """The notes of those waiting on the topic (wake.py): one per Listener."""
    folder = topics_dir(state_dir)
    if not folder.is_dir():
        return set()
    return {entry.name for entry in folder.iterdir() if entry.name.startswith(topic_key(name) + ".")}


def test_send_and_recv_in_order_once(coord: Coord) -> None:
    messages = Messages(coord.store, coord.state_dir)
    first = messages.send("a", ["b"], "one", fleet=FLEET)
    second = messages.send("c", ["b"], "two", importance="urgent", fleet=FLEET)
    assert first.recipients == ("b",) and first.read_at is None
    assert first.thread == str(first.id) and second.thread == str(second.id)  # a new thread each, by its id
    assert first.expires_at == pytest.approx(first.sent_at + DEFAULT_TTL)
    got = messages.recv("b")
    assert [(m.id, m.sender, m.body, m.importance) for m in got] == [(first.id, "a", "one", "normal"),
                                                                      (second.id, "c", "two", "urgent")]
    assert all(m.read_at is not None for m in got)
    assert messages.recv("b") == []
    assert messages.recv("a") == []


def test_threads_replies_and_limit(coord: Coord) -> None:
    messages = Messages(coord.store, coord.state_dir)
    start = messages.send("a", ["b"], "shall we?", fleet=FLEET)
    other = messages.send("c", ["b"], "unrelated", fleet=FLEET)
    reply = messages.send("b", ["a"], "yes", thread=start.thread, fleet=FLEET)
    assert reply.thread == start.thread
    again = messages.send("a", ["b"], "good", thread=start.thread, fleet=FLEET)
    assert [m.id for m in messages.recv("b", thread=start.thread)] == [start.id, again.id]
    assert [m.id for m in messages.recv("b", limit=5)] == [other.id]
    assert [m.thread for m in messages.ls(thread=start.thread)] == [start.thread] * 3
    for _ in range(3):
        messages.send("a", ["c"], "x", fleet=FLEET)
    assert len(messages.recv("c", limit=2)) == 2
    assert len(messages.recv("c", limit=2)) == 1


def test_all_fans_out_to_every_other_agent(coord: Coord) -> None:
    messages = Messages(coord.store, coord.state_dir)
    sent = messages.send("a", ["all"], "standup", fleet=FLEET)
    assert sent.recipients == ("b", "c")
    assert messages.unread_counts() == {"b": 1, "c": 1}
    assert [m.id for m in messages.recv("b")] == [sent.id]
    assert messages.recv("a") == []
    assert [m.recipients for m in messages.recv("c")] == [("b", "c")]
    # names and all together, each once; the sender named on purpose gets it too
    again = messages.send("b", ["a", "all", "b"], "hi", fleet=FLEET)
    assert again.recipients == ("a", "c", "b")
    row = coord.store.db.execute("SELECT count(*) FROM coord_inbox WHERE message = ?", (again.id,)).fetchone()
    assert row[0] == 3


def test_refusals(coord: Coord) -> None:
    messages = Messages(coord.store, coord.state_dir)
    with pytest.raises(UnknownAgent, match="'zed'"):
        messages.send("a", ["b", "zed"], "hi", fleet=FLEET)
    assert messages.ls() == []  # nothing sent to b either
    for body in ("", "  \n"):
        with pytest.raises(UsageError, match="empty"):
            messages.send("a", ["b"], body, fleet=FLEET)
    with pytest.raises(UsageError, match="importance"):
        messages.send("a", ["b"], "x", importance="critical", fleet=FLEET)
    with pytest.raises(UsageError, match="nobody"):
        messages.send("a", ["all"], "x", fleet=("a",))
    with pytest.raises(UsageError, match="ttl"):
        messages.send("a", ["b"], "x", ttl=0, fleet=FLEET)
    with pytest.raises(UsageError, match="recipient"):
        messages.send("a", ["bad name"], "x")
    with pytest.raises(UsageError, match="UTF-8"):
        messages.send("a", ["b"], "bad \udcff byte", fleet=FLEET)
    with pytest.raises(UsageError, match="thread"):
        messages.send("a", ["b"], "x", thread="two\nlines", fleet=FLEET)
    # without a fleet any well-formed name is a mailbox (a person, a script)
    assert messages.send("a", ["someone"], "x").recipients == ("someone",)


def test_expiry_and_reap(coord: Coord) -> None:
    clock = Clock()
    messages = Messages(coord.store, coord.state_dir, clock)
    brief = messages.send("a", ["b", "c"], "soon gone", ttl=10, fleet=FLEET)
    lasting = messages.send("a", ["b"], "kept", ttl=None, fleet=FLEET)
    assert lasting.expires_at is None
    clock.now += 10
    assert [m.id for m in messages.ls("b")] == [lasting.id]
    assert messages.unread_counts() == {"b": 1}
    assert [m.id for m in messages.recv("c")] == []
    assert messages.reap() == 1  # the expired message (its two deliveries with it)
    assert coord.store.db.execute("SELECT count(*) FROM coord_inbox WHERE message = ?", (brief.id,)).fetchone()[0] == 0
    assert [m.id for m in messages.recv("b")] == [lasting.id]
    clock.now += DEFAULT_TTL * 10
    assert messages.reap() == 2  # the read delivery, then its message, nobody's any more
    assert messages.ls(None) == []


def test_read_kept_apart_from_unread(coord: Coord) -> None:
    clock = Clock()
    messages = Messages(coord.store, coord.state_dir, clock)
    read = messages.send("a", ["b"], "seen", fleet=FLEET)
    assert [m.id for m in messages.recv("b", limit=1)] == [read.id]
    clock.now += 5
    unread = messages.send("a", ["b", "c"], "not yet", fleet=FLEET)
    listed = messages.ls("b")
    assert [(m.id, m.read_at) for m in listed] == [(read.id, clock.now - 5), (unread.id, None)]
    assert [m.id for m in messages.ls("b", unread=True)] == [unread.id]
    assert [m.id for m in messages.ls("b", unread=True)] == [unread.id]  # ls never marks read
    assert messages.unread_counts() == {"b": 1, "c": 1}
    assert [(m.id, m.read_at) for m in messages.ls()] == [(read.id, None), (unread.id, None)]
    assert [m.id for m in messages.ls(unread=True)] == [unread.id]
    assert messages.deliveries(unread.id) == {"b": None, "c": None}
    messages.recv("c")
    assert [m.id for m in messages.ls(unread=True)] == [unread.id]  # b has not read it yet
    clock.now += READ_KEPT - 3  # b read `read` a day and 2 s ago, c read `unread` a day less 3 s ago
    assert messages.reap() == 2  # b's read delivery of `read` and the message itself; c's read one is newer
    assert [m.id for m in messages.ls("b")] == [unread.id]
    assert [m.id for m in messages.ls("c")] == [unread.id]
    assert [m.id for m in messages.recv("b")] == [unread.id]


SENDER = """
from agentmux.coord.messages import Messages
from agentmux.store import Store
store = Store(STORE)
messages = Messages(store, STATE)
who, count = sys.argv[1], int(sys.argv[2])
for index in range(count):
    messages.send(who, ["r"], f"{who}-{index}", fleet=("r", who))
"""

RECEIVER = """
import json
from agentmux.coord.messages import Messages
from agentmux.store import Store
store = Store(STORE)
messages = Messages(store, STATE)
stop = Path(sys.argv[1])
print("ready", flush=True)
got = []
while True:
    batch = messages.recv("r", wait=0.2, limit=1)
    got += [m.body for m in batch]
    if not batch and stop.exists():
        break
print(json.dumps(got))
"""


def test_concurrent_receivers_get_each_message_once(coord: Coord, tmp_path: Path) -> None:
    senders, each = 4, 30
    stop = tmp_path / "stop"
    receivers = [coord.spawn(RECEIVER, str(stop)) for _ in range(2)]
    for receiver in receivers:
        assert receiver.stdout is not None and receiver.stdout.readline() == "ready\n"
    started = [coord.spawn(SENDER, f"s{index}", str(each)) for index in range(senders)]
    for sender in started:
        assert sender.wait(timeout=60) == 0, sender.communicate()[1]
    stop.touch()
    got: list[list[str]] = []
    for receiver in receivers:
        out, err = receiver.communicate(timeout=60)
        assert receiver.returncode == 0, err
        got.append(json.loads(out))
    everything = got[0] + got[1]
    assert sorted(everything) == sorted(f"s{s}-{i}" for s in range(senders) for i in range(each))
    assert len(set(everything)) == len(everything) == senders * each  # none twice
    for name in (f"s{s}" for s in range(senders)):  # each receiver got one sender's messages in its order
        for one in got:
            mine = [int(body.split("-")[1]) for body in one if body.startswith(name + "-")]
            assert mine == sorted(mine)
    assert Messages(coord.store, coord.state_dir).unread_counts() == {}


WAITER = """
import json, time
from agentmux.coord.messages import Messages
from agentmux.store import Store
store = Store(STORE)
messages = Messages(store, STATE)
for _ in range(int(sys.argv[1])):
    got = messages.recv("r", wait=30)
    print(json.dumps({"at": time.time(), "sent_at": got[0].sent_at, "body": got[0].body}), flush=True)
"""


def test_waiting_receiver_is_woken_at_once(coord: Coord) -> None:
    rounds = 5
    waiter = coord.spawn(WAITER, str(rounds))
    messages = Messages(coord.store, coord.state_dir)
    latencies = []
    assert waiter.stdout is not None
    seen: set[str] = set()
    for index in range(rounds):
        known = set(seen)
        fresh = wait_until(lambda: notes(coord.state_dir, topic("r")) - known, timeout=30,  # noqa: B023
                           message="the receiver waits")
        assert isinstance(fresh, set)
        seen |= fresh
        time.sleep(0.05)  # not to wait for something: to send once the receiver's first look is done (it sleeps)
        messages.send("s", ["r"], f"m{index}")
        line = json.loads(waiter.stdout.readline())
        assert line["body"] == f"m{index}"
        latencies.append(line["at"] - line["sent_at"])
    assert waiter.wait(timeout=30) == 0
    print(f"recv --wait woken after {statistics.median(latencies) * 1000:.1f} ms (median of {rounds}), "
          f"max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 0.5  # a look every WAIT_BEAT (1 s) alone would take ~0.95 s


def test_recv_waits_then_gives_up(coord: Coord) -> None:
    messages = Messages(coord.store, coord.state_dir)
    started = time.monotonic()
    assert messages.recv("r", wait=0.3) == []
    assert 0.3 <= time.monotonic() - started < 2
    with pytest.raises(UsageError):
        messages.recv("r", limit=0)
