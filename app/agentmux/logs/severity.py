"""A line's severity from rules: the config's own first (`[[logs.rules]]`), then the defaults below, first match
wins; a line no rule matches is info. A Python traceback's lines (its frames, then the exception line) are
errors as a block, so a search for errors shows the whole traceback.

Most lines match no rule, and trying every expression on each is most of the cost: each rule knows strings one of
which every match of it contains (read from the expression: `ERROR`, `rror`, `warning:` ignoring case, ...), and
a rule is tried only on lines that hold one."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from functools import cache
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the parser `re` uses
from typing import Any

from agentmux.logs.model import Severity

DEFAULT_RULES: tuple[tuple[str, Severity], ...] = (
    (r"Traceback \(most recent call last\)", Severity.ERROR),
    (r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)\b(?::|$)", Severity.ERROR),  # ValueError: boom
    (r": [A-Z]\w*(?:Error|Exception)$", Severity.ERROR),  # pytest's `tests/test_app.py:88: AssertionError`
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

Needle = tuple[str, bool]
"""A string a match contains, and whether `re` compares it ignoring case (then it is given in lower case)."""
REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", sre_parse.MAX_REPEAT))


def needles(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Strings one of which every match of the pattern contains: (compared as they are, compared ignoring case
    in lower case), or None when the pattern has no such set (then it is tried on every line)."""
    parsed = sre_parse.parse(pattern)
    found = _needles(list(parsed), bool(parsed.state.flags & re.IGNORECASE))
    if found is None:
        return None
    return (tuple(sorted(text for text, caseless in found if not caseless)),
            tuple(sorted(text for text, caseless in found if caseless)))


def _needles(items: list[tuple[Any, Any]], caseless: bool) -> set[Needle] | None:
    """For a sequence: the most telling set of strings one of which it must contain (a literal run, a group's,
    every branch's of an alternation, a repeated item's when it repeats at least once)."""
    choices: list[set[Needle]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            text = "".join(run)
            choices.append({(text.lower() if caseless else text, caseless)})
            run.clear()

    for op, value in items:
        if op is sre_parse.LITERAL and isinstance(value, int) and (not caseless or chr(value).isascii()):
            run.append(chr(value))
            continue
        end_run()
        found: set[Needle] | None = None
        if op is sre_parse.SUBPATTERN:
            _, add, remove, sub = value
            found = _needles(list(sub), (caseless or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE)
        elif op is sre_parse.BRANCH:
            branches = [_needles(list(branch), caseless) for branch in value[1]]
            if all(branch is not None for branch in branches):
                found = set().union(*(branch for branch in branches if branch is not None))
        elif op in REPEATS and value[0] >= 1:
            found = _needles(list(value[2]), caseless)
        elif op is getattr(sre_parse, "ATOMIC_GROUP", None):
            found = _needles(list(value), caseless)
        if found:
            choices.append(found)
    end_run()
    if not choices:
        return None
    return max(choices, key=lambda choice: (min(len(text) for text, _ in choice), -len(choice)))


@cache
def _like_ascii_letters() -> frozenset[str]:
    """Characters outside ASCII that `re` takes for an ASCII letter when it ignores case (the Kelvin sign, the long
    s, dotted and dotless i): `str.lower` does not turn them into that letter, so a line holding one is tried on
    every rule that ignores case."""
    letters = re.compile(f"[{string.ascii_letters}]", re.IGNORECASE)
    return frozenset(char for char in map(chr, range(0x80, 0x10000))
                     if not 0xD800 <= ord(char) < 0xE000 and letters.fullmatch(char))


def holds(found: tuple[tuple[str, ...], tuple[str, ...]], text: str, lowered: str | None) -> bool:
    """Might the line hold one of these strings (False: surely not)?"""
    cased, caseless = found
    if any(needle in text for needle in cased):
        return True
    if not caseless:
        return False
    return lowered is None or any(needle in lowered for needle in caseless)


class Classifier:
    """Severity of each line, keeping per agent whether it is inside a traceback."""

    def __init__(self, rules: Sequence[tuple[str, Severity]] = (), defaults: bool = True,
                 prefilter: bool = True) -> None:
        ordered = [*rules, *(DEFAULT_RULES if defaults else ())]
        self._rules = [(re.compile(pattern), severity, needles(pattern) if prefilter else None)
                       for pattern, severity in ordered]
        self._caseless = any(found is not None and found[1] for _, _, found in self._rules)
        self._every: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        """Every rule's strings, when every rule has them: a line holding none of them matches no rule."""
        found_all = [found for _, _, found in self._rules]
        if all(found is not None for found in found_all):
            self._every = (tuple(sorted({n for found in found_all if found for n in found[0]})),
                           tuple(sorted({n for found in found_all if found for n in found[1]})))
        self._like_ascii = _like_ascii_letters() if self._caseless else frozenset()
        self._in_traceback: set[str] = set()

    def __call__(self, agent: str, text: str) -> Severity:
        if agent in self._in_traceback:
            if text[:1].isspace() or text.startswith("During handling") or not text.strip():
                return Severity.ERROR
            self._in_traceback.discard(agent)  # the exception line ends it
            if not text.startswith("The above exception"):
                return Severity.ERROR
        lowered = None  # the line in lower case, for the strings compared ignoring case; None: cannot tell
        if self._caseless and (text.isascii() or self._like_ascii.isdisjoint(text)):
            lowered = text.lower()
        if self._every is not None and not holds(self._every, text, lowered):
            return Severity.INFO
        for pattern, severity, found in self._rules:
            if found is not None and not holds(found, text, lowered):
                continue  # it holds no string every match of the rule holds
            if pattern.search(text):
                if severity is Severity.ERROR and TRACEBACK_RE.search(text):
                    self._in_traceback.add(agent)
                return severity
        return Severity.INFO

    def forget(self, agents: Iterable[str]) -> None:
        self._in_traceback.difference_update(agents)
