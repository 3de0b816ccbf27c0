"""`agentmux queue ...` as a user types it: real processes on a real store; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import Env

CONFIG = '''
[[agents]]
name = "builder"
command = "exec sleep 600"

[[agents]]
name = "demo"
kind = "demo"

[[agents]]
name = "deployer"
command = "exec sleep 600"
'''


def test_queue_commands(env: Env) -> None:
    env.write_config(CONFIG)
    first = env.cli("queue", "add", "builder", "make all", "--priority", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "task 1 for builder: ready"
    second = env.cli("queue", "add", "deployer", "-", "--after", "1", "--when", "success",
                     "--if-output", "^ok$", "--retries", "2", input="ship it\n")
    assert second.stdout.strip() == "task 2 for deployer: queued after 1 (success)"
    listing = json.loads(env.cli("queue", "ls", "--json").stdout)
    assert [(t["id"], t["agent"], t["state"], t["after"]) for t in listing] == [
        (1, "builder", "ready", []), (2, "deployer", "queued", [1])]
    # Enter follows every task: a final newline from standard input is not a second one
    assert listing[1]["text"] == "ship it" and listing[1]["retries"] == 2
    table = env.cli("queue", "ls", "deployer").stdout
    assert "ID" in table and "ship it" in table and "builder" not in table
    cycle = env.cli("queue", "after", "1", "2")
    assert cycle.returncode == 1 and "cycle (1 → 2 → 1)" in cycle.stderr and len(cycle.stderr.splitlines()) == 1
    assert env.cli("queue", "pause", "builder").returncode == 0
    assert "(queue paused)" in env.cli("queue", "ls", "builder").stdout
    assert env.cli("queue", "resume", "builder").returncode == 0
    cancelled = env.cli("queue", "cancel", "1")
    assert cancelled.stdout.strip() == "task 1 for builder: cancelled"
    shown = env.cli("queue", "show", "2")
    assert "skipped" in shown.stdout and "task 1 cancelled" in shown.stdout
    assert env.cli("queue", "retry", "1").stdout.strip() == "task 1 for builder: ready"
    # skipped because task 1 was cancelled: it waits for task 1's new outcome
    assert json.loads(env.cli("queue", "show", "2", "--json").stdout)["state"] == "queued"
    assert "waiting again: task 1 was retried" in env.cli("queue", "show", "2").stdout


def test_queue_errors_are_one_line(env: Env) -> None:
    env.write_config(CONFIG)
    for args, code, fragment in [
        (("queue", "add", "nobody", "x"), 2, "no agent named 'nobody'"),
        (("queue", "add", "builder", "x", "--after", "9"), 1, "--after 9: no such task"),
        (("queue", "add", "builder", "x", "--if-output", "("), 2, "not a valid regular expression"),
        (("queue", "add", "builder", "x", "--when", "later"), 2, "invalid choice"),
        (("queue", "show", "7"), 1, "no task 7"),
        (("queue", "cancel", "x"), 2, "invalid int value"),
        (("queue",), 2, "required"),
        (("queue", "show", "99999999999999999999"), 1, "no task 99999999999999999999"),
        (("queue", "add", "builder", "x", "--after", "99999999999999999999"), 1, "no such task"),
        (("queue", "add", "builder", "x", "--priority", "99999999999999999999"), 2, "priority must be between"),
        (("queue", "add", "builder", "x", "--timeout", "inf"), 2, "--timeout must be a number of seconds"),
        (("queue", "add", "builder", "x", "--retries", "100000"), 2, "--retries must be between 0 and 1000"),
        (("queue", "add", "demo", "one\ntwo"), 2, "a demo agent reads one line per task"),
    ]:
        result = env.cli(*args)
        assert result.returncode == code, (args, result.stderr)
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_queue_ls_and_show_print_a_task_text_escaped(env: Env) -> None:
    env.write_config('[[agents]]\nname = "sh"\nkind = "shell"\n')
    assert env.cli("queue", "add", "sh", "echo a\x1b]2;PWNED\x07b").returncode == 0
    for args in (("queue", "ls"), ("queue", "show", "1")):
        out = env.cli(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\\x1b]2;PWNED\\x07" in out, (args, out)


def test_config_may_come_after_the_command_and_queue_add_prints_json(env: Env) -> None:
    """`agentmux ls --config F` was refused; a script had to scrape "task 12 for q1: ready" for the id."""
    env.write_config(CONFIG)
    direct = subprocess.run([sys.executable, "-m", "agentmux", "queue", "add", "builder", "make", "--json",
                             "--config", str(env.config_path)], capture_output=True, text=True, env=env.environ)
    assert direct.returncode == 0, direct.stderr
    task = json.loads(direct.stdout)
    assert (task["agent"], task["text"], task["state"]) == ("builder", "make", "ready") and task["id"] >= 1
    listing = subprocess.run([sys.executable, "-m", "agentmux", "ls", "--config", str(env.config_path)],
                             capture_output=True, text=True, env=env.environ)
    assert listing.returncode == 0 and "builder" in listing.stdout
