"""Who is calling, and when what an owner holds ends with its agent.

Inside an agent `AGENTMUX_AGENT` names the caller; `--as NAME` lets a person (or a script) act as any name.
What an owner takes while its agent runs is bound to that run (the agent's `started_at`): when the run ends (the
agent exits, is stopped, restarted or removed) the hold is dead, whatever its lease says. A name that is no
running agent (a person, a script) holds until it releases or its lease ends.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Mapping

from agentmux.errors import AgentmuxError, UsageError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,127}")
"""Names of owners, locks and barriers: a letter or digit, then letters, digits and `_.:/@+-`, 128 at most."""

ENDED_STATES = ("exited", "stopped")


class Refused(AgentmuxError):
    """Not granted: held by another, not yours, a lease that ended (exit 1)."""


class TimedOut(AgentmuxError):
    """A wait ended without the thing waited for (exit 1)."""


def check_name(what: str, name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"{what} {name!r}: use letters, digits and _.:/@+- (128 at most, starting with a letter "
                         "or digit)")
    return name


def caller(as_name: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The owner a call acts for: `--as NAME`, else the agent whose pane runs it (AGENTMUX_AGENT)."""
    if as_name:
        return check_name("--as", as_name)
    agent = (os.environ if environ is None else environ).get("AGENTMUX_AGENT", "")
    if agent:
        return check_name("AGENTMUX_AGENT", agent)
    raise UsageError("who is asking? Outside an agent give --as NAME (inside one AGENTMUX_AGENT says it)")


def bound_run(db: sqlite3.Connection, owner: str) -> float | None:
    """The run of the owner's agent a hold is bound to: its start time while it runs, None for other owners."""
    row = db.execute("SELECT started_at FROM agents WHERE name = ? AND state NOT IN ('exited', 'stopped') "
                     "AND started_at IS NOT NULL", (owner,)).fetchone()
    return None if row is None else float(row[0])


def dead(owner: str, bound: str) -> str:
    """SQL true when a row's owner agent's run (column `bound`) has ended: the agent exited, stopped, restarted
    or is gone. `owner` and `bound` name the row's columns."""
    return (f"({bound} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.name = {owner} "
            f"AND a.started_at = {bound} AND a.state NOT IN ('exited', 'stopped')))")
