"""What can be typed into an agent exactly as given, and what must be refused (or, for a shell, sent as a
file it reads). Pure functions over text: no tmux, no store.

agentmux types text by pasting it into the pane. Some text cannot arrive as given that way: a control
character is a key (Ctrl-C interrupts the program, ESC can end a bracketed paste early so the rest runs as
typed keys), NUL ends the text, and a program that reads lines through the terminal (canonical mode: the
kernel's line editing) gets at most 4,095 bytes of a line; the rest is dropped without a word.
"""

from __future__ import annotations

import unicodedata

from agentmux.errors import AgentmuxError, UsageError

CANONICAL_LINE_MAX = 4095
"""Bytes of one line the Linux terminal keeps for a program reading in canonical mode (N_TTY_BUF_SIZE - 1)."""
ALLOWED_CONTROLS = frozenset("\t\n")

_NAMES = {0: "NUL", 3: "Ctrl-C", 4: "Ctrl-D", 8: "backspace", 13: "carriage return", 26: "Ctrl-Z", 27: "ESC",
          127: "DEL"}


def _describe(char: str) -> str:
    code = ord(char)
    if code < 32 and code not in _NAMES:
        return f"U+{code:04X}, Ctrl-{chr(code + 64)}"
    name = _NAMES.get(code) or unicodedata.name(char, "a C1 control character")
    return f"U+{code:04X}, {name}"


def first_control(text: str, allowed: frozenset[str] = ALLOWED_CONTROLS) -> tuple[int, str] | None:
    """(position, character) of the first character that would be a key rather than text, or None."""
    for index, char in enumerate(text):
        code = ord(char)
        if (code < 32 or 127 <= code < 160) and char not in allowed:
            return index, char
    return None


def check_utf8(text: str, what: str = "the text") -> None:
    """Refuse text that came from bytes which are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"{what} is not valid UTF-8 (at character {exc.start + 1})") from None


def decode_input(data: bytes, what: str = "standard input") -> str:
    """Bytes read from a pipe or file as text, or one line saying where they are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def check_typable(text: str, allowed: frozenset[str] = ALLOWED_CONTROLS, hint: str = "") -> None:
    """Refuse text that typing cannot deliver as given: invalid UTF-8 or a control character."""
    check_utf8(text)
    found = first_control(text, allowed)
    if found is not None:
        index, char = found
        raise UsageError(f"the text holds a control character ({_describe(char)}) at character {index + 1}, "
                         f"which would arrive as a key, not as text{hint}")


def long_line(text: str, limit: int = CANONICAL_LINE_MAX) -> tuple[int, int] | None:
    """(line number, bytes) of the first line longer than `limit` bytes, or None."""
    for number, line in enumerate(text.split("\n"), start=1):
        size = len(line.encode("utf-8"))
        if size > limit:
            return number, size
    return None


def check_line_lengths(text: str, who: str, hint: str = "") -> None:
    """Refuse text with a line the terminal would cut, for a program that reads lines through it."""
    found = long_line(text)
    if found is not None:
        number, size = found
        raise AgentmuxError(f"line {number} of the text is {size:,} bytes: {who} reads lines through the terminal, "
                            f"which keeps at most {CANONICAL_LINE_MAX:,} bytes of a line (the rest would be lost)"
                            f"{hint}")
