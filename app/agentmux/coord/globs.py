"""Path patterns of file reservations: does a file match one, and could two ever match the same file.

A pattern is a path relative to its project's root (or absolute outside git) with `/` between segments; a segment
may hold the wildcards of `fnmatch` (`*`, `?`, `[...]`, never crossing a `/`), and a whole segment `**` stands
for any number of segments (none too). Whether two reservations are in each other's way is `overlap`: it must
never miss a real overlap (two agents would edit one file), and may, rarely, see one where no real path matches
both (two wildcard segments whose literal ends agree but whose middles never could), which only costs a refusal
someone can read and work around. tests/coord/test_reservations.py checks it against brute force.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

WILDCARDS = frozenset("*?[")
ANY = "**"


def has_wildcard(text: str) -> bool:
    return any(char in WILDCARDS for char in text)


def escape(text: str) -> str:
    """`text` as a pattern matching only itself (for a file whose name holds wildcard characters)."""
    return "".join(f"[{char}]" if char in WILDCARDS else char for char in text)


def split(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("/"))


def literal_prefix(segment: str) -> str:
    """The characters before the first wildcard (every matching name starts with them)."""
    for index, char in enumerate(segment):
        if char in WILDCARDS:
            return segment[:index]
    return segment


def literal_suffix(segment: str) -> str:
    """The characters after the last wildcard or bracket (every matching name ends with them; stopping at any
    bracket can only make it shorter, never wrong)."""
    for index in range(len(segment) - 1, -1, -1):
        if segment[index] in "*?[]":
            return segment[index + 1:]
    return segment


def segments_overlap(one: str, other: str) -> bool:
    """Could some one name (no `/`) match both segments?"""
    if one == other or fnmatchcase(one, other) or fnmatchcase(other, one):
        return True
    if not (has_wildcard(one) and has_wildcard(other)):
        return False  # a literal name overlaps a pattern only by matching it
    prefixes = literal_prefix(one), literal_prefix(other)
    suffixes = literal_suffix(one), literal_suffix(other)
    return (prefixes[0].startswith(prefixes[1]) or prefixes[1].startswith(prefixes[0])) and (
        suffixes[0].endswith(suffixes[1]) or suffixes[1].endswith(suffixes[0]))


def overlap(one: str, other: str) -> bool:
    """Could some path match both patterns? Conservative: True may be said of two that no real path matches
    both, False never is of two that one does."""
    a, b = split(one), split(other)
    seen: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:  # the product of the two patterns' automata, in state (i, j)
        if (i, j) in seen:
            return seen[(i, j)]
        if i == len(a) and j == len(b):
            found = True
        elif i < len(a) and a[i] == ANY:
            found = walk(i + 1, j) or (j < len(b) and walk(i, j + 1))  # it stands for none, or b's next too
        elif j < len(b) and b[j] == ANY:
            found = walk(i, j + 1) or (i < len(a) and walk(i + 1, j))
        elif i == len(a) or j == len(b):
            found = False
        else:
            found = segments_overlap(a[i], b[j]) and walk(i + 1, j + 1)
        seen[(i, j)] = found
        return found

    return walk(0, 0)


def matches(path: str, pattern: str) -> bool:
    """Does the file `path` (taken literally, segments by `/`) match `pattern`?"""
    names, parts = split(path), split(pattern)
    seen: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:
        if (i, j) not in seen:
            if j == len(parts):
                found = i == len(names)
            elif parts[j] == ANY:
                found = walk(i, j + 1) or (i < len(names) and walk(i + 1, j))
            else:
                found = i < len(names) and fnmatchcase(names[i], parts[j]) and walk(i + 1, j + 1)
            seen[(i, j)] = found
        return seen[(i, j)]

    return walk(0, 0)
