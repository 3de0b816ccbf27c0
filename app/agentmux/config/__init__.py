"""The configuration: the model (model.py), reading and validating the file (validate.py), editing it
(edit.py) and following it while running (follow.py). Below the agents layer (ARCHITECTURE.md): it knows
the kinds only as the names and rules of its schema (kinds.py)."""

from __future__ import annotations

from agentmux.config.edit import (
    STARTER,
    add_agent,
    agent_from_table,
    check_removal,
    new_agent,
    remove_agent,
    write_starter,
)
from agentmux.config.follow import FOLLOW_EVERY, ConfigChange, ConfigFollower
from agentmux.config.model import (
    ENV_NAME_RE,
    NAME_RE,
    RESERVED_ENV,
    AgentSpec,
    Config,
    LogRule,
    LogSettings,
    Settings,
)
from agentmux.config.validate import AGENT_KEYS, LOGS_KEYS, SETTINGS_KEYS, is_env_name, load, parse, parse_pairs

__all__ = [
    "AGENT_KEYS", "ENV_NAME_RE", "FOLLOW_EVERY", "LOGS_KEYS", "NAME_RE", "RESERVED_ENV", "SETTINGS_KEYS", "STARTER",
    "AgentSpec", "Config", "ConfigChange", "ConfigFollower", "LogRule", "LogSettings", "Settings", "add_agent",
    "agent_from_table",
    "check_removal", "is_env_name", "new_agent", "load", "parse", "parse_pairs", "remove_agent", "write_starter",
]
