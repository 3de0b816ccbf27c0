"""Messages from workers to the app.

The mirror worker does not send one message per captured pane: it keeps the newest screen of each agent
and posts a single FleetObserved when there is news (never a second one before the first is handled);
the app then takes every newest screen at once. A newer capture thus always replaces an older one, and
a busy UI never works through a backlog of stale screens.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class FleetObserved(Message):
    """The mirror has news (statuses, screens, state changes): take it with Mirror.take()."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FleetObserved)


@dataclass
class ActionFinished(Message):
    """A lifecycle action (start, stop, send...) finished; `ok` False means show it as an error."""

    message: str
    ok: bool = True
