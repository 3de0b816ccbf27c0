"""One log entry and its fields."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any


class Severity(enum.IntEnum):
    """How much a line matters; ordered, so `--level warning` means warning and error."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, word: str) -> Severity:
        """`error`, `warning` (or `warn`), `info`, `debug`, in any case; ValueError names the choices."""
        word = word.strip().lower()
        if word == "warn":
            word = "warning"
        for severity in cls:
            if severity.label == word:
                return severity
        raise ValueError(f"{word!r} is not a level: choose error, warning, info or debug")


class Stream(enum.IntEnum):
    """Where an entry came from: a line the agent's pane showed, or an event agentmux knows in structure (a
    claude agent's prompt, tool call, permission decision, error: from its hooks)."""

    SCREEN = 0
    EVENT = 1

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of an agent's log, already masked (secrets never reach an entry)."""

    at: float
    agent: str
    text: str
    """The plain text (no escapes): what is searched and exported."""
    severity: Severity = Severity.INFO
    stream: Stream = Stream.SCREEN
    styled: str | None = None
    """The text with its SGR styles as the pane showed them, for display; None when it has none."""
    id: int = 0
    """Its number in the store (growing with time); 0 before it is stored."""

    @property
    def display(self) -> str:
        return self.styled if self.styled is not None else self.text

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "time": iso_time(self.at), "agent": self.agent,
                "stream": self.stream.label, "severity": self.severity.label, "text": self.text}

    def to_text(self) -> str:
        return f"{iso_time(self.at)} {self.agent} {self.severity.label:<7} {self.text}"


def iso_time(at: float) -> str:
    """Local time with milliseconds and the UTC offset: 2026-12-02T10:04:05.123+0000."""
    seconds = time.localtime(at)
    return time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(at * 1000) % 1000:03d}" + \
        time.strftime("%z", seconds)
