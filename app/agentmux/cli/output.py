"""How the CLI says things: ages, tables, outcomes (failures on standard error, one line each), and text read
from standard input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agentmux.agents.lifecycle import Outcome
from agentmux.agents.observer import format_age
from agentmux.ansi import one_line
from agentmux.errors import UsageError


def ago(timestamp: float | None, now: float) -> str:
    return format_age(None if timestamp is None else now - timestamp)

def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)

def report(outcomes: Sequence[Outcome]) -> int:
    """Print what each operation did (failures on standard error, one line each); the exit code."""
    for outcome in outcomes:
        if outcome.ok:
            print(outcome.message)
        else:
            print(f"agentmux: {one_line(outcome.message)}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1

def read_stdin() -> str:
    """Standard input as text: all of it, exactly, or one line saying where it is not UTF-8."""
    from agentmux.agents.delivery import decode_input

    try:
        data = sys.stdin.buffer.read()
    except (OSError, ValueError) as exc:  # closed, or not readable (a detached process, a test's captured stdin)
        raise UsageError(f"cannot read the text from standard input (-): {exc}") from None
    return decode_input(data)
