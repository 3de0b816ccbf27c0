"""The `agentmux` command: each module holds one group of commands (agents, queue, serve, doctor), parser.py the
whole command line; they only turn arguments into calls of the services (actions.py, the queue, the
supervisor) and print what comes back.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agentmux import config as config_module
from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.cli.agents import (
    cmd_add,
    cmd_answer,
    cmd_attach,
    cmd_down,
    cmd_events,
    cmd_init,
    cmd_ls,
    cmd_restart,
    cmd_rm,
    cmd_send,
    cmd_up,
)
from agentmux.cli.barrier import cmd_barrier
from agentmux.cli.doctor import cmd_doctor
from agentmux.cli.gateway import cmd_gateway
from agentmux.cli.lock import cmd_lock
from agentmux.cli.logs import cmd_logs
from agentmux.cli.mcp import cmd_mcp
from agentmux.cli.msg import cmd_msg
from agentmux.cli.parser import build_parser
from agentmux.cli.queue import cmd_queue
from agentmux.cli.reserve import cmd_reserve
from agentmux.cli.serve import cmd_serve
from agentmux.cli.state import cmd_state
from agentmux.cli.usage import cmd_usage
from agentmux.errors import AgentmuxError, UsageError
from agentmux.store import StoreDamaged, is_damage

COMMANDS: dict[str, Callable[[Actions, argparse.Namespace], int]] = {
    "up": cmd_up, "down": cmd_down, "restart": cmd_restart, "add": cmd_add, "rm": cmd_rm, "ls": cmd_ls,
    "send": cmd_send, "attach": cmd_attach, "serve": cmd_serve, "queue": cmd_queue, "answer": cmd_answer,
    "events": cmd_events, "logs": cmd_logs,
    "lock": cmd_lock,
    "mcp": cmd_mcp,
    "gateway": cmd_gateway,
    "msg": cmd_msg,
    "state": cmd_state,
    "reserve": cmd_reserve,
    "barrier": cmd_barrier,
    "usage": cmd_usage,
}
"""The commands that act on the fleet of a config, by name."""


def config_path(args: argparse.Namespace) -> str | Path | None:
    """The config file the command line names: `--config FILE`, or the demo fleet's with `--demo`."""
    if getattr(args, "demo", False):
        from agentmux.agents.demo_fleet import demo_config_path

        path = demo_config_path()
        if not path.is_file():
            raise AgentmuxError("no demo fleet has been started here (`agentmux-tui --demo` starts one)")
        return path
    return str(args.config) if args.config is not None else None


def run_demo_agent(argv: list[str]) -> int | None:
    """`agentmux [--config F] demo-agent OPTIONS...`: everything after demo-agent is the demo agent's own
    (argparse would take them for agentmux's); None when the command line is not that."""
    if "demo-agent" not in argv:
        return None
    at = argv.index("demo-agent")
    try:
        head = build_parser().parse_args(argv[:at])
    except UsageError:
        return None
    if head.subcommand is not None:
        return None
    from agentmux import demo

    options = argv[at + 1:]
    options = options[1:] if options[:1] == ["--"] else options
    if "-h" not in options and "--help" not in options:
        problem = demo.check_options(options)
        if problem is not None:
            raise UsageError(f"demo-agent: {problem} (see `agentmux demo-agent --help`)")
    return demo.main(options)


def run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"] and "-h" not in argv and "--help" not in argv:
        from agentmux import hook

        return hook.main(argv[1:2])  # never refuses: a hook must not fail the agent's tool call
    demo_ran = run_demo_agent(argv)
    if demo_ran is not None:
        return demo_ran
    tail: list[str] | None = None
    at = argv.index("--") if "--" in argv else -1
    if at > 0 and "lock" in argv[:at] and "run" in argv[argv.index("lock"):at]:
        argv, tail = argv[:at], argv[at + 1:]  # the command after -- is not agentmux's (argparse's nested
                                               # sub-commands take its options for their own)
    args = build_parser().parse_args(argv)
    if tail is not None:
        args.argv = tail
    if args.subcommand is None:
        build_parser().print_help()
        raise UsageError("give a command (the list is above)")
    if args.subcommand == "init":
        return cmd_init(args)
    if args.subcommand == "doctor":
        return cmd_doctor(args, config_path(args))
    if args.subcommand == "api-agent":
        from agentmux.api.agent import main as api_agent

        return api_agent(args.name, config_path(args))
    if args.subcommand == "demo-agent":  # with no options of its own
        from agentmux import demo

        return demo.main([])
    actions = Actions(config_module.load(config_path(args), must_exist=args.subcommand != "add",
                                          check_dirs=False))
    try:
        return COMMANDS[args.subcommand](actions, args)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):  # a damaged page is found by whichever command first reads it
            raise StoreDamaged(actions.fleet.store.path, str(exc)) from None
        raise
    finally:
        actions.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except AgentmuxError as exc:
        print(f"agentmux: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("agentmux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one readable line, never a traceback
        if os.environ.get("AGENTMUX_DEBUG"):
            raise
        print(f"agentmux: internal error: {type(exc).__name__}: {one_line(str(exc))} (run with AGENTMUX_DEBUG=1 "
              "for details)", file=sys.stderr)
        return 1
