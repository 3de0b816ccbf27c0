"""Following the config file for processes that outlive an edit (`agentmux serve`, the TUI)."""

from __future__ import annotations

from dataclasses import dataclass

from agentmux.config.model import (
    Config,
    Settings,
)
from agentmux.config.validate import (
    load,
)
from agentmux.errors import ConfigError

FOLLOW_EVERY = 1.0
"""Seconds between looks at the config file by a long-running process."""


@dataclass(frozen=True)
class ConfigChange:
    """What a look at the config file found: a new config to use, or why the file on disk is not used."""

    config: Config | None = None
    problem: str | None = None


class ConfigFollower:
    """Reads the config file again when it changed on disk, for processes that outlive an edit (`serve`,
    the TUI): an agent added or removed by another `agentmux` command, or by hand, is known at once.

    A file that no longer loads is reported once per edit and the last good config stays in use, so a
    half-written edit never stops a running supervisor. The socket and the state directory cannot change
    under a running process (its tmux server and store are open): such an edit is reported, not used.
    """

    def __init__(self, config: Config, every: float = FOLLOW_EVERY) -> None:
        self.config = config
        self.every = every
        self._seen = self._signature()
        self._looked_at = 0.0

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            stat = self.config.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def check(self, now: float) -> ConfigChange | None:
        """A change to act on (at most one look per `every` seconds), or None when nothing changed."""
        if now - self._looked_at < self.every:
            return None
        self._looked_at = now
        signature = self._signature()
        if signature == self._seen:
            return None
        self._seen = signature
        try:
            config = (load(self.config.path, check_dirs=False) if signature is not None
                      else Config(self.config.path, Settings()))
        except ConfigError as exc:
            return ConfigChange(problem=f"{exc}; still using the config read before")
        old = self.config.settings
        for key in ("socket", "state_dir", "pass_env"):  # the tmux server and store are open with these
            if getattr(config.settings, key) != getattr(old, key):
                return ConfigChange(problem=f"{self.config.path}: {key} changed; it is used after a restart")
        self.config = config
        return ConfigChange(config=config)
