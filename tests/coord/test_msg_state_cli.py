"""`agentmux msg ...` and `agentmux state ...` through the real command: outputs, exit codes (0 got it, 1 none or
refused, 2 usage), standard input, bad JSON and bad keys, a watch from a revision, resync, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from agentmux.coord.kv import TOPIC, SharedState
from agentmux.coord.messages import Messages
from agentmux.topics import topics_dir
from tests.conftest import assert_one_line, wait_until
from tests.coord.conftest import Coord
from tests.coord.test_kv import watchers

AGENTS = "".join(f'[[agents]]\nname = "{name}"\ncommand = "sh"\n' for name in ("a", "b", "c"))


def fleet(coord: Coord) -> None:
    coord.env.write_config(AGENTS)


def test_msg_send_recv_ls(coord: Coord) -> None:
    fleet(coord)
    sent = coord.cli("msg", "send", "b,c", "hello there", "--as", "a")
    assert (sent.returncode, sent.stdout, sent.stderr) == (0, "sent message 1 to b, c (thread 1)\n", "")
    reply = coord.cli("msg", "send", "a", "-", "--thread", "1", "--importance", "urgent", "--as", "b",
                      input="line one\nline two\n")
    assert reply.returncode == 0 and reply.stdout == "sent message 2 to a (thread 1)\n"
    everyone = coord.cli("msg", "send", "all", "standup", "--as", "c", "--json")
    assert everyone.returncode == 0
    assert json.loads(everyone.stdout)["recipients"] == ["a", "b"]

    listed = coord.cli("msg", "ls", "--as", "a")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "SENT", "FROM", "TO", "THREAD", "IMPORTANCE", "READ", "BODY"]
    assert "line one\\nline two" in lines[1] and "unread" in lines[1] and "urgent" in lines[1]
    assert "standup" in lines[2] and len(lines) == 3

    got = coord.cli("msg", "recv", "--as", "a")
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("message 2 at ")
    assert " from b to a (thread 1, urgent)\nline one\nline two\n\nmessage 3 at " in got.stdout
    assert got.stdout.endswith(" from c to a, b (thread 3, normal)\nstandup\n")
    none = coord.cli("msg", "recv", "--as", "a")
    assert (none.returncode, none.stdout, none.stderr) == (1, "", "agentmux: no unread messages for a\n")
    waited = coord.cli("msg", "recv", "--as", "a", "--wait", "0.3", "--json")
    assert (waited.returncode, json.loads(waited.stdout)) == (1, [])
    assert waited.stderr == "agentmux: no message for a within 0.3 s\n"

    read = coord.cli("msg", "ls", "--as", "a", "--json")
    assert [(m["id"], m["read_at"] is not None) for m in json.loads(read.stdout)] == [(2, True), (3, True)]
    unread = coord.cli("msg", "ls", "--as", "b", "--unread", "--json")
    assert [m["id"] for m in json.loads(unread.stdout)] == [1, 3]
    assert [m["id"] for m in json.loads(coord.cli("msg", "ls", "--as", "b", "--json").stdout)] == [1, 3]
    everything = coord.cli("msg", "ls", "--all")
    assert everything.returncode == 0 and len(everything.stdout.splitlines()) == 4
    assert "READ" not in everything.stdout.split()
    thread = coord.cli("msg", "recv", "--as", "b", "--thread", "3", "--json")
    assert [m["body"] for m in json.loads(thread.stdout)] == ["standup"]
    limited = coord.cli("msg", "recv", "--as", "c", "--limit", "1", "--json")
    assert [m["id"] for m in json.loads(limited.stdout)] == [1]
    nothing = coord.cli("msg", "ls", "--as", "c", "--unread")
    assert (nothing.returncode, nothing.stdout) == (0, "no unread messages for c\n")


def test_msg_refusals(coord: Coord) -> None:
    fleet(coord)
    for args, words in ((("send", "zed", "hi", "--as", "a"), "no agent named 'zed'"),
                        (("send", "b", "", "--as", "a"), "empty"),
                        (("send", "b", "hi"), "who is asking"),
                        (("send", "b", "hi", "--as", "a", "--importance", "huge"), "invalid choice"),
                        (("send", "b", "hi", "--as", "a", "--ttl", "soon"), "seconds"),
                        (("send", ",", "hi", "--as", "a"), "nobody to send to"),
                        (("recv",), "who is asking"),
                        (("recv", "--as", "a", "--limit", "0"), "--limit"),
                        (("ls",), "who is asking"),
                        (("nope",), "invalid choice")):
        result = coord.cli("msg", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert_one_line(result.stderr)
    assert Messages(coord.store, coord.state_dir).ls() == []
    coord.env.write_config()
    empty = coord.cli("msg", "send", "all", "hi", "--as", "a")
    assert empty.returncode == 2 and "has no agents" in empty.stderr


def test_msg_recv_wait_is_woken_by_a_send(coord: Coord) -> None:
    fleet(coord)
    folder = topics_dir(coord.state_dir)
    before = set(folder.glob("*")) if folder.is_dir() else set()
    waiter = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "msg",
                               "recv", "--wait", "--as", "b", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=coord.env.environ, cwd=coord.env.root)
    coord.children.append(waiter)
    wait_until(lambda: folder.is_dir() and set(folder.glob("*")) - before, timeout=30, message="recv waits")
    assert coord.cli("msg", "send", "b", "wake up", "--as", "a").returncode == 0
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert [m["body"] for m in json.loads(out)] == ["wake up"]


def test_state_commands(coord: Coord) -> None:
    cli = coord.cli
    assert (cli("state", "set", "n", "42", "--as", "a").stdout) == "set n (version 1, revision 1)\n"
    assert cli("state", "set", "n", "43", "--as", "b").stdout == "set n (version 2, revision 2)\n"
    assert cli("state", "set", "obj", '{"a": [1, null]}', "--as", "a").returncode == 0
    assert cli("state", "set", "text", "hello world", "--as", "a").returncode == 0  # not JSON: a string
    assert cli("state", "set", "quoted", '"42"', "--as", "a").returncode == 0
    assert cli("state", "set", "nan", "NaN", "--as", "a").returncode == 0  # not JSON either
    assert cli("state", "set", "raw", "[1, 2", "--as", "a", "--string").returncode == 0
    piped = cli("state", "set", "piped", "-", "--as", "a", input='{"from": "stdin"}\n')
    assert piped.returncode == 0 and piped.stdout == "set piped (version 1, revision 8)\n"
    assert cli("state", "set", "piped-text", "-", "--as", "a", "--string", input="two\nlines\n").returncode == 0

    def get(key: str) -> object:
        result = cli("state", "get", key)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert [get(k) for k in ("n", "obj", "text", "quoted", "nan", "raw", "piped", "piped-text")] == [
        43, {"a": [1, None]}, "hello world", "42", "NaN", "[1, 2", {"from": "stdin"}, "two\nlines\n"]
    assert cli("state", "get", "text").stdout == '"hello world"\n'
    entry = json.loads(cli("state", "get", "n", "--json").stdout)
    assert {k: entry[k] for k in ("key", "value", "version", "created_rev", "mod_rev", "updated_by")} == {
        "key": "n", "value": 43, "version": 2, "created_rev": 1, "mod_rev": 2, "updated_by": "b"}
    missing = cli("state", "get", "nope")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "agentmux: no key nope\n")

    swapped = cli("state", "cas", "n", "2", "44", "--as", "a")
    assert (swapped.returncode, swapped.stdout) == (0, "set n (version 3, revision 10)\n")
    lost = cli("state", "cas", "n", "2", "45", "--as", "b")
    assert lost.returncode == 1
    assert lost.stderr == "agentmux: state n: not swapped, it is at version 3, not version 2\n"
    assert cli("state", "cas", "fresh", "0", "true", "--as", "a").returncode == 0
    assert cli("state", "cas", "fresh", "0", "true", "--as", "a").returncode == 1
    absent = cli("state", "cas", "ghost", "1", "1", "--as", "a")
    assert absent.returncode == 1 and "absent (version 0)" in absent.stderr

    listed = cli("state", "ls")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["KEY", "VERSION", "REV", "UPDATED", "BY", "VALUE"]
    assert lines[-1] == "(revision 11)"
    assert [line.split()[0] for line in lines[1:-1]] == ["fresh", "n", "nan", "obj", "piped", "piped-text", "quoted",
                                                         "raw", "text"]
    assert lines[2].split()[:3] == ["n", "3", "10"] and lines[2].endswith("44")
    assert lines[4].endswith('{"a": [1, null]}')
    prefixed = json.loads(cli("state", "ls", "pi", "--json").stdout)
    assert [e["key"] for e in prefixed] == ["piped", "piped-text"]
    assert cli("state", "ls", "zz").stdout == "no keys under zz (revision 11)\n"

    gone = cli("state", "del", "n", "--as", "a")
    assert (gone.returncode, gone.stdout) == (0, "deleted n (it was at version 3)\n")
    again = cli("state", "del", "n", "--as", "a")
    assert (again.returncode, again.stderr) == (1, "agentmux: no key n\n")
    assert cli("state", "set", "n", "1", "--as", "a").stdout == "set n (version 1, revision 13)\n"


def test_state_refusals(coord: Coord) -> None:
    long_key = "k" * 513
    for args, words in ((("set", "k", '{"a": ', "--as", "a"), "not valid JSON"),
                        (("set", "k", "[1, 2", "--as", "a"), "not valid JSON"),
                        (("set", "", "1", "--as", "a"), "a key is not empty"),
                        (("set", long_key, "1", "--as", "a"), "at most 512"),
                        (("set", "two\nlines", "1", "--as", "a"), "no control characters"),
                        (("get", "bell\x07"), "no control characters"),
                        (("set", "k", "1"), "who is asking"),
                        (("del", "k"), "who is asking"),
                        (("cas", "k", "one", "1", "--as", "a"), "invalid int"),
                        (("cas", "k", "-1", "1", "--as", "a"), "versions start at 1"),
                        (("watch", "--from", "-1"), "revisions start at 0"),
                        (("watch", "--timeout", "x"), "seconds")):
        result = coord.cli("state", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert_one_line(result.stderr)
    assert SharedState(coord.store, coord.state_dir).revision() == 0
    # reads need no caller
    assert coord.cli("state", "ls").returncode == 0
    assert coord.cli("state", "watch", "--timeout", "0").returncode == 0


def test_state_watch_from_a_revision(coord: Coord) -> None:
    state = SharedState(coord.store, coord.state_dir)
    for index in range(5):
        state.set(f"job/{index}", {"n": index}, "a")
        state.set("other", index, "a")
    watcher = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "state",
                                "watch", "job/", "--from", "4", "--timeout", "30"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=coord.env.environ, cwd=coord.env.root)
    coord.children.append(watcher)
    assert watcher.stdout is not None
    early = [json.loads(watcher.stdout.readline()) for _ in range(3)]  # made before it started, flushed at once
    assert [(c["rev"], c["key"], c["value"]) for c in early] == [(5, "job/2", {"n": 2}), (7, "job/3", {"n": 3}),
                                                                  (9, "job/4", {"n": 4})]
    wait_until(lambda: watchers(coord.state_dir), timeout=30, message="the watch waits")
    assert coord.cli("state", "del", "job/0", "--as", "b").returncode == 0
    assert coord.cli("state", "set", "other", "x", "--as", "b").returncode == 0
    assert coord.cli("state", "set", "job/9", "[]", "--as", "b").returncode == 0
    later = [json.loads(watcher.stdout.readline()) for _ in range(2)]
    assert [(c["rev"], c["key"], c["op"], c["version"], c["by"]) for c in later] == [
        (11, "job/0", "del", 0, "b"), (13, "job/9", "set", 1, "b")]
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=30)
    assert (watcher.returncode, out, err) == (130, "", "")  # Ctrl-C: quietly


def test_state_watch_timeout_and_resync(coord: Coord) -> None:
    started = time.monotonic()
    quiet = coord.cli("state", "watch", "--timeout", "0.3")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert time.monotonic() - started >= 0.3
    small = SharedState(coord.store, coord.state_dir, keep=3)
    for index in range(10):
        small.set("k", index, "a")
    told = coord.cli("state", "watch", "--from", "2", "--timeout", "5")
    assert (told.returncode, told.stdout) == (1, "")
    assert told.stderr == ("agentmux: resync: changes before revision 8 were compacted; read the keys again "
                           "(state ls) and watch from revision 10\n")
    fine = coord.cli("state", "watch", "--from", "7", "--timeout", "0")
    assert fine.returncode == 0
    assert [json.loads(line)["rev"] for line in fine.stdout.splitlines()] == [8, 9, 10]
    assert TOPIC == "state"
