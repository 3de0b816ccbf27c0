"""`--if-output` patterns: checked and matched with RE2, the one place the queue, the CLI and the TUI's form
agree on what a pattern is and means.

RE2 matches in time linear in the text (a task's result is at most 16,000 characters), so no pattern can
stall a process the way Python's backtracking `re` does on `(a+)+$`. It has no backreferences and no
lookaround: a pattern that uses them is refused when the task is added, saying so. `^` and `$` match at
every line (multi-line), as before.
"""

from __future__ import annotations

from typing import Any

import re2

from agentmux.errors import UsageError

MAX_MEM = 4 << 20
"""Bytes RE2 may use for one pattern (compiled program and matching cache): a pattern too large for it is
refused; matching only slows down (still linear) when the cache fills."""
SYNTAX = r"patterns use RE2 syntax: no backreferences (\1), lookahead or lookbehind ((?=…), (?<=…)); \z ends the text"
SHOWN = 60
"""Characters of a pattern or of RE2's complaint shown in a one-line message."""


class PatternError(UsageError):
    """A pattern that cannot be used or could not be evaluated; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"--if-output is {reason}")
        self.reason = reason


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # else RE2 writes its own complaint to standard error
    options.max_mem = MAX_MEM
    return options


def one_line(text: str, limit: int = SHOWN) -> str:
    """Text fit for a one-line message: control characters escaped, at most `limit` characters."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[:limit - 1] + "…"


class Pattern:
    """A compiled `--if-output` pattern."""

    def __init__(self, pattern: str) -> None:
        try:
            pattern.encode()
        except UnicodeEncodeError as exc:
            raise PatternError(f"not valid UTF-8 text ({_not_a_character(pattern[exc.start])})") from None
        try:
            self._regexp: Any = re2.compile("(?m)" + pattern, _options())
        except re2.error as exc:
            raise PatternError(f"not a valid regular expression: {_complaint(exc)} ({SYNTAX})") from None
        finally:
            # re2 keeps the last 128 patterns compiled, each with up to MAX_MEM: a long-running process keeps none
            re2.purge()
        self.pattern = pattern

    def search(self, text: str) -> bool:
        """Does the pattern match anywhere in `text`? PatternError when it could not be evaluated."""
        try:
            return self._regexp.search(text) is not None
        except Exception as exc:  # noqa: BLE001 - out of memory, text that cannot be encoded: the condition fails
            raise PatternError(f"not decidable: matching failed ({type(exc).__name__}: {one_line(str(exc))})") \
                from None


def _not_a_character(surrogate: str) -> str:
    """What a command line's stray byte (kept as a surrogate by Python) or a lone surrogate is."""
    code = ord(surrogate)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x} is not part of a character"
    return f"U+{code:04X} is half of a surrogate pair, not a character"


def _complaint(exc: re2.error) -> str:
    """RE2's reason, without the multi-line prefix agentmux adds to the pattern."""
    raw = exc.args[0] if exc.args else ""
    reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return one_line(reason.replace(": (?m)", ": ", 1))


def check(pattern: str) -> None:
    """Refuse (PatternError, exit code 2) a pattern RE2 cannot use."""
    Pattern(pattern)
