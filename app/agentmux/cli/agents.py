"""The commands on agents: init, up, down, restart, add, rm, ls, send, attach. They turn arguments into Actions
and print the outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from agentmux import config as config_module
from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.cli.output import ago, read_stdin, report, table
from agentmux.errors import AgentmuxError, UnknownAgent, UsageError
from agentmux.paths import user_config_path


def cmd_init(args: argparse.Namespace) -> int:
    if args.config:
        path = Path(args.config).expanduser()
    elif args.here:
        path = Path.cwd() / "agentmux.toml"
    else:
        path = user_config_path()
    config_module.write_starter(path, force=args.force)
    print(f"wrote {path}\nnext: `agentmux up` starts its agents, `agentmux-tui` shows them")
    return 0

def cmd_up(actions: Actions, args: argparse.Namespace) -> int:
    config = actions.config
    if not config.agents:
        print(f"no agents to start (add one with `agentmux add NAME --command CMD`; config: {config.path})")
        return 0
    if not args.names and not any(spec.autostart for spec in config.agents):
        print("no agents with autostart (start one with `agentmux up NAME`)")
    return report(actions.up(args.names, serve=not args.no_serve))


def cmd_down(actions: Actions, args: argparse.Namespace) -> int:
    outcomes = actions.down(args.names, force=args.force)
    if not outcomes:
        print("no agents are running")
    return report(outcomes)


def cmd_restart(actions: Actions, args: argparse.Namespace) -> int:
    return report(actions.restart([args.name]))


def cmd_rm(actions: Actions, args: argparse.Namespace) -> int:
    return report(actions.remove([args.name]))


def cmd_add(actions: Actions, args: argparse.Namespace) -> int:
    if args.cwd is not None and not args.cwd.strip():
        raise UsageError("--cwd is empty: give a directory (or leave --cwd out for the current one)")
    table_: dict[str, object] = {"name": args.name, "kind": args.kind, "cwd": args.cwd or os.getcwd()}
    if args.command:
        table_["command"] = args.command
    env, secrets = config_module.parse_pairs(args.env, "--env"), config_module.parse_pairs(args.secret, "--secret")
    for key in env:
        if key in secrets:
            raise UsageError(f"{key} is given both as --env and as --secret: give it once")
    for key, value in (("env", env), ("secrets", secrets), ("init", args.init), ("cleanup", args.cleanup)):
        if value:
            table_[key] = value
    if args.no_autostart:
        table_["autostart"] = False
    return report(actions.add(table_, start=args.start))


def cmd_ls(actions: Actions, args: argparse.Namespace) -> int:
    statuses = actions.fleet.status()
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
        return 0
    if not statuses:
        print(f"no agents (add one with `agentmux add NAME --command CMD`; config: {actions.config.path})")
        return 0
    now = time.time()
    waiting = actions.queue.summary().depths
    rows = [["NAME", "KIND", "STATE", "FOR", "PID", "OUTPUT", "RESTARTS", "DETAIL"]]
    for s in statuses:
        detail = s.reason + ("" if s.in_config else " (not in config)")
        if not s.takes_tasks and waiting.get(s.name):
            count = waiting[s.name]
            detail += f"; {count} task{'s' if count != 1 else ''} wait for it"
        pid = str(s.pid) if s.pid and s.process_alive else "-"
        rows.append([s.name, s.kind, s.state.value, ago(s.since, now), pid, ago(s.last_output_at, now),
                     str(s.restarts), detail])
    print(table(rows))
    return 0


def cmd_send(actions: Actions, args: argparse.Namespace) -> int:
    words = list(args.words)
    names: list[str] = []
    if not args.all:
        if len(words) < 2:
            raise UsageError("send needs NAME and TEXT (or --all TEXT)")
        names = [actions.known(words.pop(0))]
    text = read_stdin() if words == ["-"] else " ".join(words)
    if not args.no_enter:
        text = text.rstrip("\n")  # `echo TEXT | agentmux send NAME -`: Enter once, not twice
    return report(actions.send(names, text, enter=not args.no_enter))


def cmd_attach(actions: Actions, args: argparse.Namespace) -> int:
    from agentmux.tmux.attach import plan_attach

    fleet = actions.fleet
    pane = fleet.pane(actions.known(args.name))
    if pane is None:
        raise AgentmuxError(f"{args.name} has no tmux session (start it with `agentmux up {args.name}`)")
    plan = plan_attach(fleet.tmux.base_args, fleet.config.settings.socket, pane.session)
    if plan.how == "attach":
        actions.close()
        os.execvp(plan.argv[0], plan.argv)
    result = subprocess.run(plan.argv)
    return 0 if result.returncode == 0 else 1


def cmd_events(actions: Actions, args: argparse.Namespace) -> int:
    if args.last < 0:
        raise UsageError(f"--last {args.last}: give a number of events, 0 for all")
    known = args.name is None or args.name in actions.config.names() or actions.fleet.store.agent(args.name)
    if not known:
        raise UnknownAgent(args.name, f" in {actions.config.path}")
    events = actions.fleet.store.events(args.name)
    events = events[-args.last:] if args.last else events
    if args.json:
        print(json.dumps([{"agent": agent, "at": at, "kind": kind, "message": message}
                          for agent, at, kind, message in events], indent=2))
        return 0
    if not events:
        print("no events" + (f" for {args.name}" if args.name else ""))
        return 0
    rows = [["TIME", "AGENT", "KIND", "WHAT"]]
    for agent, at, kind, message in events:
        rows.append([time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)), agent, kind, one_line(message)])
    print(table(rows))
    return 0


def cmd_answer(actions: Actions, args: argparse.Namespace) -> int:
    return report([actions.answer(args.name, args.answer)])
