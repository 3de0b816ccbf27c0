"""Where agentmux keeps things: XDG directories, honoured so a user or a test can run a private agentmux."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILENAME = "agentmux.toml"


def xdg_dir(variable: str, fallback: str) -> Path:
    """An XDG base directory: the variable when set to an absolute path, else the fallback under HOME."""
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def user_config_path() -> Path:
    """The per-user config file: `$XDG_CONFIG_HOME/agentmux/config.toml`."""
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "agentmux" / "config.toml"


def default_state_dir() -> Path:
    """Where stores and run files live unless the config says otherwise: `$XDG_STATE_HOME/agentmux`."""
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "agentmux"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file in use: `--config`, else the fleet's own inside an agent (`AGENTMUX_CONFIG`, set in every
    agent's session, so an agent's `agentmux lock ...` reaches its fleet wherever its cwd is), else
    `./agentmux.toml`, else the per-user file.

    The returned path may not exist yet: a missing file means "no agents, default settings", and
    `agentmux add` creates it there.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    inside = os.environ.get("AGENTMUX_CONFIG", "")
    if inside and os.path.isabs(inside):
        return Path(inside)
    local = Path.cwd() / CONFIG_FILENAME
    if local.is_file():
        return local
    return user_config_path()
