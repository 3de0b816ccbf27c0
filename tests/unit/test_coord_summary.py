"""read_summary on a real store: what is live shows, what ended (a lease, a waiter's place, an owner's run, a message's
life) does not; per-owner badges; caps; the cost of a read on a store with many rows; and the TUI's buffer, which
reads it when the store changed or a second passed and sends it on only when it changed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from agentmux.config import Config, Settings
from agentmux.coord.locks import Locks
from agentmux.coord.summary import MAX_KEYS, NOTHING, RECENT_MESSAGES, VALUE_WIDTH, OwnerCoord, read_summary
from agentmux.store import Store
from agentmux.supervisor.look import Look
from agentmux.supervisor.ui import UiBuffer

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store.db")
    yield store
    store.close()


def agent(store: Store, name: str, started_at: float, state: str = "idle") -> None:
    """An agent's row as the observer leaves it: running since `started_at` (or ended, by `state`)."""
    with store.transaction() as db:
        db.execute("INSERT INTO agents (name, kind, state, reason, state_since, started_at, desired) "
                   "VALUES (?, 'demo', ?, '', ?, ?, 'running')", (name, state, started_at, started_at))


def hold(store: Store, lock: str, owner: str, *, expires: float, token: int, shared: bool = False,
         bound: float | None = None) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO coord_locks (name, token) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET token = "
                   "excluded.token", (lock, token))
        db.execute("INSERT INTO coord_holds (lock, owner, shared, token, acquired_at, expires_at, ttl, bound) "
                   "VALUES (?, ?, ?, ?, ?, ?, 60, ?)", (lock, owner, int(shared), token, NOW - 10, expires, bound))


def waiter(store: Store, lock: str, owner: str, *, alive_until: float, shared: bool = False) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO coord_waiters (lock, owner, shared, since, alive_until) VALUES (?, ?, ?, ?, ?)",
                   (lock, owner, int(shared), NOW - 5, alive_until))


def message(store: Store, sender: str, body: str, recipients: dict[str, float | None], *, thread: str = "",
            importance: str = "normal", sent_at: float = NOW - 30, expires_at: float | None = None) -> int:
    """A message as `agentmux msg send` would store it: its row and one inbox row per recipient (read_at)."""
    with store.transaction() as db:
        number = int(db.execute("INSERT INTO coord_messages (sender, thread, importance, body, sent_at, expires_at) "
                                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                (sender, thread, importance, body, sent_at, expires_at)).fetchone()[0])
        for recipient, read_at in recipients.items():
            db.execute("INSERT INTO coord_inbox (recipient, message, read_at) VALUES (?, ?, ?)",
                       (recipient, number, read_at))
    return number


def barrier(store: Store, name: str, generation: int, parties: int, state: str = "open", *, reason: str = "",
            ended_at: float | None = None, arrivals: dict[str, tuple[float, float | None]] | None = None) -> None:
    """A barrier generation and its arrivals (owner: (alive_until, bound))."""
    with store.transaction() as db:
        db.execute("INSERT INTO coord_barriers (name, generation, parties, state, reason, opened_at, ended_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (name, generation, parties, state, reason, NOW - 100, ended_at))
        for n, (owner, (alive_until, bound)) in enumerate((arrivals or {}).items()):
            db.execute("INSERT INTO coord_arrivals (name, generation, owner, arrived_at, alive_until, bound) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (name, generation, owner, NOW - 50 + n, alive_until, bound))


def test_an_empty_store_shows_nothing(store: Store) -> None:
    summary = read_summary(store.db, NOW)
    assert summary.empty
    assert summary.locks == () and summary.key_count == 0 and summary.of("anyone") is NOTHING
    assert not store.db.in_transaction


def test_live_locks_with_their_waiters_and_nothing_that_ended(store: Store) -> None:
    agent(store, "builder", started_at=NOW - 600)
    agent(store, "gone", started_at=NOW - 600, state="exited")
    agent(store, "restarted", started_at=NOW - 60)
    hold(store, "build", "builder", expires=NOW + 41.5, token=7, bound=NOW - 600)
    hold(store, "docs", "ada", expires=NOW + 5, token=2, shared=True)  # a person: no agent, no run
    hold(store, "docs", "bob", expires=NOW + 9, token=3, shared=True)
    hold(store, "stale", "ada", expires=NOW - 1, token=1)  # its lease ended
    hold(store, "left", "gone", expires=NOW + 50, token=4, bound=NOW - 600)  # its agent exited
    hold(store, "old-run", "restarted", expires=NOW + 50, token=5, bound=NOW - 600)  # bound to the run before
    waiter(store, "build", "tester", alive_until=NOW + 4)
    waiter(store, "build", "docs", alive_until=NOW + 4, shared=True)
    waiter(store, "build", "lapsed", alive_until=NOW - 0.5)  # stopped renewing its place
    waiter(store, "deploy", "tester", alive_until=NOW + 4)  # waited for, held by nobody

    summary = read_summary(store.db, NOW)

    assert [lock.name for lock in summary.locks] == ["build", "deploy", "docs"]
    build, deploy, docs = summary.locks
    assert [(h.owner, h.mode, h.token) for h in build.holders] == [("builder", "exclusive", 7)]
    assert build.holders[0].remaining == pytest.approx(41.5)
    assert build.holders[0].expires_at == NOW + 41.5
    assert [(w.owner, w.mode) for w in build.waiters] == [("tester", "exclusive"), ("docs", "shared")]
    assert deploy.holders == () and [w.owner for w in deploy.waiters] == ["tester"]
    assert [(h.owner, h.mode, h.token) for h in docs.holders] == [("ada", "shared", 2), ("bob", "shared", 3)]
    assert summary.of("builder") == OwnerCoord(holds=("build",))
    assert summary.of("tester") == OwnerCoord(waits=("build", "deploy"))
    assert summary.of("ada") == OwnerCoord(holds=("docs",))
    for ended in ("gone", "restarted", "lapsed"):
        assert summary.of(ended) is NOTHING, ended


def test_a_hold_ends_the_moment_its_lease_does(store: Store) -> None:
    hold(store, "build", "ada", expires=NOW + 10, token=1)
    assert read_summary(store.db, NOW + 9.9).locks
    assert not read_summary(store.db, NOW + 10).locks


def test_live_reservations(store: Store) -> None:
    agent(store, "gone", started_at=NOW - 600, state="stopped")
    with store.transaction() as db:
        for owner, pattern, exclusive, expires, bound in [
                ("web", "src/ui/**", 1, NOW + 300, None), ("api", "src/api/*.py", 0, NOW + 20, None),
                ("late", "docs/**", 1, NOW - 1, None), ("gone", "tests/**", 1, NOW + 300, NOW - 600)]:
            db.execute("INSERT INTO coord_reservations (project, root, pattern, owner, exclusive, reason, created_at, "
                       "expires_at, bound) VALUES ('p', '/home/user/project', ?, ?, ?, 'refactor', ?, ?, ?)",
                       (pattern, owner, exclusive, NOW - 10, expires, bound))
    summary = read_summary(store.db, NOW)
    assert [(r.pattern, r.owner, r.mode, r.reason, r.root) for r in summary.reservations] == [
        ("src/api/*.py", "api", "shared", "refactor", "/home/user/project"),
        ("src/ui/**", "web", "exclusive", "refactor", "/home/user/project")]
    assert summary.reservations[0].remaining == pytest.approx(20)


def test_open_barriers_with_who_arrived_and_the_last_recent_outcome(store: Store) -> None:
    agent(store, "gone", started_at=NOW - 600, state="exited")
    barrier(store, "deploy", 3, 3, arrivals={"web": (NOW + 5, None), "api": (NOW + 5, None),
                                             "lapsed": (NOW - 1, None), "gone": (NOW + 5, NOW - 600)})
    barrier(store, "deploy", 2, 3, "broken", reason="api timed out", ended_at=NOW - 60,
            arrivals={"web": (NOW - 70, None)})
    barrier(store, "deploy", 1, 3, "passed", ended_at=NOW - 120)  # not the last ended one
    barrier(store, "release", 1, 2, "passed", ended_at=NOW - 30,
            arrivals={"a": (NOW - 40, None), "b": (NOW - 40, None)})
    barrier(store, "ancient", 4, 2, "passed", ended_at=NOW - 3600)  # ended long ago

    summary = read_summary(store.db, NOW)

    assert [(b.name, b.generation, b.state) for b in summary.barriers] == [
        ("deploy", 2, "broken"), ("deploy", 3, "open"), ("release", 1, "passed")]
    broken, opened, passed = summary.barriers
    assert opened.arrived == ("web", "api") and opened.parties == 3 and opened.ended_at is None
    assert broken.reason == "api timed out" and broken.ended_at == NOW - 60
    assert passed.arrived == ("a", "b")
    assert summary.of("web") == OwnerCoord(barriers=("deploy",))
    assert summary.of("a") is NOTHING  # that barrier passed: nobody waits there


def test_recent_live_messages_with_recipients_and_unread_counts(store: Store) -> None:
    first = message(store, "lead", "plan:\nsecond line", {"web": None, "api": NOW - 5}, thread="plan",
                    importance="high", sent_at=NOW - 90)
    message(store, "lead", "expired", {"web": None}, expires_at=NOW - 1)
    last = message(store, "web", "done \x1b[31mred", {"lead": None}, expires_at=NOW + 60, sent_at=NOW - 10)

    summary = read_summary(store.db, NOW)

    assert [m.id for m in summary.messages] == [last, first]  # newest first, the expired one left out
    newest, oldest = summary.messages
    assert oldest.body == "plan:" and oldest.recipients == ("api", "web") and oldest.unread_by == ("web",)
    assert (oldest.sender, oldest.thread, oldest.importance, oldest.sent_at) == ("lead", "plan", "high", NOW - 90)
    assert newest.body == "done \\x1b[31mred"  # shown, never obeyed
    assert dict(summary.unread) == {"lead": 1, "web": 1}
    assert summary.of("web") == OwnerCoord(unread=1)


def test_messages_and_keys_are_capped(store: Store) -> None:
    for n in range(RECENT_MESSAGES + 5):
        message(store, "lead", f"note {n}", {"web": None})
    with store.transaction() as db:
        for n in range(MAX_KEYS + 50):
            db.execute("INSERT INTO coord_kv (key, value, version, created_rev, mod_rev, updated_at, updated_by) "
                       "VALUES (?, ?, 1, ?, ?, ?, 'web')", (f"k{n:04d}", "x" * 500 if n == 0 else f"v{n}", n + 1,
                                                           n + 1, NOW - n))
    summary = read_summary(store.db, NOW)
    assert len(summary.messages) == RECENT_MESSAGES and summary.messages[0].body == f"note {RECENT_MESSAGES + 4}"
    assert summary.unread["web"] == RECENT_MESSAGES + 5  # counted beyond those shown
    assert len(summary.keys) == MAX_KEYS and summary.key_count == MAX_KEYS + 50
    first = summary.keys[0]
    assert (first.key, first.version, first.mod_rev, first.updated_by) == ("k0000", 1, 1, "web")
    assert len(first.value) == VALUE_WIDTH and first.value.endswith("…")
    assert summary.keys[1].value == "v1"


def test_two_reads_of_the_same_state_are_equal_whenever_read(store: Store) -> None:
    """The TUI sends a summary on only when it changed: the lease left counts down without making it new."""
    hold(store, "build", "ada", expires=NOW + 30, token=1)
    assert read_summary(store.db, NOW) == read_summary(store.db, NOW + 5)
    assert read_summary(store.db, NOW) != read_summary(store.db, NOW + 31)


def test_a_hold_taken_by_the_real_primitive_shows(store: Store, tmp_path: Path) -> None:
    locks = Locks(store, tmp_path / "state", clock=lambda: NOW)
    taken = locks.acquire("build", "ada", ttl=30, wait=0)
    summary = read_summary(store.db, NOW + 1)
    assert [(h.owner, h.token) for lock in summary.locks for h in lock.holders] == [("ada", taken.token)]


def test_a_read_is_cheap_on_a_busy_store(store: Store) -> None:
    """A thousand holds and reservations, ten thousand messages and keys: one read well under the supervisor's
    tick (it runs at most once a second, in the supervisor's thread)."""
    with store.transaction() as db:
        for n in range(1000):
            db.execute("INSERT INTO coord_holds (lock, owner, shared, token, acquired_at, expires_at, ttl) "
                       "VALUES (?, ?, 0, ?, ?, ?, 60)", (f"lock{n}", f"agent{n % 50}", n, NOW, NOW + 60))
            db.execute("INSERT INTO coord_reservations (project, root, pattern, owner, exclusive, created_at, "
                       "expires_at) VALUES ('p', '/r', ?, ?, 1, ?, ?)", (f"src/{n}/**", f"agent{n % 50}", NOW,
                                                                         NOW + 60))
        for n in range(10_000):
            number = db.execute("INSERT INTO coord_messages (sender, body, sent_at) VALUES ('lead', ?, ?) "
                                "RETURNING id", (f"note {n}", NOW)).fetchone()[0]
            db.execute("INSERT INTO coord_inbox (recipient, message, read_at) VALUES (?, ?, ?)",
                       (f"agent{n % 50}", number, None if n % 3 else NOW))
            db.execute("INSERT INTO coord_kv (key, value, version, created_rev, mod_rev, updated_at, updated_by) "
                       "VALUES (?, 'v', 1, ?, ?, ?, 'lead')", (f"key{n}", n, n, NOW))
    read_summary(store.db, NOW)  # warm the page cache, as the second read of a running TUI is
    timings = []
    for _ in range(5):  # the best of five: a loaded machine's pauses are not the read's cost
        started = time.perf_counter()
        summary = read_summary(store.db, NOW)
        timings.append(time.perf_counter() - started)
    assert len(summary.locks) == 1000 and summary.key_count == 10_000
    assert min(timings) < 0.1, f"one read took {min(timings) * 1000:.0f} ms at best"


def look_at(at: float, tmp_path: Path) -> Look:
    """A look of an empty fleet at `at`: all the TUI's buffer needs to read the coordination summary."""
    config = Config(path=tmp_path / "agentmux.toml", settings=Settings(socket="s", state_dir=tmp_path))
    return Look(at=at, config=config, config_change=None, statuses=(), panes=MappingProxyType({}),
                screens=MappingProxyType({}), changes=(), holding=False, dispatcher=None, queue=None)


def test_the_tuis_buffer_sends_a_summary_on_only_when_it_changed(store: Store, tmp_path: Path) -> None:
    """Read when another process wrote (the store's data_version) or a second passed (leases end); carried in
    UiUpdate.coord only when it shows something else."""
    news: list[bool] = []
    buffer = UiBuffer(store, clock=lambda: NOW, on_news=lambda: news.append(True))
    buffer.consume(look_at(NOW, tmp_path))
    first = buffer.take().coord
    assert first is not None and first.empty and news

    news.clear()
    buffer.consume(look_at(NOW + 0.3, tmp_path))
    assert buffer.take().coord is None and not news  # nothing changed, nothing said

    other = Store(store.path)  # another process's connection: `agentmux lock acquire`
    try:
        hold(other, "build", "ada", expires=NOW + 2.5, token=1)
    finally:
        other.close()
    buffer.consume(look_at(NOW + 0.4, tmp_path))
    taken = buffer.take().coord
    assert taken is not None and [lock.name for lock in taken.locks] == ["build"] and news

    buffer.consume(look_at(NOW + 1.5, tmp_path))  # read again (a second passed): the same, though less is left
    assert buffer.take().coord is None
    buffer.consume(look_at(NOW + 2.6, tmp_path))  # the lease ended: nobody wrote, the summary says so
    ended = buffer.take().coord
    assert ended is not None and ended.locks == () and buffer.coord == ended
