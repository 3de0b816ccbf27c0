"""`agentmux barrier ...`: wait until N parties arrive, then all go on (coord/barriers.py; README: Coordination)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from agentmux.actions import Actions
from agentmux.cli.output import table
from agentmux.coord.barriers import BarrierInfo, Barriers, Passage
from agentmux.coord.owners import caller
from agentmux.errors import AgentmuxError, UsageError


class Terminated(AgentmuxError):
    """A waiter was sent SIGTERM or SIGHUP: it left the barrier (exit 128 + the signal)."""

    def __init__(self, name: str, signum: int) -> None:
        super().__init__(f"left barrier {name} ({signal.Signals(signum).name})")
        self.exit_code = 128 + signum


@contextmanager
def leaving_on_signals(name: str) -> Iterator[None]:
    """While waiting, SIGTERM and SIGHUP end the wait like Ctrl-C does (the party leaves, the others are told at
    once), instead of killing the process silently (the others would learn it only when its arrival lapses)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Terminated(name, signum)

    before = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def passed(passage: Passage) -> str:
    """`passed barrier b (generation 3, you arrived 2nd of 3: a, b, c)`."""
    return (f"passed barrier {passage.name} (generation {passage.generation}, you arrived "
            f"{ordinal(passage.index + 1)} of {passage.parties}: {', '.join(passage.arrived)})")


def cmd_barrier(actions: Actions, args: argparse.Namespace) -> int:
    action = args.barrier_command
    barriers = Barriers(actions.fleet.store, actions.config.settings.state_dir)
    if action == "ls":
        barriers.reap()  # what it shows is what a waiter would find: a generation a party left is broken
        found = barriers.ls()
        now = time.time()
        if args.json:
            print(json.dumps([info.to_json(now) for info in found], indent=2))
            return 0
        if not found:
            print("no barriers")
            return 0
        rows = [["NAME", "GEN", "PARTIES", "STATE", "ARRIVED", "REASON"]]
        rows += [[info.name, str(info.generation), str(info.parties), info.state, ", ".join(info.arrived) or "-",
                  info.reason or "-"] for info in found]
        print(table(rows))
        return 0
    if action == "wait":
        owner = caller(args.as_name)

        def waiting(info: BarrierInfo) -> None:
            print(f"waiting at barrier {info.name} ({info.count()})", file=sys.stderr, flush=True)

        with leaving_on_signals(args.name):
            passage = barriers.wait(args.name, owner, args.parties, timeout=args.timeout, on_wait=waiting)
        print(json.dumps(passage.to_json()) if args.json else passed(passage), flush=True)
        return 0
    raise UsageError(f"unknown barrier action {action!r}")
