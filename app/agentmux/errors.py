"""Errors users see: each is one readable line and maps to an exit code (README, CLI: the exit-code rule)."""

from __future__ import annotations


class AgentmuxError(Exception):
    """An operation failed; the message says why (exit code 1)."""

    exit_code = 1


class UsageError(AgentmuxError):
    """The command line was wrong (exit code 2)."""

    exit_code = 2


class UnknownAgent(UsageError):
    """A name given on the command line that the config does not define, nor the store remember (exit 2)."""

    def __init__(self, name: str, where: str = "") -> None:
        self.name = name
        super().__init__(f"no agent named {name!r}{where}")


class ConfigError(UsageError):
    """The configuration file is invalid: says file, line where known, key and reason (exit code 2)."""

    def __init__(self, file: str, reason: str, key: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.reason = reason
        self.key = key
        self.line = line
        where = file if line is None else f"{file}:{line}"
        what = f"{key}: {reason}" if key else reason
        super().__init__(f"{where}: {what}")

