"""The store on real SQLite files: schema and migrations, state history, and many writers at once."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.errors import AgentmuxError
from agentmux.state import AgentState
from agentmux.store import MIGRATIONS, Store
from tests.conftest import ROOT, wait_until


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "fleet.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    opened = Store(store_path)
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file the way any other process would."""
    return sqlite3.connect(path, timeout=30)


# --- schema ----------------------------------------------------------------------------------------------


def test_schema_is_created_in_wal_mode_at_the_latest_version(store: Store, store_path: Path) -> None:
    assert store_path.is_file()
    with raw(store_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"agents", "state_changes", "events", "leases"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data_and_does_not_migrate_again(store_path: Path) -> None:
    first = Store(store_path)
    first.ensure_agent("a", "command", now=1.0)
    first.set_state("a", AgentState.IDLE, "ready", now=2.0)
    first.record_event("a", "start", "started", now=2.0)
    first.close()
    with raw(store_path) as db:
        schema_before = sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str)

    second = Store(store_path)
    try:
        assert second.schema_version == len(MIGRATIONS)
        record = second.agent("a")
        assert record is not None and record.state is AgentState.IDLE and record.reason == "ready"
        assert [change.state for change in second.state_history("a")] == [AgentState.IDLE]
        assert second.events("a") == [("a", 2.0, "start", "started")]
    finally:
        second.close()
    with raw(store_path) as db:
        schema_after = sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str)
    assert schema_after == schema_before


def test_a_store_from_a_newer_agentmux_is_refused_and_left_alone(store_path: Path) -> None:
    Store(store_path).close()
    newer = len(MIGRATIONS) + 5
    with raw(store_path) as db:
        db.execute(f"PRAGMA user_version = {newer}")
        db.execute("INSERT INTO events (agent, at, kind, message) VALUES ('a', 1, 'note', 'keep me')")

    with pytest.raises(AgentmuxError) as error:
        Store(store_path)

    message = str(error.value)
    assert str(store_path) in message
    assert "newer agentmux" in message and f"schema {newer}" in message and "upgrade" in message
    assert "\n" not in message
    with raw(store_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == newer
        assert db.execute("SELECT message FROM events").fetchall() == [("keep me",)]


def test_an_unwritable_place_gives_a_clear_agentmux_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(AgentmuxError, match="cannot open the store"):
        Store(blocker / "fleet.db")


def test_the_database_is_readable_only_by_its_owner(store: Store, store_path: Path) -> None:
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600


def test_wal_files_are_readable_only_by_their_owner_too(tmp_path: Path) -> None:
    """The -wal file holds the latest writes (the same data as the database), so it must be private too.

    The state folder already exists with ordinary permissions here, as a user-chosen state_dir may.
    """
    folder = tmp_path / "existing"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "fleet.db"
    store = Store(path)
    try:
        store.record_event("a", "note", "something private")
        for suffix in ("", "-wal", "-shm"):
            file = path.with_name(path.name + suffix)
            if file.exists():
                assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, f"{file.name} is readable by others"
    finally:
        store.close()


# --- states ----------------------------------------------------------------------------------------------


def test_set_state_records_history_only_when_the_state_changes(store: Store) -> None:
    created = store.ensure_agent("a", "command", now=1.0)
    assert created.state is AgentState.STOPPED
    assert store.state_history("a") == []

    assert store.set_state("a", AgentState.STOPPED, "not started", now=2.0) is False
    assert store.set_state("a", AgentState.BUSY, "working", now=3.0) is True
    assert store.set_state("a", AgentState.BUSY, "working", now=4.0) is False
    assert store.set_state("a", AgentState.BUSY, "still working", now=5.0) is False
    assert store.set_state("a", AgentState.IDLE, "done", now=6.0) is True

    history = store.state_history("a")
    assert [(c.state, c.reason, c.at) for c in history] == [
        (AgentState.BUSY, "working", 3.0),
        (AgentState.IDLE, "done", 6.0),
    ]
    record = store.agent("a")
    assert record is not None
    assert record.state is AgentState.IDLE and record.reason == "done" and record.state_since == 6.0


def test_a_reason_change_updates_the_reason_but_not_the_time_in_state(store: Store) -> None:
    store.ensure_agent("a", "command", now=1.0)
    store.set_state("a", AgentState.BUSY, "reading files", now=2.0)
    store.set_state("a", AgentState.BUSY, "running tests", now=9.0)
    record = store.agent("a")
    assert record is not None
    assert record.reason == "running tests"
    assert record.state_since == 2.0


def test_set_state_of_an_unknown_agent_changes_nothing(store: Store) -> None:
    assert store.set_state("ghost", AgentState.IDLE, "x") is False
    assert store.agent("ghost") is None
    assert store.state_history("ghost") == []


def test_set_state_keeps_the_exit_status(store: Store) -> None:
    store.ensure_agent("a", "command", now=1.0)
    assert store.set_state("a", AgentState.EXITED, "exited with status 3", now=2.0, exit_status=3) is True
    record = store.agent("a")
    assert record is not None and record.exit_status == 3 and record.state is AgentState.EXITED


def test_mark_started_sets_desired_running_and_state_starting(store: Store) -> None:
    store.ensure_agent("a", "command", now=1.0)
    store.set_state("a", AgentState.EXITED, "exited with status 1", now=2.0, exit_status=1)
    store.set_desired("a", "stopped", now=2.0)

    store.mark_started("a", "command", "a", "%7", 4242, now=5.0)

    record = store.agent("a")
    assert record is not None
    assert record.desired == "running"
    assert record.state is AgentState.STARTING
    assert (record.session, record.pane_id, record.pid) == ("a", "%7", 4242)
    assert record.started_at == 5.0 and record.state_since == 5.0
    assert record.stopped_at is None and record.exit_status is None
    assert store.state_history("a")[-1].state is AgentState.STARTING


def test_mark_started_creates_the_row_of_a_new_agent(store: Store) -> None:
    store.mark_started("fresh", "demo", "fresh", None, None, now=3.0)
    record = store.agent("fresh")
    assert record is not None
    assert record.kind == "demo" and record.desired == "running" and record.state is AgentState.STARTING
    assert [(c.state, c.at) for c in store.state_history("fresh")] == [(AgentState.STARTING, 3.0)]


# --- many processes at once ------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path
    from agentmux.state import AgentState
    from agentmux.store import Store

    path, name, ready, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    store = Store(path)
    store.ensure_agent(name, "command")
    ready.touch()
    while not go.exists():  # start together: poll for the parent's signal
        time.sleep(0.001)
    for i in range(200):
        store.set_state(name, AgentState.BUSY if i % 2 == 0 else AgentState.IDLE, f"step {i}")
        store.record_event(name, "note", f"{name} event {i}")
    store.close()
""")


@pytest.mark.parametrize("fresh", [True, False], ids=["new-file", "existing-file"])
def test_four_processes_writing_at_once_lose_nothing(store_path: Path, tmp_path: Path, fresh: bool) -> None:
    if not fresh:
        Store(store_path).close()
    go = tmp_path / "go"
    names = [f"w{n}" for n in range(4)]
    readies = {name: tmp_path / f"{name}.ready" for name in names}
    environ = {"PYTHONPATH": str(ROOT / "app"), "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store_path), name, str(readies[name]), str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)
        for name in names
    ]
    try:
        wait_until(lambda: all(r.exists() for r in readies.values()) or any(p.poll() is not None for p in processes),
                   timeout=60, message="every writer to open the store")
        go.touch()
        results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err

    store = Store(store_path)
    try:
        events = store.events()
        assert len(events) == 800
        for name in names:
            mine = [message for _, _, _, message in store.events(name)]
            assert mine == [f"{name} event {i}" for i in range(200)]
            assert len(store.state_history(name)) == 200
            record = store.agent(name)
            assert record is not None and record.state is AgentState.IDLE and record.reason == "step 199"
        assert store.schema_version == len(MIGRATIONS)
    finally:
        store.close()


def test_a_second_connection_in_one_process_keeps_every_process_writes(store_path: Path) -> None:
    """The TUI opens a store connection per action beside its long-lived one. Opening one must not release
    the long-lived connection's locks: another process closing the store then deleted the WAL under it,
    and the two processes stopped seeing each other's writes (tasks lost)."""
    long_lived = Store(store_path)
    try:
        long_lived.ensure_agent("tui", "command")
        Store(store_path).close()
        writer = textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from agentmux.store import Store
            store = Store(Path({str(store_path)!r}))
            store.ensure_agent("cli-" + sys.argv[1], "command")
            store.close()
        """)
        for number in range(5):
            subprocess.run([sys.executable, "-c", writer, str(number)], check=True, cwd=ROOT,
                           env={"PYTHONPATH": str(ROOT / "app"), "PATH": "/usr/bin:/bin"}, timeout=60)
            long_lived.ensure_agent(f"tui-{number}", "command")
        seen = subprocess.run(
            [sys.executable, "-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'SELECT count(*) FROM agents').fetchone()[0])", str(store_path)],
            capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        assert len(long_lived.agents()) == 11 and seen == "11"
    finally:
        long_lived.close()
