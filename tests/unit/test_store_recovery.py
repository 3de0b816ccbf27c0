"""A damaged store, for real: a store full of rows, then bytes overwritten in the middle of a table's pages or
in the header. Every command says so in one line naming `agentmux doctor --fix`; doctor reports it; the fix
keeps the damaged file as a backup and saves every row that can still be read, counting what could not.

No test here starts a tmux server: the commands used either fail at the store or only ask the test's private
socket whether a server runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from agentmux.queue import Queue
from agentmux.recovery import recover
from agentmux.store import MIGRATIONS, Store
from tests.conftest import Env, assert_one_line

TASKS = 400


def fill(path: Path) -> None:
    """A store with rows in every table that recovery copies: agents, their history, tasks with deps."""
    store = Store(path)
    try:
        store.ensure_agent("worker", "shell", now=1.0)
        store.mark_started("worker", "shell", "worker", "%1", 4242, now=2.0)
        store.record_event("worker", "start", "started", now=2.0)
        queue = Queue(store)
        for number in range(1, TASKS + 1):
            queue.add("worker", f"echo task {number} " + "x" * 120, now=float(number))
        queue.add("worker", "echo after the middle", after=[TASKS // 2], now=float(TASKS + 1))
        queue.pause("worker", now=9.0)
    finally:
        store.close()  # the last connection: the WAL is written into the file and removed


def varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for offset in range(9):
        byte = data[at + offset]
        if offset == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + offset + 1
    raise AssertionError("unreachable")


def leaves(path: Path, table: str) -> list[tuple[int, list[int]]]:
    """(page number, rowids on it) of every leaf of a table's b-tree, left to right, read from the file."""
    with sqlite3.connect(path) as db:
        root = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    db.close()
    data = path.read_bytes()
    size = struct.unpack(">H", data[16:18])[0]
    found: list[tuple[int, list[int]]] = []

    def walk(page: int) -> None:
        base = (page - 1) * size
        header = base + (100 if page == 1 else 0)
        cells = struct.unpack(">H", data[header + 3 : header + 5])[0]
        kind = data[header]
        pointers = header + (8 if kind == 0x0D else 12)
        offsets = [base + struct.unpack(">H", data[pointers + 2 * i : pointers + 2 * i + 2])[0] for i in range(cells)]
        if kind == 0x0D:
            rowids = []
            for offset in offsets:
                _, after = varint(data, offset)
                rowids.append(varint(data, after)[0])
            found.append((page, rowids))
            return
        assert kind == 0x05, f"page {page} is not a table b-tree page"
        for offset in offsets:
            walk(struct.unpack(">I", data[offset : offset + 4])[0])
        walk(struct.unpack(">I", data[header + 8 : header + 12])[0])

    walk(root)
    return found


def overwrite(path: Path, at: int, garbage: bytes) -> None:
    with path.open("r+b") as handle:
        handle.seek(at)
        handle.write(garbage)


def damage_a_tasks_page(path: Path) -> list[int]:
    """Overwrite the leaf of the tasks table holding the middle task; the ids it held."""
    size = struct.unpack(">H", path.read_bytes()[16:18])[0]
    page, rowids = next((page, ids) for page, ids in leaves(path, "tasks") if TASKS // 2 in ids)
    overwrite(path, (page - 1) * size, b"\xa5" * size)
    return rowids


@pytest.fixture
def damaged(env: Env) -> tuple[Env, Path, list[int]]:
    env.write_config('[[agents]]\nname = "worker"\nkind = "shell"\n')
    path = env.load().store_path
    fill(path)
    return env, path, damage_a_tasks_page(path)


def backups(path: Path) -> list[Path]:
    """The backups of damaged stores (without their -wal and -shm)."""
    return sorted(p for p in path.parent.glob(f"{path.name}.damaged-*") if not p.name.endswith(("-wal", "-shm")))


def test_a_damaged_page_makes_commands_that_read_it_say_so_in_one_line_naming_the_fix(
        damaged: tuple[Env, Path, list[int]]) -> None:
    env, path, lost = damaged
    for args in (("queue", "ls"), ("queue", "show", str(lost[0])), ("queue", "ls", "--json")):
        result = env.cli(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert_one_line(result.stderr)
        assert str(path) in result.stderr and "damaged" in result.stderr, result.stderr
        assert "`agentmux doctor --fix`" in result.stderr, result.stderr
    env.assert_no_tmux_server()


def test_doctor_reports_the_damage_and_the_fix_and_changes_nothing_without_fix(
        damaged: tuple[Env, Path, list[int]]) -> None:
    env, path, _ = damaged
    before = path.read_bytes()
    result = env.cli("doctor")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAIL") and "store" in line)
    assert "damaged" in lines[failed] and "malformed" in lines[failed], lines[failed]
    assert "fix: `agentmux doctor --fix`" in lines[failed + 1] and "backup" in lines[failed + 1]
    assert "writable" not in result.stdout
    assert path.read_bytes() == before
    assert backups(path) == []


def test_doctor_fix_keeps_a_backup_and_saves_every_readable_row(damaged: tuple[Env, Path, list[int]]) -> None:
    env, path, lost = damaged
    original = path.read_bytes()
    result = env.cli("doctor", "--fix")
    assert "Traceback" not in result.stderr, result.stderr
    out = result.stdout
    assert f"tasks: {TASKS + 1 - len(lost)} rows saved, {len(lost)} could not be read" in out, out
    for table in ("agents: 1 rows saved", "events: 1 rows saved", "queue_paused: 1 rows saved",
                  "task_deps: 1 rows saved"):
        assert table in out, out
    [backup] = backups(path)
    assert f"kept as {backup}" in out
    assert backup.read_bytes() == original, "the backup is the damaged file as it was"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == [], "no leftovers"

    again = env.cli("doctor")
    assert not [line for line in again.stdout.splitlines() if line.startswith("FAIL") and "store" in line], again.stdout

    listed = env.cli("queue", "ls", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = {task["id"] for task in json.loads(listed.stdout)}
    assert ids == set(range(1, TASKS + 2)) - set(lost)
    waiting = json.loads(env.cli("queue", "show", str(TASKS + 1), "--json").stdout)
    assert waiting["state"] == "skipped" and f"task {TASKS // 2}" in waiting["reason"], waiting

    added = env.cli("queue", "add", "worker", "echo new")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"task {TASKS + 2} "), "a new task never takes the id of one that was lost"
    env.assert_no_tmux_server()


GARBAGE_HEADER = b"this is not the header of any database at all; " * 3


@pytest.mark.parametrize("args", [("ls",), ("up", "worker"), ("down",), ("send", "worker", "hi"),
                                  ("queue", "ls"), ("queue", "add", "worker", "x"), ("restart", "worker"),
                                  ("rm", "worker")], ids=lambda args: "-".join(args))
def test_a_garbage_header_makes_every_command_say_so_in_one_line(env: Env, args: tuple[str, ...]) -> None:
    config = env.write_config('[[agents]]\nname = "worker"\nkind = "shell"\n')
    before = config.read_text()
    path = env.load().store_path
    fill(path)
    overwrite(path, 0, GARBAGE_HEADER[:100])
    result = env.cli(*args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert "not a database" in result.stderr and "`agentmux doctor --fix`" in result.stderr, result.stderr
    assert config.read_text() == before
    env.assert_no_tmux_server()


def test_doctor_fix_reads_a_store_whose_header_is_garbage(env: Env) -> None:
    env.write_config('[[agents]]\nname = "worker"\nkind = "shell"\n')
    path = env.load().store_path
    fill(path)
    overwrite(path, 0, GARBAGE_HEADER[:100])
    report = env.cli("doctor")
    assert report.returncode == 1
    assert any(line.startswith("FAIL") and "not a database" in line for line in report.stdout.splitlines())

    fixed = env.cli("doctor", "--fix")
    assert "header" in fixed.stdout and f"tasks: {TASKS + 1} rows saved\n" in fixed.stdout, fixed.stdout
    assert len(backups(path)) == 1
    listed = env.cli("queue", "ls", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == TASKS + 1


def test_damaged_indexes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    fill(path)
    with sqlite3.connect(path) as db:
        roots = [row[0] for row in db.execute("SELECT rootpage FROM sqlite_schema WHERE name LIKE 'tasks_%'")]
    db.close()
    size = struct.unpack(">H", path.read_bytes()[16:18])[0]
    for root in roots:
        overwrite(path, (root - 1) * size, b"\x00" * size)
    store = Store(path)
    assert store.damage() is not None
    store.close()

    recovery = recover(path)
    tasks = next(t for t in recovery.tables if t.table == "tasks")
    assert (tasks.saved, tasks.lost) == (TASKS + 1, 0)
    store = Store(path)
    assert store.damage() is None
    store.close()


def test_without_a_readable_index_the_loss_is_estimated_from_the_ids(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    fill(path)
    with sqlite3.connect(path) as db:
        roots = [row[0] for row in db.execute("SELECT rootpage FROM sqlite_schema WHERE name LIKE 'tasks_%'")]
    db.close()
    size = struct.unpack(">H", path.read_bytes()[16:18])[0]
    for root in roots:
        overwrite(path, (root - 1) * size, b"\x00" * size)
    lost = damage_a_tasks_page(path)
    tasks = next(t for t in recover(path).tables if t.table == "tasks")
    assert (tasks.saved, tasks.lost, tasks.counted) == (TASKS + 1 - len(lost), len(lost), False)
    assert "about" in tasks.describe()


def test_the_first_and_last_pages_of_a_table_can_be_lost_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    fill(path)
    size = struct.unpack(">H", path.read_bytes()[16:18])[0]
    pages = leaves(path, "tasks")
    (first, first_ids), (last, last_ids) = pages[0], pages[-1]
    overwrite(path, (first - 1) * size, b"\xff" * size)
    overwrite(path, (last - 1) * size, b"\xff" * size)
    tasks = next(t for t in recover(path).tables if t.table == "tasks")
    assert (tasks.saved, tasks.lost) == (TASKS + 1 - len(first_ids) - len(last_ids), len(first_ids) + len(last_ids))


def test_a_file_of_garbage_still_gets_a_new_store_and_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(os.urandom(64 * 1024))
    recovery = recover(path)
    assert all(t.saved == 0 for t in recovery.tables)
    assert recovery.backup.stat().st_size == 64 * 1024
    store = Store(path)
    assert store.damage() is None and store.schema_version == len(MIGRATIONS)
    store.close()


def test_recovery_is_refused_while_another_process_has_the_store_open(damaged: tuple[Env, Path, list[int]]) -> None:
    env, path, _ = damaged
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = env.cli("doctor", "--fix")
        assert f"not fixed: pid {holder.pid}" in result.stdout and "has the store" in result.stdout, result.stdout
        assert result.returncode == 1
        assert backups(path) == []
    finally:
        holder.communicate("")


def test_recovery_is_refused_while_a_live_supervisor_holds_the_lease(damaged: tuple[Env, Path, list[int]]) -> None:
    env, path, _ = damaged
    with sqlite3.connect(path) as db:  # the leases table is on its own page, still readable
        db.execute("INSERT INTO leases (name, holder, expires_at) VALUES ('supervisor', "
                   "'serve pid 1 on elsewhere (abc)', 4e9)")
    db.close()
    result = env.cli("doctor", "--fix")
    assert "not fixed: serve pid 1 on elsewhere (abc) holds the supervisor lease" in result.stdout, result.stdout
    assert backups(path) == []


def test_a_store_from_a_newer_agentmux_is_not_damaged_and_never_fixed(env: Env) -> None:
    env.write_config()
    path = env.load().store_path
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    before = path.read_bytes()
    result = env.cli("doctor", "--fix")
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "newer agentmux" in line and "upgrade agentmux" in line
    assert "--fix" not in result.stdout and "fixed:" not in result.stdout
    assert path.read_bytes() == before and backups(path) == []


def test_store_recovery_waits_for_agentmuxs_own_supervisor_session_only(env: Env) -> None:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "exec sleep 300"\n')
    path = env.load().store_path
    fill(path)
    damage_a_tasks_page(path)
    assert env.tmux("new-session", "-d", "-s", "_agentmux-serve", "sleep 300").returncode == 0
    assert env.tmux("set-option", "-t", "=_agentmux-serve:", "@agentmux_serve", "1").returncode == 0

    refused = env.cli("doctor", "--fix")
    assert "not fixed: `agentmux serve` runs in tmux session _agentmux-serve" in refused.stdout, refused.stdout
    assert backups(path) == []

    assert env.tmux("set-option", "-u", "-t", "=_agentmux-serve:", "@agentmux_serve").returncode == 0
    fixed = env.cli("doctor", "--fix")
    assert "fixed: the damaged store is kept as" in fixed.stdout, fixed.stdout
    assert len(backups(path)) == 1


def test_the_ledgers_rollups_keep_what_lost_ledger_rows_cost(tmp_path: Path) -> None:
    """The trigger rebuilds the rollups from the rescued ledger; what only the old rollups still knew (the cost
    of ledger rows on a lost page) is merged in, never added twice: a budget still sees all that was spent."""
    from agentmux.api.ledger import Ledger
    from agentmux.api.summary import Totals, read_usage

    path = tmp_path / "s.db"
    store = Store(path)
    book = Ledger(store)
    now = 1_800_000_000.0
    for number in range(600):  # two agents over three days: many pages of the ledger
        book.record(agent=("ada", "bob")[number % 2], key="default", model="claude-sonnet-4-5", input=1000,
                    output=100, latency=0.5, status=200 if number % 7 else 529, at=now - 86400 * (number % 3))
    before = read_usage(store.db, now)
    spent = {agent: book.spent(agent) for agent in ("ada", "bob")}
    store.close()
    size = struct.unpack(">H", path.read_bytes()[16:18])[0]
    page, lost = leaves(path, "api_usage")[1]
    overwrite(path, (page - 1) * size, b"\xa5" * size)

    recovery = recover(path)
    usage = next(t for t in recovery.tables if t.table == "api_usage")
    assert usage.saved == 600 - len(lost) and lost
    store = Store(path)
    after = read_usage(store.db, now)
    def rounded(rows: tuple[tuple[str, str, tuple[Totals, ...]], ...]) -> list[object]:  # costs: sums of floats
        return [(agent, model, [dataclasses.replace(t, cost=round(t.cost, 9)) for t in periods])
                for agent, model, periods in rows]

    assert rounded(after.rows) == rounded(before.rows)  # every period as before the damage: not less, not twice
    assert {agent: Ledger(store).spent(agent) for agent in ("ada", "bob")} == pytest.approx(spent)
    assert store.db.execute("SELECT count(*) FROM api_usage").fetchone()[0] == 600 - len(lost)
    Ledger(store).record(agent="ada", key="default", model="claude-sonnet-4-5", input=1, at=now)  # trigger intact
    assert read_usage(store.db, now).of("ada")[2].requests == before.of("ada")[2].requests + 1
    store.close()
