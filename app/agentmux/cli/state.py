"""`agentmux state get|set|del|cas|ls|watch`: shared state between agents (coord/kv.py; README: Coordination)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.cli.output import ago, read_stdin, table
from agentmux.coord.kv import Entry, SharedState
from agentmux.coord.owners import caller
from agentmux.errors import AgentmuxError, UsageError

VALUE_SHOWN = 60
"""Characters of a value `state ls` shows."""


def state_of(actions: Actions) -> SharedState:
    return SharedState(actions.fleet.store, actions.config.settings.state_dir)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def value_of(text: str, as_string: bool) -> Any:
    """VALUE of the command line (`-`: standard input): JSON text, else the text as a JSON string. Text that
    begins like an object or an array but does not parse is refused: it was meant as JSON."""
    if text == "-":
        text = read_stdin()
        if not as_string and text.endswith("\n"):
            text = text[:-1]
    if as_string:
        return text
    try:
        return json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        if text.lstrip()[:1] in ("{", "["):
            raise UsageError(f"the value is not valid JSON ({exc}); give --string to store the text as it is") \
                from None
        return text


def said(entry: Entry) -> str:
    return f"{one_line(entry.key)} (version {entry.version}, revision {entry.mod_rev})"


def cmd_state(actions: Actions, args: argparse.Namespace) -> int:
    action = args.state_command
    state = state_of(actions)
    if action == "get":
        entry = state.get(args.key)
        if entry is None:
            if args.json:
                print("null")
            raise AgentmuxError(f"no key {one_line(args.key)}")
        print(json.dumps(entry.to_json(), ensure_ascii=False) if args.json else dumps(entry.value))
        return 0
    if action == "ls":
        revision, found = state.snapshot(args.prefix)
        if args.json:
            print(json.dumps([entry.to_json() for entry in found], indent=2, ensure_ascii=False))
            return 0
        if not found:
            under = f" under {one_line(args.prefix)}" if args.prefix else ""
            print(f"no keys{under} (revision {revision})")
            return 0
        now = time.time()
        rows = [["KEY", "VERSION", "REV", "UPDATED", "BY", "VALUE"]]
        for entry in found:
            value = one_line(dumps(entry.value))
            value = value if len(value) <= VALUE_SHOWN else value[:VALUE_SHOWN - 3] + "..."
            rows.append([one_line(entry.key), str(entry.version), str(entry.mod_rev), ago(entry.updated_at, now),
                         entry.updated_by, value])
        print(table(rows))
        print(f"(revision {revision})")
        return 0
    if action == "watch":
        return watch(state, args)
    by = caller(args.as_name)
    if action == "set":
        entry = state.set(args.key, value_of(args.value, args.string), by)
        print(json.dumps(entry.to_json(), ensure_ascii=False) if args.json else f"set {said(entry)}")
        return 0
    if action == "cas":
        entry = state.cas(args.key, args.version, value_of(args.value, args.string), by)
        print(json.dumps(entry.to_json(), ensure_ascii=False) if args.json else f"set {said(entry)}")
        return 0
    if action == "del":
        gone = state.delete(args.key, by)
        if gone is None:
            if args.json:
                print("null")
            raise AgentmuxError(f"no key {one_line(args.key)}")
        print(json.dumps(gone.to_json(), ensure_ascii=False) if args.json
              else f"deleted {one_line(gone.key)} (it was at version {gone.version})")
        return 0
    raise UsageError(f"unknown state action {action!r}")


def watch(state: SharedState, args: argparse.Namespace) -> int:
    """One JSON line per change, flushed as it comes; 0 at the timeout, 130 on Ctrl-C (quietly)."""
    try:
        for change in state.watch(args.prefix, args.from_rev, args.timeout):
            sys.stdout.write(json.dumps(change.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    return 0
