"""`agentmux mcp`: the coordination tools as an MCP server over stdio (coord/mcp.py; README: MCP server).

Standard output carries the protocol and nothing else: the first thing done is to move the process's fd 1 aside
for the transport and point fd 1 and `sys.stdout` at stderr, so a stray print (ours, a library's, a child's) can
never corrupt the stream. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from agentmux import config as config_module
from agentmux.actions import Actions
from agentmux.coord.owners import caller


def take_stdout() -> int:
    """fd 1's wire, moved to a descriptor of its own (not inherited by children); fd 1 and sys.stdout write to
    stderr from now on."""
    sys.stdout.flush()
    wire = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return wire


def cmd_mcp(actions: Actions, args: argparse.Namespace) -> int:
    wire = take_stdout()
    owner = caller(args.as_name)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="agentmux mcp: %(levelname)s %(message)s")
    from agentmux.coord.mcp import Seat, serve  # the SDK is imported only when serving (0.5 s)

    config = actions.config

    def fleet() -> list[str]:
        """The agents of the config as it is now (one may have been added since the server started)."""
        try:
            return config_module.load(config.path, check_dirs=False).names()
        except Exception:  # noqa: BLE001 - a broken edit of the file: the fleet as it was
            return config.names()

    seat = Seat(owner=owner, store_path=actions.fleet.store.path, state_dir=config.settings.state_dir,
                cwd=Path.cwd(), fleet=fleet)
    print(f"agentmux mcp: serving the coordination tools for {owner} (store {seat.store_path})", file=sys.stderr)
    with os.fdopen(wire, "w", encoding="utf-8", newline="\n") as out:
        serve(seat, wire_out=out)
    if threading.active_count() > 1:  # a call the client gave up on still waits (at most coord.mcp.MAX_WAIT):
        sys.stderr.flush()             # its result would go nowhere
        os._exit(0)
    return 0
