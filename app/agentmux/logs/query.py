"""What a log search asks, and how it is answered: the trigram index narrows (every word or phrase, and every
literal run of 3 or more characters a regular expression requires), then each candidate is checked exactly.

Words and phrases match as substrings, ignoring case letter by letter as the index folds it (`conn refused` finds
`Connection refused`; like `grep -i`, `ß` is not `ss`); a regular expression is Python's `re`, searched in the
plain text (case-sensitive unless `ignore_case`), like `grep -E` for the expressions both know."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import cache, cached_property
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the parser `re` uses: literals a pattern needs

from agentmux.logs.model import Severity

GRAM = 3
"""The trigram index finds substrings of at least this many characters; shorter ones are checked row by row."""
CASED_BELOW = 0x1F000
"""No character at or above this code point has a case (Unicode 15: the last cased letters are Adlam's)."""


@cache
def fold_table() -> dict[int, str]:
    """How SQLite's trigram tokenizer folds case, one character to one (simple case folding of the Unicode
    version SQLite was built with; U+FFFE and U+FFFF read as U+FFFD): asked of SQLite itself, once, so the exact
    check folds exactly as the index does and a candidate the index leaves out could never have matched."""
    probe = [cp for cp in range(CASED_BELOW) if not 0xD800 <= cp < 0xE000 and (
        chr(cp).lower() != chr(cp) or chr(cp).upper() != chr(cp) or chr(cp).casefold() != chr(cp))]
    probe += [0xFFFE, 0xFFFF]
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE probe USING fts5 (text, tokenize = 'trigram', detail = 'full')")
        db.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab (probe, 'instance')")
        db.executemany("INSERT INTO probe (rowid, text) VALUES (?, ?)", ((cp, chr(cp) * GRAM) for cp in probe))
        table = {doc: term[0] for term, doc in db.execute("SELECT term, doc FROM probe_terms") if term}
    finally:
        db.close()
    return {cp: folded for cp, folded in table.items() if folded != chr(cp)}


@cache
def _unlike_lower() -> frozenset[str]:
    """The characters SQLite folds otherwise than `str.lower` does (and Σ, which `str.lower` folds by context)."""
    table = fold_table()
    odd = {chr(cp) for cp in range(CASED_BELOW) if not 0xD800 <= cp < 0xE000
           and chr(cp).lower() != table.get(cp, chr(cp))}
    return frozenset(odd | {"\u03a3", "\ufffe", "\uffff"})


def fold(text: str) -> str:
    """The text with its case folded as the index folds it (one character for one: lengths are kept)."""
    if text.isascii() or _unlike_lower().isdisjoint(text):
        return text.lower()
    return text.translate(fold_table())


@cache
def _universe() -> str:
    """Every character some other character may equal when case is ignored."""
    chars = {chr(cp) for cp in fold_table()} | set(fold_table().values())
    for cp in range(CASED_BELOW):
        if not 0xD800 <= cp < 0xE000:
            char = chr(cp)
            if char.lower() != char or char.upper() != char or char.casefold() != char:
                chars.add(char)
                chars.update(char.lower(), char.upper(), char.casefold())
    return "".join(sorted(chars))


@cache
def index_safe(char: str) -> bool:
    """Does every character Python's `re` takes for this one when ignoring case fold to the same character in
    the index? (`i` does not: `re` matches it to `ı` and `İ`, which the index keeps apart.)"""
    same = re.compile(re.escape(char), re.IGNORECASE).findall(_universe())
    return {fold(other) for other in same} <= {fold(char)}


def split_terms(text: str) -> tuple[str, ...]:
    """Words, and "quoted phrases" kept whole: `build "connection refused"` is two terms. Only double quotes
    quote (`don't` is a word); a quote left open takes the rest as a phrase."""
    terms = []
    for phrase, word in re.findall(r'"([^"]*)"?|([^\s"]+)', text):
        term = phrase or word
        if term.strip():
            terms.append(term)
    return tuple(terms)


def required_literals(pattern: str, ignore_case: bool = False) -> list[str]:
    """Runs of literal characters every match of the pattern contains (only from its top-level sequence:
    an alternation at the top requires nothing). When case is ignored (`ignore_case` or a leading `(?i)`), a
    run is cut at each character the index cannot look up for `re`'s idea of its case. Raises ValueError for a
    pattern that is not valid."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    caseless = bool(parsed.state.flags & re.IGNORECASE)
    runs: list[str] = []
    current: list[str] = []
    for op, value in parsed:
        if op is sre_parse.LITERAL and not (caseless and not index_safe(chr(value))):
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
    """Every trigram of a term (the index has no positions: a candidate must hold them all, and is then checked
    for the whole term; each one more narrows the candidates, inside SQLite)."""
    folded = fold(term)
    return list(dict.fromkeys(folded[i:i + GRAM] for i in range(len(folded) - GRAM + 1)))


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
        return tuple(fold(term) for term in self.terms)

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
            folded = fold(text)
            if not all(term in folded for term in self.folded_terms):
                return False
        pattern = self.pattern
        return pattern is None or pattern.search(text) is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the terms and the expression match in a text (for highlighting), merged, in order."""
        found: list[tuple[int, int]] = []
        folded = fold(text)  # one character for one: positions in it are positions in the text
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
