"""What a log search asks, and how it is answered: the trigram index narrows (every word or phrase, and every
literal run of 3 or more characters a regular expression requires), then each candidate is checked exactly.

Words and phrases match as substrings, ignoring case (`conn refused` finds `Connection refused`); a regular
expression is Python's `re`, searched in the plain text (case-sensitive unless `ignore_case`), like `grep -E`
for the expressions both know."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cached_property
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the parser `re` uses: literals a pattern needs

from agentmux.logs.model import Severity

GRAM = 3
"""The trigram index finds substrings of at least this many characters; shorter ones are checked row by row."""


def split_terms(text: str) -> tuple[str, ...]:
    """Words, and "quoted phrases" kept whole: `build "connection refused"` is two terms."""
    try:
        parts = shlex.split(text, posix=True)
    except ValueError:  # an unbalanced quote: take the words as they are
        parts = text.replace('"', " ").split()
    return tuple(part for part in parts if part)


def required_literals(pattern: str, ignore_case: bool = False) -> list[str]:
    """Runs of literal characters every match of the pattern contains (only from its top-level sequence:
    an alternation at the top requires nothing). Raises ValueError for a pattern that is not valid."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    runs: list[str] = []
    current: list[str] = []
    for op, value in parsed:
        if op is sre_parse.LITERAL:
            current.append(chr(value))
            continue
        if current:
            runs.append("".join(current))
        current = []
    if current:
        runs.append("".join(current))
    return [run for run in runs if len(run) >= GRAM]


def fts_phrase(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def covering_grams(term: str) -> list[str]:
    """Trigrams that together cover a term: every third one, and the last (the index has no positions, so a
    candidate holding them all is checked for the whole term)."""
    folded = term.lower()
    grams = [folded[i:i + GRAM] for i in range(0, len(folded) - GRAM + 1, GRAM)]
    if len(folded) >= GRAM and (len(folded) - GRAM) % GRAM:
        grams.append(folded[-GRAM:])
    return grams


@dataclass(frozen=True)
class LogQuery:
    """A search over stored entries. Every field narrows; the default asks for the newest entries of all."""

    agents: tuple[str, ...] = ()
    """Only these agents' entries (empty: every agent's)."""
    text: str = ""
    """Words and "quoted phrases"; each must appear (a substring, any case)."""
    regex: str | None = None
    ignore_case: bool = False
    """The regular expression ignores case (words and phrases always do)."""
    level: Severity | None = None
    """At least this severity."""
    since: float | None = None
    until: float | None = None
    before_id: int | None = None
    """Only entries older than this one (paging back)."""
    after_id: int | None = None
    """Only entries newer than this one (following)."""
    limit: int = 1000
    """At most this many: the newest that match (returned oldest first)."""

    def __post_init__(self) -> None:
        if self.regex is not None:
            required_literals(self.regex, self.ignore_case)  # raises for a bad pattern, before any query

    @cached_property
    def terms(self) -> tuple[str, ...]:
        return split_terms(self.text)

    @cached_property
    def folded_terms(self) -> tuple[str, ...]:
        return tuple(term.casefold() for term in self.terms)

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        if self.regex is None:
            return None
        return re.compile(self.regex, re.IGNORECASE if self.ignore_case else 0)

    @property
    def filters_text(self) -> bool:
        return bool(self.terms) or self.regex is not None

    def fts_match(self) -> str | None:
        """The index query every match satisfies (None: the index cannot narrow this search)."""
        grams: list[str] = []
        for term in self.terms:
            grams += covering_grams(term)
        if self.regex is not None:
            for literal in required_literals(self.regex, self.ignore_case):
                grams += covering_grams(literal)
        unique = list(dict.fromkeys(grams))
        return " AND ".join(fts_phrase(gram) for gram in unique) if unique else None

    def accepts(self, text: str) -> bool:
        """The exact check of one entry's plain text."""
        if self.folded_terms:
            folded = text.casefold()
            if not all(term in folded for term in self.folded_terms):
                return False
        pattern = self.pattern
        return pattern is None or pattern.search(text) is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the terms and the expression match in a text (for highlighting), merged, in order."""
        found: list[tuple[int, int]] = []
        folded = text.casefold()
        same_length = len(folded) == len(text)  # casefold can change lengths (ß); then highlight by the regex only
        if same_length:
            for term in self.folded_terms:
                start = folded.find(term)
                while start >= 0 and term:
                    found.append((start, start + len(term)))
                    start = folded.find(term, start + len(term))
        if self.pattern is not None:
            found += [(m.start(), m.end()) for m in self.pattern.finditer(text) if m.end() > m.start()]
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged
