"""Errors users see: each is one readable line and maps to an exit code (DESIGN.md)."""

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


def one_line(text: str) -> str:
    """A message as one printable line: control characters, line and paragraph separators and lone
    surrogates (bytes that were not UTF-8) are written as escapes (`\\n`, `\\x1e`), so text a user gave never
    breaks an error into several lines or a terminal's state."""
    return "".join(_escape(char) if _unprintable(char) else char for char in text)


def _unprintable(char: str) -> bool:
    code = ord(char)
    return code < 32 or 127 <= code < 160 or code in (0x2028, 0x2029) or 0xD800 <= code < 0xE000


def _escape(char: str) -> str:
    return repr(char)[1:-1]  # \n, \t, \x1e, \u2028, \udcff
