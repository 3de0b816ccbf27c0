"""A line's severity from rules: the config's own first (`[[logs.rules]]`), then the defaults below, first match
wins; a line no rule matches is info. A Python traceback's lines (its frames, then the exception line) are
errors as a block, so a search for errors shows the whole traceback."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agentmux.logs.model import Severity

DEFAULT_RULES: tuple[tuple[str, Severity], ...] = (
    (r"Traceback \(most recent call last\)", Severity.ERROR),
    (r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)\b(?::|$)", Severity.ERROR),  # ValueError: boom
    (r"\b(?:ERROR|FATAL|CRITICAL|PANIC)\b|\bFAILED\b|\bFAIL:|\b[Ee]rror(?:\[\w+\])?:|\bpanic:", Severity.ERROR),
    (r"\b[1-9]\d* (?:failed|errors?)\b|npm ERR!|Segmentation fault|command not found|\*\*\*.*\bError \d+",
     Severity.ERROR),
    (r"(?i)\bexit(?:ed)?(?: with)? (?:status|code) [1-9]\d*\b|non-zero exit status|\bCommand failed\b",
     Severity.ERROR),
    (r"^\s*✗", Severity.ERROR),  # the demo agent's `✗ error:`, and many CLIs' failure mark
    (r"\bWARN(?:ING)?\b|(?i:\bwarning:)|\b[A-Z]\w*Warning\b|⚠", Severity.WARNING),
    (r"\b(?:DEBUG|TRACE)\b|(?i:^\s*\[debug\])", Severity.DEBUG),
)
"""The rules agentmux starts with: tracebacks and exceptions, ERROR/FATAL/FAILED and `Error:`, counts of
failures, non-zero exits, the demo's `✗ error:`; WARN and `warning:`; DEBUG and TRACE."""

TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)")


class Classifier:
    """Severity of each line, keeping per agent whether it is inside a traceback."""

    def __init__(self, rules: Sequence[tuple[str, Severity]] = (), defaults: bool = True) -> None:
        ordered = [*rules, *(DEFAULT_RULES if defaults else ())]
        self._rules = [(re.compile(pattern), severity) for pattern, severity in ordered]
        self._in_traceback: set[str] = set()

    def __call__(self, agent: str, text: str) -> Severity:
        if agent in self._in_traceback:
            if text[:1].isspace() or text.startswith("During handling") or not text.strip():
                return Severity.ERROR
            self._in_traceback.discard(agent)  # the exception line ends it
            if not text.startswith("The above exception"):
                return Severity.ERROR
        for pattern, severity in self._rules:
            if pattern.search(text):
                if severity is Severity.ERROR and TRACEBACK_RE.search(text):
                    self._in_traceback.add(agent)
                return severity
        return Severity.INFO

    def forget(self, agents: Iterable[str]) -> None:
        self._in_traceback.difference_update(agents)
