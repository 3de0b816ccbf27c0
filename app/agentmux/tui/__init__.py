"""The Textual TUI: the only package that imports textual."""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of `agentmux-tui`."""
    print("agentmux-tui: the TUI is not built yet; use the `agentmux` CLI (`agentmux --help`).", file=sys.stderr)
    return 0
