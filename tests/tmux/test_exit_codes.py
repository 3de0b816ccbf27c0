"""The exit-code rule (README, CLI) for every command: 2 when the command line or the config file is wrong
as written, 1 when the operation was tried and failed or the fleet as it is refuses it; one line, never a
traceback."""

from __future__ import annotations

from tests.conftest import Env, wait_until

AGENTS = '''
[[agents]]
name = "runner"
kind = "demo"
command = "--speed 0"

[[agents]]
name = "idle"
command = "exec sleep 600"
autostart = false

[[agents]]
name = "secretive"
command = "exec sleep 600"
secrets = { T = "env:NOT_SET_ANYWHERE" }
autostart = false
'''

CASES = [
    # (command line, exit code, what the one line says)
    (("init", "--bogus"), 2, "unrecognized arguments"),
    (("init",), 1, "already exists (use --force"),
    (("up", "nobody"), 2, "no agent named 'nobody'"),
    (("up", "secretive"), 1, "NOT_SET_ANYWHERE is not set"),
    (("down", "nobody"), 2, "no agent named 'nobody'"),
    (("restart", "nobody"), 2, "no agent named 'nobody'"),
    (("restart", "secretive"), 1, "NOT_SET_ANYWHERE is not set"),
    (("add", "runner", "--kind", "demo"), 2, "already exists"),
    (("add", "new", "--kind", "nope"), 2, "unknown kind"),
    (("add", "new", "--env", "NOEQUALS"), 2, "write KEY=VALUE"),
    (("add", "bad name", "--command", "x"), 2, "is not a valid name"),
    (("rm", "nobody"), 2, "no agent named 'nobody'"),
    (("ls", "--bogus"), 2, "unrecognized arguments"),
    (("send", "nobody", "hi"), 2, "no agent named 'nobody'"),
    (("send", "idle", "hi"), 1, "idle is not running"),
    (("send", "runner", "a\x03b"), 2, "control character"),
    (("send", "runner"), 2, "send needs NAME and TEXT"),
    (("attach", "nobody"), 2, "no agent named 'nobody'"),
    (("attach", "idle"), 1, "has no tmux session"),
    (("serve", "--interval", "0"), 2, "--interval must be"),
    (("doctor", "--bogus"), 2, "unrecognized arguments"),
    (("queue", "add", "nobody", "x"), 2, "no agent named 'nobody'"),
    (("queue", "add", "runner", "x", "--priority", "99999999999"), 2, "priority must be between"),
    (("queue", "add", "runner", "x", "--timeout", "inf"), 2, "--timeout must be"),
    (("queue", "add", "runner", "x", "--timeout", "1e300"), 2, "at most 604,800 (a week)"),
    (("add", "new", "--command", "x", "--cwd", ""), 2, "--cwd is empty"),
    (("queue", "add", "runner", "x", "--retries", "100000"), 2, "--retries must be between"),
    (("queue", "add", "runner", "x", "--if-output", "(a)\\1"), 2, "not a valid regular expression"),
    (("queue", "add", "runner", "  "), 2, "the task's text is empty"),
    (("queue", "add", "runner", "x", "--after", "99"), 1, "--after 99: no such task"),
    (("queue", "ls", "nobody"), 2, "no agent named 'nobody'"),
    (("queue", "show", "99"), 1, "no task 99"),
    (("queue", "show", "x"), 2, "invalid int value"),
    (("queue", "cancel", "99"), 1, "no task 99"),
    (("queue", "retry", "1"), 1, "only a failed, cancelled or skipped task"),
    (("queue", "prio", "1", "99999999999"), 2, "priority must be between"),
    (("queue", "after", "1", "1"), 1, "would be a cycle"),
    (("queue", "pause", "nobody"), 2, "no agent named 'nobody'"),
    (("queue", "resume", "nobody"), 2, "no agent named 'nobody'"),
    (("logs", "nobody"), 2, "no agent named 'nobody' (known: runner, idle, secretive)"),
    (("logs", "--since", "5x"), 2, "--since '5x': is not a time"),
    (("usage", "--since", "5x"), 2, "--since '5x': is not a time"),
    (("usage", "--by", "key"), 2, "invalid choice"),
    (("logs", "--until", "30"), 2, "is a number without a unit"),
    (("logs", "--level", "loud"), 2, "is not a level"),
    (("logs", "--grep", "("), 2, "is not a regular expression"),
    (("logs", "--limit", "-1"), 2, "--limit -1"),
    (("logs", "--follow", "--until", "1h"), 2, "--follow with --until"),
    (("logs", "--format", "text"), 2, "--format is for `agentmux logs export` only"),
    (("logs", "export", "--format", "xml"), 2, "invalid choice"),
    (("logs", "export", "--follow"), 2, "--follow is not for `agentmux logs export`"),
    (("logs", "export", "-o", "/nonexistent-dir/logs.jsonl"), 1, "cannot write /nonexistent-dir/logs.jsonl"),
    (("lock", "acquire", "x"), 2, "who is asking? Outside an agent give --as NAME"),
    (("lock", "acquire", "a b", "--as", "me"), 2, "lock 'a b': use letters, digits"),
    (("lock", "acquire", "x", "--as", "me", "--ttl", "0"), 2, "--ttl 0: a lease is more than 0"),
    (("lock", "acquire", "x", "--as", "me", "--timeout", "soon"), 2, "not a number of seconds"),
    (("lock", "release", "x", "--as", "me"), 1, "me does not hold lock x"),
    (("lock", "renew", "x", "--as", "me"), 1, "a lease that ended cannot be renewed"),
    (("lock", "check", "x", "5"), 1, "token 5 does not hold lock x"),
    (("lock", "run", "x", "--as", "me"), 2, "give the command after --"),
    (("lock", "run", "x", "--as", "me", "--", "/nonexistent-program"), 1, "cannot run /nonexistent-program"),
    (("msg", "send", "nobody", "hi", "--as", "me"), 2, "no agent named 'nobody'"),
    (("msg", "send", "runner", "", "--as", "me"), 2, "the message is empty"),
    (("msg", "send", "runner", "hi", "--importance", "loud", "--as", "me"), 2, "invalid choice: 'loud'"),
    (("msg", "recv", "--as", "me"), 1, "no unread messages for me"),
    (("state", "get", "nokey"), 1, "no key nokey"),
    (("state", "set", "k", "{bad", "--as", "me"), 2, "the value is not valid JSON"),
    (("state", "set", "k", "1"), 2, "who is asking?"),
    (("state", "del", "nokey", "--as", "me"), 1, "no key nokey"),
    (("state", "cas", "k", "3", "1", "--as", "me"), 1, "not swapped, it is absent (version 0), not version 3"),
    (("state", "watch", "--from", "-5"), 2, "revisions start at 0"),
    (("reserve",), 2, "give the paths"),
    (("reserve", "ls", "--exclusive"), 2, "is not an option"),
    (("reserve", "../outside.py", "--as", "me", "--ttl", "0"), 2, "--ttl"),
    (("reserve", "release", "--as", "me"), 1, ""),
    (("barrier", "wait", "x"), 2, "the following arguments are required: --parties"),
    (("barrier", "wait", "x", "--parties", "2"), 2, "who is asking?"),
    (("barrier", "wait", "a b", "--parties", "2", "--as", "me"), 2, "barrier 'a b': use letters, digits"),
    (("barrier", "wait", "x", "--parties", "0", "--as", "me"), 2, "--parties 0: a barrier has 1 to 1000 parties"),
    (("barrier", "wait", "x", "--parties", "2", "--as", "me", "--timeout", "soon"), 2, "not a number of seconds"),
    (("barrier", "wait", "x", "--parties", "2", "--as", "me", "--timeout", "0"), 1, "me timed out after 0 s"),
    (("mcp",), 2, "who is asking?"),
    (("mcp", "--as", "a b"), 2, "--as 'a b'"),
    (("gateway", "--port", "70000"), 2, "--port must be a port number"),
    (("demo-agent", "--speed", "fast"), 2, "--speed"),
    (("nosuchcommand",), 2, "invalid choice"),
]


def test_every_command_follows_the_exit_code_rule(env: Env) -> None:
    env.write_config(AGENTS)
    assert env.cli("up").returncode == 0
    wait_until(lambda: env.status("runner")["state"] == "idle", message="runner at its prompt")
    assert env.cli("queue", "add", "idle", "one").returncode == 0  # task 1: waits (idle is not running)
    failures = []
    for args, code, fragment in CASES:
        result = env.cli(*args)
        lines = result.stderr.strip().splitlines()
        one_line = len(lines) == 1 and "Traceback" not in result.stderr
        if result.returncode != code or not one_line or fragment not in result.stderr:
            failures.append(f"{' '.join(args)!r}: exit {result.returncode} (want {code}): {result.stderr.strip()!r}")
    assert not failures, "\n".join(failures)


def test_a_broken_config_exits_2_for_every_command_that_reads_it(env: Env) -> None:
    env.config_path.write_text("[[agents]]\nname = 3\n")
    for args in (("up",), ("down",), ("ls",), ("send", "a", "b"), ("queue", "ls"), ("restart", "a"),
                 ("rm", "a"), ("attach", "a"), ("serve",), ("add", "x", "--command", "y"), ("logs",),
                 ("logs", "export"), ("lock", "ls"), ("msg", "ls", "--all"), ("state", "ls"), ("reserve", "ls"),
                 ("barrier", "ls")):
        result = env.cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "agents[0].name: must be a string" in result.stderr and len(result.stderr.splitlines()) == 1
