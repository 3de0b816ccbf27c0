"""`agentmux serve`: the supervisor loop in the foreground, printing what it does."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time

from agentmux.actions import Actions
from agentmux.cli.gateway import start_gateway
from agentmux.errors import UsageError
from agentmux.supervisor.look import Look
from agentmux.supervisor.pipeline import Pipeline


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class Printer:
    """serve's consumer of each look: prints state changes, config reloads, and whether it dispatches."""

    busy = False

    def __init__(self) -> None:
        self.holding: bool | None = None
        self.logs_problem: str | None = None

    def wants(self, name: str) -> bool:
        return False

    def consume(self, look: Look) -> None:
        if look.config_change is not None:
            change = look.config_change
            say(change.problem or f"config {look.config.path} read again: {len(look.config.agents)} agents")
        for name, detected in look.changes:
            say(f"{name}: {detected.state.value} ({detected.reason})")
        if look.logs_problem != self.logs_problem:
            self.logs_problem = look.logs_problem
            say(look.logs_problem or "logs are written again")
        if look.holding != self.holding:
            self.holding = look.holding
            say("dispatching queued tasks" if look.holding
                else f"standing by: {look.dispatcher or 'another process'} dispatches")


def cmd_serve(actions: Actions, args: argparse.Namespace) -> int:
    if not args.interval > 0:
        raise UsageError("--interval must be a number of seconds above 0")
    fleet = actions.fleet
    pipeline = Pipeline(fleet, role="serve", dispatch=True, consumers=[Printer()], capture_all=True,
                        fast_interval=args.interval)
    pipeline.dispatcher.on_event = say
    pipeline.restarter.on_event = say
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # closing its tmux session: leave cleanly, lease released
        signal.signal(sig, lambda *_: stop.set())
    say(f"supervising {len(fleet.config.agents)} agents on socket {fleet.config.settings.socket!r} "
        f"as {pipeline.lease.name}; Ctrl-C to stop (agents keep running)")
    gateway = start_gateway(fleet.config, say)  # when [api.gateway] enables it (README: The gateway)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            pipeline.run(stop)
    finally:
        if gateway is not None:
            gateway.close()
    return 0
