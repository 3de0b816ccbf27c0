"""The command line of `agentmux`: every command and option; usage errors are one line (exit code 2)."""

from __future__ import annotations

import argparse
from typing import Any

from agentmux import __version__
from agentmux.errors import UsageError

DEFAULT_LIMIT = 200
AS_HELP = "act as agent NAME (default: the agent this runs in, from AGENTMUX_AGENT)"
"""Entries `agentmux logs` shows by default: the newest."""


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        # Python before 3.13 drops a "--" given as an option's value (`--if-output=--` became []): keep it
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)

CONFIG_HELP = "config file (default: ./agentmux.toml, else $XDG_CONFIG_HOME/agentmux/config.toml)"
DEMO_HELP = "use the demo fleet that agentmux-tui --demo started (its own socket and config file)"


def command(sub: argparse._SubParsersAction[Parser], name: str, **options: Any) -> Parser:
    """A sub-command that also takes --config and --demo, so they may come before or after it
    (`agentmux --config F ls` and `agentmux ls --config F`)."""
    parser = sub.add_parser(name, **options)
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help=DEMO_HELP)
    return parser


def build_parser() -> Parser:
    parser = Parser(prog="agentmux", description="Supervise a fleet of AI coding agents in tmux.")
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--demo", action="store_true", help=DEMO_HELP)
    parser.add_argument("--version", action="version", version=f"agentmux {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)

    p = command(sub, "init", help="write a commented starter config file")
    p.add_argument("--here", action="store_true", help="write ./agentmux.toml instead of the per-user file")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = command(sub, "up", help="start agents (default: every agent with autostart) and the supervisor")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--no-serve", action="store_true",
                   help="do not start the headless supervisor that dispatches queued tasks")

    p = command(sub, "down", help="stop agents gracefully (default: all running, and the supervisor)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--force", action="store_true", help="kill at once instead of asking the agent to quit")

    p = command(sub, "restart", help="stop and start an agent")
    p.add_argument("name", metavar="NAME")

    p = command(sub, "add", help="add an agent to the config in use")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--command", default="", help="the program to run (a /bin/sh command line)")
    p.add_argument("--kind", default="command", help="agent kind (default: command)")
    p.add_argument("--cwd", help="working directory (default: the current directory)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable")
    p.add_argument("--secret", action="append", default=[], metavar="KEY=REF",
                   help="secret by reference: KEY=env:VARIABLE or KEY=file:PATH")
    p.add_argument("--init", action="append", default=[], metavar="CMD", help="init command (repeatable)")
    p.add_argument("--cleanup", action="append", default=[], metavar="CMD", help="cleanup command (repeatable)")
    p.add_argument("--no-autostart", action="store_true", help="do not start with a plain `agentmux up`")
    p.add_argument("--start", action="store_true", help="start the agent right away")

    p = command(sub, "rm", help="stop an agent, run its cleanup, and remove it from the config")
    p.add_argument("name", metavar="NAME")

    p = command(sub, "ls", help="list agents with their state")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(sub, "send", help="type text into an agent (or --all) and press Enter")
    p.add_argument("--all", action="store_true", help="send to every running agent")
    p.add_argument("--no-enter", action="store_true", help="do not press Enter after the text")
    p.add_argument("words", nargs="+", metavar="NAME|TEXT", help="NAME TEXT..., or TEXT... with --all; "
                   "TEXT '-' reads standard input")

    p = command(sub, "attach", help="attach to an agent's tmux session (detach with your tmux prefix, d)")
    p.add_argument("name", metavar="NAME")

    p = command(sub, "serve", help="run the supervisor in the foreground: follow states, dispatch queued "
                       "tasks (while no other process does) until Ctrl-C")
    p.add_argument("--interval", type=float, default=0.1,
                   help="seconds between looks while tasks are out (default 0.1; 0.25 when none are)")

    p = command(sub, "gateway", help="run the loopback API gateway for claude agents in the foreground, "
                "printing its URL (README: The gateway)")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: [api.gateway] port, "
                   "else any free port)")

    p = command(sub, "doctor", help="check tmux, the config, the store and the socket")
    p.add_argument("--fix", action="store_true", help="apply the fixes doctor offers as `agentmux doctor --fix` "
                   "(a damaged store, a tmux server that does not answer, a stale socket file)")

    p = command(sub, "queue", help="per-agent command queues: add, ls, show, cancel, retry, pause, resume")
    queue = p.add_subparsers(dest="queue_command", metavar="ACTION", parser_class=Parser, required=True)
    q = command(queue, "add", help="queue TEXT for agent NAME")
    q.add_argument("name", metavar="NAME")
    q.add_argument("text", metavar="TEXT", help="what to type into the agent ('-' reads standard input)")
    q.add_argument("--priority", type=int, default=0, help="higher goes first (default 0)")
    q.add_argument("--after", type=int, action="append", default=[], metavar="ID",
                   help="wait for task ID to end first (repeatable; on any agent)")
    q.add_argument("--when", choices=["success", "failure", "always"], default="success",
                   help="run after the tasks it waits for succeeded (default), failed, or either")
    q.add_argument("--if-output", metavar="REGEX", help="run only if REGEX matches their output")
    q.add_argument("--timeout", type=float, metavar="S", help="fail the task after S seconds")
    q.add_argument("--retries", type=int, default=0, metavar="N", help="retry a failure N times with backoff")
    q.add_argument("--json", action="store_true", help="print the task as JSON (its id, state, ...)")
    q = command(queue, "ls", help="list tasks (of NAME, or all)")
    q.add_argument("name", nargs="?", metavar="NAME")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--all", action="store_true", help="include ended tasks (default: the last 20 ended too)")
    q = command(queue, "show", help="one task with its result")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("cancel", "cancel a task that has not ended"),
                         ("retry", "put a failed, cancelled or skipped task back in the queue")):
        q = command(queue, action, help=text)
        q.add_argument("id", type=int, metavar="ID")
    q = command(queue, "prio", help="give waiting task ID priority N")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("priority", type=int, metavar="N")
    q = command(queue, "after", help="make waiting task ID also wait for task DEP (cycles refused)")
    q.add_argument("id", type=int, metavar="ID")
    q.add_argument("dep", type=int, metavar="DEP")
    for action, text in (("pause", "hold an agent's queue"), ("resume", "let an agent's queue run again")):
        q = command(queue, action, help=text)
        q.add_argument("name", metavar="NAME")

    p = command(sub, "answer", help="answer the question an agent waits on: yes, no, always (a claude agent's "
                "permission dialog: the choice 'Yes, and always allow/don't ask again'), a choice's number, or "
                "text to type (other programs)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("answer", metavar="yes|no|always|N|TEXT")
    p = command(sub, "events", help="what happened to agents: starts, stops, restarts, answers (by you or by "
                "an approval policy rule), cleanups")
    p.add_argument("name", metavar="NAME", nargs="?", help="one agent (default: all)")
    p.add_argument("-n", "--last", type=int, default=50, metavar="N", help="the last N events (default 50; 0: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(sub, "logs", help="what agents printed, from the log: filter by agent, text, level and time, "
                "follow new entries (-f), or export every matching one (logs export)",
                usage="agentmux logs [NAME...] [filters] [-n N] [-f] [--json] [--color WHEN]\n"
                      "       agentmux logs export [NAME...] [filters] [--format jsonl|text] [-o FILE]",
                description="Show the newest entries of the agents' log (of the NAMEs, or of every agent) in time "
                "order, or with `export` first, write every matching entry, oldest first. Filters: "
                "-e/--grep, -s/--search, -l/--level, --since, --until.")
    p.add_argument("names", nargs="*", metavar="NAME", help="agents (default: all); `export` first: export")
    p.add_argument("-e", "--grep", metavar="RE", help="entries whose text matches a Python regular expression")
    p.add_argument("-i", "--ignore-case", action="store_true", help="--grep ignores case")
    p.add_argument("-s", "--search", metavar="TEXT", help='entries holding every word and "quoted phrase" of TEXT '
                   "(any case)")
    p.add_argument("-l", "--level", metavar="LEVEL", help="at least this severity: error, warning, info, debug")
    p.add_argument("--since", metavar="WHEN", help="entries from then on: a duration ago (30s, 5m, 2h, 1d) or a "
                   "time (10:00 today, 2026-12-02T10:00)")
    p.add_argument("--until", metavar="WHEN", help="entries before then (the same forms as --since)")
    p.add_argument("-n", "--limit", type=int, metavar="N", help=f"the newest N entries (default {DEFAULT_LIMIT}; "
                   "0: all)")
    p.add_argument("-f", "--follow", action="store_true", help="then print new entries as they are stored, until "
                   "Ctrl-C")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="colour severities and matches: auto (default: on a terminal, unless NO_COLOR is set)")
    p.add_argument("--format", choices=["jsonl", "text"], help="export: JSON lines (default) or text lines")
    p.add_argument("-o", "--output", metavar="FILE", help="export: write FILE (in one step) instead of standard "
                   "output")
    coordination(sub)
    p = command(sub, "usage", help="what agents' API requests cost: requests, tokens, cost estimate, errors and "
                "p95 latency, per agent or per model (the usage ledger)")
    p.add_argument("--since", metavar="WHEN", help="requests from then on: a duration ago (30s, 5m, 2h, 1d) or a "
                   "time (10:00 today, 2026-12-02T10:00)")
    p.add_argument("--by", choices=["agent", "model"], default="agent", help="group by agent (default) or model")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(sub, "hook", help="record a Claude Code hook event of an agent (what a claude agent's hooks run; "
                "reads the event's JSON on standard input, always exits 0)")
    p.add_argument("event", metavar="EVENT", nargs="?", default="")
    p = command(sub, "api-agent", help="run api agent NAME of the config in this terminal (what a kind api "
                "agent's pane runs: the Messages API, its conversation kept in the store)")
    p.add_argument("name", metavar="NAME")
    p = command(sub, "demo-agent", help="run the built-in simulated agent in this terminal")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def acting(parser: Parser) -> Parser:
    """A coordination command: it acts for someone (`--as`), and lists in JSON."""
    parser.add_argument("--as", dest="as_name", metavar="NAME", help=AS_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value != value or value < 0:  # NaN too
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def coordination(sub: argparse._SubParsersAction[Parser]) -> None:
    """lock, reserve, barrier, msg, state and mcp (README: Coordination); each group's handler is in its own
    cli/ module."""
    # --- locks (cli/lock.py) ---
    p = command(sub, "lock", help="locks with leases and fencing tokens, shared between agents: acquire, "
                "release, renew, check, run, ls")
    lock = p.add_subparsers(dest="lock_command", metavar="ACTION", parser_class=Parser, required=True)
    q = acting(command(lock, "acquire", help="take lock NAME (waits in line; prints its fencing token)"))
    q.add_argument("name", metavar="NAME")
    q.add_argument("--ttl", type=seconds, default=60.0, metavar="S", help="lease in seconds (default 60); renew "
                   "it with `lock renew` or it ends")
    q.add_argument("--timeout", type=seconds, metavar="S", help="wait at most S seconds (default: as long as it "
                   "takes; 0: try once)")
    q.add_argument("--shared", action="store_true", help="a shared (read) hold: other shared holds at once, no "
                   "exclusive one")
    q = acting(command(lock, "release", help="give lock NAME back"))
    q.add_argument("name", metavar="NAME")
    q = acting(command(lock, "renew", help="extend the lease of lock NAME from now (fails once it ended)"))
    q.add_argument("name", metavar="NAME")
    q.add_argument("--ttl", type=seconds, metavar="S", help="the new lease (default: the one it was taken with)")
    q = acting(command(lock, "check", help="exit 0 when TOKEN still holds lock NAME, 1 when not"))
    q.add_argument("name", metavar="NAME")
    q.add_argument("token", type=int, metavar="TOKEN")
    q = acting(command(lock, "run", help="run a command holding lock NAME (lease renewed while it runs; its "
                       "token in AGENTMUX_LOCK_TOKEN); exits with the command's status",
                       usage="agentmux lock run NAME [--ttl S] [--timeout S] [--shared] -- COMMAND..."))
    q.add_argument("name", metavar="NAME")
    q.add_argument("--ttl", type=seconds, default=60.0, metavar="S", help="lease in seconds (default 60)")
    q.add_argument("--timeout", type=seconds, metavar="S", help="wait at most S seconds for it")
    q.add_argument("--shared", action="store_true", help="a shared hold")
    q.add_argument("argv", nargs="*", metavar="COMMAND", help="the command, after --")
    q = acting(command(lock, "ls", help="locks held or waited for, with owners, tokens and leases left"))
    q.add_argument("--mine", action="store_true", help="only the caller's")
    # --- file reservations (cli/reserve.py) ---
    class Intermixed(Parser):
        """`reserve`'s paths and options may come in any order (argparse's intermixed parsing)."""

        mixing = False

        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if self.mixing:  # parse_known_intermixed_args calls this twice itself
                return super().parse_known_args(args, namespace)
            self.mixing = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self.mixing = False

    p = acting(command(sub, "reserve", help="reserve files (paths, directories, globs) so other agents keep off "
                       "them: release, ls, check, and a git pre-commit guard",
                       usage="agentmux reserve PATH... [--exclusive] [--ttl S] [--reason TEXT]\n"
                             "       agentmux reserve release [PATH...]\n"
                             "       agentmux reserve ls [--all]\n"
                             "       agentmux reserve check [--staged] [FILE...]\n"
                             "       agentmux reserve guard install [--force] | guard uninstall\n"
                             "       (each also takes --as NAME and --json)",
                       description="Reserve files for the caller (an agent: AGENTMUX_AGENT; else --as NAME) so "
                       "that other agents keep off them. A directory means everything under it; globs *, ?, [...] "
                       "and ** (any number of directories) are allowed (quote them). An exclusive reservation "
                       "keeps every other owner off; a shared one only exclusive ones. Inside git, every worktree "
                       "of one repository is one project. The first word may be an action (release, ls, check, "
                       "guard); a file named like one is given as ./release. Exit 0: done; 1: refused (who holds "
                       "what until when), or check found files others reserve; 2: usage."))
    p.__class__ = Intermixed  # paths and options in any order (`reserve a.py --exclusive b.py`)
    p.add_argument("words", nargs="*", metavar="PATH", help="paths to reserve, or an action and its arguments")
    p.add_argument("--exclusive", action="store_true", default=None, help="reserve: keep every other owner off "
                   "(default: shared, only exclusive reservations are kept off)")
    p.add_argument("--ttl", type=seconds, metavar="S", help="reserve: for S seconds (default 3600, at most 7 days); "
                   "the reservation also ends when the caller's agent run ends")
    p.add_argument("--reason", metavar="TEXT", help="reserve: why, shown to those it keeps off")
    p.add_argument("--all", action="store_true", default=None, help="ls: every project's (default: this one's)")
    p.add_argument("--staged", action="store_true", default=None, help="check: the files staged in git (renames: "
                   "both names)")
    p.add_argument("--hook", action="store_true", default=False, help=argparse.SUPPRESS)  # what the guard runs
    p.add_argument("--force", action="store_true", default=None, help="guard install: move a pre-commit hook "
                   "agentmux did not write aside (to pre-commit.before-agentmux; uninstall puts it back)")
    # --- barriers (cli/barrier.py) ---
    p = command(sub, "barrier", help="barriers: wait until N parties have arrived, then all go on (reusable): "
                "wait, ls")
    barrier = p.add_subparsers(dest="barrier_command", metavar="ACTION", parser_class=Parser, required=True)
    q = acting(command(barrier, "wait", help="arrive at barrier NAME and wait for the others (exit 0 passed, 1 "
                       "broken or timed out)"))
    q.add_argument("name", metavar="NAME")
    q.add_argument("--parties", type=int, required=True, metavar="N", help="how many arrive before all go on "
                   "(every party gives the same N)")
    q.add_argument("--timeout", type=seconds, metavar="S", help="wait at most S seconds, then the barrier breaks "
                   "for everyone (default: as long as it takes)")
    acting(command(barrier, "ls", help="barriers: the open generation with who arrived, else the last one and how "
                   "it ended"))
    # --- messages (cli/msg.py) ---
    p = command(sub, "msg", help="messages between agents, each delivered once: send, recv, ls")
    msg = p.add_subparsers(dest="msg_command", metavar="ACTION", parser_class=Parser, required=True)
    q = acting(command(msg, "send", help="send TEXT to agents TO (names joined by commas, or all: every other "
                       "agent of the config)"))
    q.add_argument("to", metavar="TO")
    q.add_argument("text", metavar="TEXT", help="the message; - reads it from standard input")
    q.add_argument("--thread", metavar="T", help="the thread it belongs to (default: a new thread, named after the "
                   "message's id: reply with --thread ID)")
    q.add_argument("--importance", choices=("low", "normal", "high", "urgent"), default="normal",
                   help="how much it matters (default normal)")
    q.add_argument("--ttl", type=seconds, default=7 * 24 * 3600.0, metavar="S",
                   help="keep it S seconds for its recipients (default a week; 0: until read)")
    q = acting(command(msg, "recv", help="take the caller's oldest unread messages, marking them read (exit 1 "
                       "when there are none)"))
    q.add_argument("--wait", type=seconds, nargs="?", const=float("inf"), default=0.0, metavar="S",
                   help="wait up to S seconds for one (--wait alone: as long as it takes)")
    q.add_argument("--thread", metavar="T", help="only messages of thread T")
    q.add_argument("--limit", type=int, default=100, metavar="N", help="take at most N (default 100)")
    q = acting(command(msg, "ls", help="the caller's live messages, read or not, without marking them read"))
    q.add_argument("--all", action="store_true", help="everyone's messages")
    q.add_argument("--unread", action="store_true", help="only unread ones")
    q.add_argument("--thread", metavar="T", help="only messages of thread T")
    q.add_argument("--limit", type=int, default=100, metavar="N", help="the newest N (default 100)")
    # --- shared state (cli/state.py) ---
    p = command(sub, "state", help="shared state: JSON values by key, with versions, compare-and-swap and a "
                "change log to watch: get, set, del, cas, ls, watch")
    state = p.add_subparsers(dest="state_command", metavar="ACTION", parser_class=Parser, required=True)
    value_help = ("a JSON value (42, true, '\"text\"', '{\"a\": 1}'); text that is not JSON is stored as a JSON "
                  "string (but text starting with { or [ must parse); - reads it from standard input")
    q = acting(command(state, "get", help="print the value of KEY as JSON (exit 1 when there is none)"))
    q.add_argument("key", metavar="KEY")
    q = acting(command(state, "set", help="set KEY to VALUE"))
    q.add_argument("key", metavar="KEY")
    q.add_argument("value", metavar="VALUE", help=value_help)
    q.add_argument("--string", action="store_true", help="store VALUE as a string, exactly, whatever it holds")
    q = acting(command(state, "del", help="delete KEY (exit 1 when there is none)"))
    q.add_argument("key", metavar="KEY")
    q = acting(command(state, "cas", help="set KEY to VALUE only if it is at VERSION (0: only if absent); exit 1, "
                       "saying its version, when not"))
    q.add_argument("key", metavar="KEY")
    q.add_argument("version", type=int, metavar="VERSION")
    q.add_argument("value", metavar="VALUE", help=value_help)
    q.add_argument("--string", action="store_true", help="store VALUE as a string, exactly, whatever it holds")
    q = acting(command(state, "ls", help="the keys (starting with PREFIX), their versions, revisions and values"))
    q.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    q = acting(command(state, "watch", help="print each change (of keys starting with PREFIX) as a JSON line, as "
                       "it comes; exit 1 asking to resync when changes asked for were compacted"))
    q.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    q.add_argument("--from", dest="from_rev", type=int, metavar="REV", help="first the changes after revision REV "
                   "(default: only new ones)")
    q.add_argument("--timeout", type=seconds, metavar="S", help="stop after S seconds (exit 0; default: never)")
    # --- the MCP server (cli/mcp.py) ---
    p = command(sub, "mcp", help="serve the coordination tools (locks, reservations, barriers, messages, shared "
                "state) to an MCP client over stdio; claude agents get it registered by themselves")
    p.add_argument("--as", dest="as_name", metavar="NAME", help=AS_HELP)
