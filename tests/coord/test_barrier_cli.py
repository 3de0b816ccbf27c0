"""`agentmux barrier wait|ls` (cli/barrier.py): what it prints, its exit codes, and leaving on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from agentmux.coord.barriers import Barriers
from tests.conftest import assert_one_line, wait_until
from tests.coord.conftest import Coord

CLI = "from agentmux.cli import main\nsys.exit(main(sys.argv[1:]))"


def cli_waiter(coord: Coord, *args: str) -> subprocess.Popen[str]:
    """`agentmux barrier wait ARGS...` running in the background (the real command, in a process of its own)."""
    return coord.spawn(CLI, "--config", str(coord.env.config_path), "barrier", "wait", *args)


def arrivals(coord: Coord, name: str, count: int) -> bool:
    info = Barriers(coord.store, coord.state_dir).info(name)
    return info is not None and info.state == "open" and len(info.arrived) == count


def test_two_waiters_pass_and_say_where_they_arrived(coord: Coord) -> None:
    first = cli_waiter(coord, "build", "--parties", "2", "--as", "alice")
    wait_until(lambda: arrivals(coord, "build", 1), message="alice arrived")
    second = coord.cli("barrier", "wait", "build", "--parties", "2", "--as", "bob")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "passed barrier build (generation 1, you arrived 2nd of 2: alice, bob)\n"
    assert second.stderr == ""  # it did not have to wait
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert out == "passed barrier build (generation 1, you arrived 1st of 2: alice, bob)\n"
    assert err == "waiting at barrier build (1 of 2 arrived: alice)\n"  # once
    again = cli_waiter(coord, "build", "--parties", "2", "--as", "alice", "--json")
    wait_until(lambda: arrivals(coord, "build", 1), message="alice arrived again")
    mine = coord.cli("barrier", "wait", "build", "--parties", "2", "--as", "bob", "--json")
    assert mine.returncode == 0, mine.stderr
    passage = json.loads(mine.stdout)
    assert passage["waited"] < 5
    del passage["waited"]
    assert passage == {"name": "build", "generation": 2, "parties": 2, "arrived": ["alice", "bob"], "index": 1}
    out, _ = again.communicate(timeout=30)
    assert json.loads(out)["index"] == 0


def test_the_agent_is_the_caller_inside_an_agent(coord: Coord) -> None:
    env = dict(coord.env.environ, AGENTMUX_AGENT="worker")
    result = subprocess.run([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "barrier",
                             "wait", "one", "--parties", "1"],
                            capture_output=True, text=True, env=env, cwd=coord.env.root, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "passed barrier one (generation 1, you arrived 1st of 1: worker)\n"


def test_a_timeout_exits_1_and_the_others_are_told_it_broke(coord: Coord) -> None:
    other = cli_waiter(coord, "t", "--parties", "3", "--as", "b")
    wait_until(lambda: arrivals(coord, "t", 1), message="b arrived")
    started = time.monotonic()
    mine = coord.cli("barrier", "wait", "t", "--parties", "3", "--timeout", "0.5", "--as", "a")
    assert time.monotonic() - started < 5
    assert mine.returncode == 1
    assert mine.stdout == ""
    assert mine.stderr.splitlines() == [
        "waiting at barrier t (2 of 3 arrived: b, a)",
        "agentmux: barrier t: a timed out after 0.5 s (generation 1; 2 of 3 had arrived: b, a); the generation broke"]
    out, err = other.communicate(timeout=30)
    assert other.returncode == 1 and out == ""
    assert err.splitlines()[-1] == ("agentmux: barrier t broke: a timed out after 0.5 s (generation 1; 2 of 3 had "
                                    "arrived: b, a)")
    listed = coord.cli("barrier", "ls")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == [
        "NAME  GEN  PARTIES  STATE   ARRIVED  REASON",
        "t     1    3        broken  b, a     a timed out after 0.5 s"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_waiter_stopped_by_a_signal_breaks_the_barrier_at_once(coord: Coord, signum: int) -> None:
    a = cli_waiter(coord, "s", "--parties", "3", "--as", "a")
    wait_until(lambda: arrivals(coord, "s", 1), message="a arrived")
    b = cli_waiter(coord, "s", "--parties", "3", "--as", "b")
    wait_until(lambda: arrivals(coord, "s", 2), message="b arrived")
    sent = time.monotonic()
    a.send_signal(signum)
    _, err_b = b.communicate(timeout=30)
    took = time.monotonic() - sent
    _, err_a = a.communicate(timeout=30)
    print(f"\n{signal.Signals(signum).name} on a CLI waiter: the other exited {took * 1000:.0f} ms later")
    assert a.returncode == (130 if signum == signal.SIGINT else 128 + signum)
    assert "Traceback" not in err_a
    assert err_a.splitlines()[-1] == ("agentmux: interrupted" if signum == signal.SIGINT else
                                      "agentmux: left barrier s (SIGTERM)")
    assert b.returncode == 1
    assert err_b.splitlines()[-1] == "agentmux: barrier s broke: a left (generation 1; 2 of 3 had arrived: a, b)"
    assert took < 2.0  # at once: not the 5 s a silent death takes


def test_usage_errors_exit_2(coord: Coord) -> None:
    waiting = cli_waiter(coord, "m", "--parties", "3", "--as", "a")
    wait_until(lambda: arrivals(coord, "m", 1), message="a arrived")
    mismatch = coord.cli("barrier", "wait", "m", "--parties", "2", "--as", "b")
    assert mismatch.returncode == 2
    assert mismatch.stderr == "agentmux: barrier m has 3 parties (generation 1), not 2\n"
    for args, says in [
        (["--parties", "0", "--as", "b"], "--parties 0: a barrier has 1 to 1000 parties"),
        (["--parties", "1001", "--as", "b"], "1 to 1000 parties"),
        (["--parties", "x", "--as", "b"], "invalid int value"),
        (["--as", "b"], "--parties"),
        (["--parties", "2", "--timeout", "-1", "--as", "b"], "not a number of seconds"),
        (["--parties", "2"], "who is asking?"),
        (["--parties", "2", "--as", "no way"], "--as 'no way'"),
    ]:
        result = coord.cli("barrier", "wait", "m", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert_one_line(result.stderr)
        assert says in result.stderr, (args, result.stderr)
    bad = coord.cli("barrier", "wait", "no way", "--parties", "2", "--as", "b")
    assert bad.returncode == 2 and "barrier 'no way'" in bad.stderr
    assert coord.cli("barrier").returncode == 2
    assert arrivals(coord, "m", 1)  # the refused calls did not touch the barrier
    waiting.kill()


def test_ls_lists_open_and_ended_barriers(coord: Coord) -> None:
    empty = coord.cli("barrier", "ls")
    assert (empty.returncode, empty.stdout) == (0, "no barriers\n")
    assert coord.cli("barrier", "ls", "--json").stdout == "[]\n"
    assert coord.cli("barrier", "wait", "done", "--parties", "1", "--as", "a").returncode == 0
    waiting = cli_waiter(coord, "open", "--parties", "2", "--as", "b")
    wait_until(lambda: arrivals(coord, "open", 1), message="b arrived")
    listed = coord.cli("barrier", "ls")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "NAME  GEN  PARTIES  STATE   ARRIVED  REASON",
        "done  1    1        passed  a        -",
        "open  1    2        open    b        -"]
    rows = json.loads(coord.cli("barrier", "ls", "--json").stdout)
    assert [(r["name"], r["generation"], r["state"], r["arrived"], r["missing"]) for r in rows] == [
        ("done", 1, "passed", ["a"], 0), ("open", 1, "open", ["b"], 1)]
    waiting.kill()  # silently: ls, reaping first, shows it broken once its arrival lapsed
    waiting.communicate(timeout=30)
    wait_until(lambda: coord.store.db.execute("SELECT max(alive_until) FROM coord_arrivals WHERE name = 'open'"
                                              ).fetchone()[0] <= time.time(), timeout=15, message="b's arrival lapsed")
    last = coord.cli("barrier", "ls").stdout.splitlines()[-1]
    assert last.split()[:5] == ["open", "1", "2", "broken", "b"] and "b left (no sign of life for 5 s)" in last
