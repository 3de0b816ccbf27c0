"""Logs: every line an agent prints (and a claude agent's turns, from its hooks) as entries with time, agent,
stream and severity, masked before they are kept, in a bounded ring for the live view and a capped,
full-text indexed SQLite file for history (README, "Logs"; ARCHITECTURE.md, "Logs").

`capture.py` finds the new lines of a pane, `severity.py` classifies them, `ingest.py` is the lease holder's
duty that writes them, `store.py` keeps and searches them, `query.py` says what a search asks, `feed.py` is
the live view's ring."""

from agentmux.logs.model import LogEntry, Severity, Stream
from agentmux.logs.query import LogQuery
from agentmux.logs.store import LogStore

__all__ = ["LogEntry", "LogQuery", "LogStore", "Severity", "Stream"]
