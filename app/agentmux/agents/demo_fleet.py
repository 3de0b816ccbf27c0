"""The demo fleet: simulated agents on their own socket, so a new user sees agentmux work at once."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from agentmux.errors import AgentmuxError
from agentmux.paths import default_state_dir

DEMO_SOCKET = "agentmux-demo"
DEMO_AGENTS = (
    ("architect", "--autopilot 4 --speed 1.5 --ask-rate 0.3"),
    ("backend", "--autopilot 2 --speed 1.0 --ask-rate 0.2"),
    ("frontend", "--autopilot 3 --speed 1.2 --ask-rate 0.25"),
    ("tests", "--autopilot 2 --speed 0.8 --fail-rate 0.3"),
    ("docs", "--autopilot 6 --speed 2.0 --ask-rate 0.1"),
    ("reviewer", "--autopilot 5 --speed 1.0 --ask-rate 0.4"),
)


def demo_fleet_running() -> bool:
    """Do demo agents still run (the demo fleet outlives the TUI that started it, on its own socket)?"""
    from agentmux.tmux.backend import TmuxServer

    if not demo_config_path().is_file():
        return False
    server = TmuxServer(DEMO_SOCKET)
    try:
        return any(pane.agent and not pane.dead for pane in server.list_panes())
    except AgentmuxError:
        return False
    finally:
        server.close()


def demo_config_path() -> Path:
    return default_state_dir() / "demo.toml"


def write_demo_config(path: Path | None = None) -> Path:
    """Write (or rewrite) the demo fleet's config file and return its path (a whole new file: tomli-w)."""
    path = path or demo_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "agentmux": {"socket": DEMO_SOCKET, "width": 120, "height": 32},
        "agents": [{"name": name, "kind": "demo", "command": options, "cwd": "~"} for name, options in DEMO_AGENTS],
    }
    header = ("# The agentmux demo fleet: simulated agents (no API key needed) on their own tmux socket.\n"
              f"# Use it from the CLI with: agentmux --config {path} ls\n\n")
    path.write_text(header + tomli_w.dumps(document), encoding="utf-8")
    return path
