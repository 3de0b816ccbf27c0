"""`agentmux lock ...` as scripts use it: what it prints, its exit codes, and `lock run`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from agentmux.coord.locks import Locks
from tests.conftest import wait_until
from tests.coord.conftest import Coord


def test_acquire_prints_the_token_alone_on_stdout_and_the_rest_on_stderr(coord: Coord) -> None:
    got = coord.cli("lock", "acquire", "build", "--as", "alice", "--ttl", "30")
    assert got.returncode == 0 and got.stdout == "1\n"
    assert "holding lock build for alice (exclusive, token 1, lease 30 s)" in got.stderr
    refused = coord.cli("lock", "acquire", "build", "--as", "bob", "--timeout", "0")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "lock build is held by alice (exclusive, token 1, 30 s left)" in refused.stderr
    listed = json.loads(coord.cli("lock", "ls", "--json").stdout)
    assert [(lock["name"], [h["owner"] for h in lock["holders"]]) for lock in listed] == [("build", ["alice"])]
    table = coord.cli("lock", "ls").stdout
    assert "build" in table and "alice" in table and "exclusive" in table
    assert coord.cli("lock", "check", "build", "1").returncode == 0
    assert coord.cli("lock", "release", "build", "--as", "alice").stdout == "released lock build (token 1)\n"
    assert coord.cli("lock", "check", "build", "1").returncode == 1
    assert coord.cli("lock", "ls").stdout == "no locks held or waited for\n"


def test_a_waiting_acquire_says_so_once_and_gets_the_lock_when_it_is_released(coord: Coord) -> None:
    assert coord.cli("lock", "acquire", "build", "--as", "alice").returncode == 0
    waiter = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "lock",
                               "acquire", "build", "--as", "bob", "--json"], env=coord.env.environ, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    locks = Locks(coord.store, coord.state_dir)
    wait_until(lambda: any(w.owner == "bob" for info in locks.ls() for w in info.waiters), message="bob waits")
    assert coord.cli("lock", "release", "build", "--as", "alice").returncode == 0
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0 and json.loads(out)["owner"] == "bob"
    assert err.count("waiting for lock build (held by alice") == 1


def test_inside_an_agent_the_caller_is_its_agent(coord: Coord) -> None:
    coord.env.environ["AGENTMUX_AGENT"] = "builder"
    got = coord.cli("lock", "acquire", "build", "--json")
    assert json.loads(got.stdout)["owner"] == "builder"
    assert coord.cli("lock", "ls", "--mine", "--json").stdout.count('"builder"') == 1
    assert json.loads(coord.cli("lock", "ls", "--mine", "--as", "other", "--json").stdout) == []


def test_lock_run_holds_the_lock_while_the_command_runs_renewing_its_lease(coord: Coord) -> None:
    started = time.monotonic()
    ran = coord.cli("lock", "run", "build", "--as", "ci", "--ttl", "1", "--", sys.executable, "-c",
                    "import os, subprocess, sys, time; time.sleep(2.5); "
                    "print(os.environ['AGENTMUX_LOCK'], os.environ['AGENTMUX_LOCK_TOKEN']); "
                    "sys.exit(subprocess.run([sys.executable, '-m', 'agentmux', 'lock', 'check', 'build', "
                    "os.environ['AGENTMUX_LOCK_TOKEN']]).returncode + 3)")
    assert time.monotonic() - started > 2.5  # longer than the lease: it was renewed
    assert ran.returncode == 3, ran.stderr  # the command's own status (the token still held: check said 0)
    assert "build 1" in ran.stdout
    assert Locks(coord.store, coord.state_dir).ls() == []  # released after


def test_lock_run_stops_the_command_when_the_lock_is_lost(coord: Coord) -> None:
    runner = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "lock",
                               "run", "build", "--as", "ci", "--ttl", "1.5", "--", "sleep", "60"],
                              env=coord.env.environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    locks = Locks(coord.store, coord.state_dir)
    wait_until(lambda: locks.holders("build"), message="the lock held")
    with coord.store.transaction() as db:  # taken away (as if its lease had lapsed and another took it)
        db.execute("DELETE FROM coord_holds")
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 1
    assert "the lock was lost while the command ran" in err and "ci does not hold lock build" in err
