"""The Textual TUI: the only package that imports textual."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of `agentmux-tui [--config FILE] [--demo]`."""
    from agentmux import config as config_module
    from agentmux.errors import AgentmuxError

    parser = argparse.ArgumentParser(prog="agentmux-tui", description="Supervise a fleet of AI coding agents.")
    parser.add_argument("--config", metavar="FILE", help="config file (default: ./agentmux.toml, else "
                        "$XDG_CONFIG_HOME/agentmux/config.toml)")
    parser.add_argument("--demo", action="store_true", help="start the demo fleet of simulated agents")
    args = parser.parse_args(argv)
    try:
        config = config_module.load(args.config, check_dirs=False)
    except AgentmuxError as exc:
        print(f"agentmux-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    from agentmux.tui.app import AgentmuxApp

    AgentmuxApp(config, demo=args.demo).run()
    return 0
