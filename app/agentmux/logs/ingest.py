"""The lease holder's log duty, once per tick: new lines of every agent's pane, and a claude agent's turns from
its hook events, masked and classified, into the log database.

One capture round trip for the panes whose signals moved (`logs/capture.py` says which rows); panes that did
not move only have their settled screen lines logged, without a tmux call. Each line is masked before it
becomes an entry: the agent's own secret values (`Fleet.redactor`), then key shapes and private key blocks
(`redact.KeyMasker`); a masked line keeps no styles. Hook events become structured entries (stream `event`):
the prompt, each tool call with its command or path, permission decisions, notifications, the turn's end or
failure.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from agentmux.agents.detectors import failure_reason
from agentmux.agents.observer import Watched
from agentmux.config import LogSettings
from agentmux.errors import AgentmuxError
from agentmux.logs.capture import PaneTail
from agentmux.logs.model import LogEntry, Severity, Stream
from agentmux.logs.query import LogQuery
from agentmux.logs.severity import Classifier
from agentmux.logs.store import LogStore
from agentmux.policy import subject
from agentmux.redact import KeyMasker
from agentmux.store import HookEvent
from agentmux.tmux.backend import PaneInfo

ANCHOR_ENTRIES = 3
"""Entries an agent last logged, read when a pane is first seen: where a reader before this one stopped."""
TEXT_LIMIT = 2000
"""Characters of one event entry's text (a pasted prompt can be long)."""
HOOK_BATCH = 2000
CAPTURE_EVERY = 0.5
"""Seconds between two captures of a printing pane for the log (the screens the TUI shows are captured at
every look): lines that scrolled off meanwhile are read from the history, a line redrawn in place changes
between two captures all the same, and a fleet printing at full speed costs a fifth of a capture per look."""


def _classifier(settings: LogSettings) -> Classifier:
    return Classifier([(rule.match, Severity.parse(rule.level)) for rule in settings.rules],
                      defaults=settings.default_rules)


class LogIngest:
    """Writes every agent's new output to the log database (only while this process holds the lease)."""

    def __init__(self, fleet: Watched, clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.clock = clock
        self._settings = fleet.config.logs
        self._store: LogStore | None = None
        self.classify = _classifier(self._settings)
        self.tails: dict[str, PaneTail] = {}
        self._seen: dict[str, tuple[tuple[int, int, int, int, bool], float, int | None]] = {}
        self._maskers: dict[str, KeyMasker] = {}
        self._hook_id: int | None = None
        self._agent_of: dict[str, str] = {}
        self.problem: str | None = None
        """Why logs are not written (the log database cannot be opened), said once; None while they are."""
        self.written = 0

    @property
    def store(self) -> LogStore:
        if self._store is None:
            self._store = LogStore(self.fleet.config.logs_path, self._settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def tick(self, panes: Mapping[str, PaneInfo], now: float | None = None) -> list[LogEntry]:
        """One look's lines and events, stored; returns them (masked)."""
        now = self.clock() if now is None else now
        settings = self.fleet.config.logs
        if settings is not self._settings:  # the config file changed
            self._settings, self.classify = settings, _classifier(settings)
            if self._store is not None:
                self._store.limits = settings
            for tail in self.tails.values():
                tail.settle = settings.settle
        try:
            store = self.store
            entries = self._screens(panes, now) + self._events()
            if entries:
                store.append(entries)
                self.written += len(entries)
        except (AgentmuxError, sqlite3.Error) as exc:
            self.problem = f"logs are not written: {exc}"
            self.close()  # opened again at the next look
            return []
        self.problem = None
        return entries

    # --- screens -----------------------------------------------------------------------------------------

    def _screens(self, panes: Mapping[str, PaneInfo], now: float) -> list[LogEntry]:
        found: list[tuple[str, PaneInfo | None, list[tuple[str, str]]]] = []
        current = {pane.pane_id for pane in panes.values()}
        for pane_id in [pane_id for pane_id in self.tails if pane_id not in current]:
            ended = self.tails.pop(pane_id)  # its session ended: what it showed last will not change
            self._seen.pop(pane_id, None)
            agent = self._agent_of.pop(pane_id, None)
            if agent is not None:
                found.append((agent, None, ended.flush()))
        self._agent_of = {pane.pane_id: name for name, pane in panes.items()}
        wanted: list[tuple[str, PaneInfo, PaneTail, int]] = []
        for name, pane in panes.items():
            known = self.tails.get(pane.pane_id)
            tail = known if known is not None else PaneTail(pane.pane_id, self._settings.settle, self._anchor(name))
            self.tails[pane.pane_id] = tail
            seen = self._seen.get(pane.pane_id)
            moved = seen is None or pane.change_signal != seen[0] or pane.activity >= int(seen[1]) \
                or pane.pid != seen[2]
            due = seen is None or now - seen[1] >= CAPTURE_EVERY or pane.dead or pane.pid != seen[2]
            if pane.alternate or not moved:
                found.append((name, pane, tail.settled(now)))  # nothing changed on it: its lines stood still
                continue
            if not due:
                continue  # it prints: read at its next capture
            self._seen[pane.pane_id] = (pane.change_signal, now, pane.pid)
            wanted.append((name, pane, tail, tail.rows_wanted(pane)))
        again: list[tuple[str, PaneInfo, PaneTail, int]] = []
        for round_ in (wanted, again):
            if not round_:
                continue
            texts = self.fleet.tmux.capture_sized([tail.request(pane, rows) for _, pane, tail, rows in round_])
            for name, listed, tail, rows in round_:
                got = texts.get(listed.pane_id)
                if got is None:
                    continue  # gone in between
                (history, height, width), text = got
                pane = replace(listed, history_size=history, height=height, width=width)
                captured = tail.take(pane, text, rows, now)
                if captured is None:
                    if round_ is wanted:  # no overlap: read the whole history, at once
                        again.append((name, pane, tail, pane.history_size))
                    else:
                        self._seen.pop(pane.pane_id, None)  # it prints on: at the next look
                    continue
                lines = captured.lines
                if pane.dead:
                    lines += tail.flush()
                if captured.gap:
                    found.append((name, pane, [("", "[agentmux: lines were lost here: the pane printed more than "
                                                 "its history keeps between two looks]")]))
                found.append((name, pane, lines))
        return [entry for name, pane, lines in found for entry in self._entries(name, pane, lines, now)]

    def _anchor(self, name: str) -> list[str]:
        try:
            recent = self.store.search(LogQuery(agents=(name,), limit=ANCHOR_ENTRIES * 4))
        except AgentmuxError:
            return []
        return [entry.text for entry in recent if entry.stream is Stream.SCREEN][-ANCHOR_ENTRIES:]

    def _entries(self, name: str, pane: PaneInfo | None, lines: Iterable[tuple[str, str]],
                 now: float) -> list[LogEntry]:
        entries = []
        redactor = None
        masker = self._maskers.get(name)
        if masker is None:
            masker = self._maskers[name] = KeyMasker()
        for styled, text in lines:
            if redactor is None:
                redactor = self.fleet.redactor(name, pane)
            masked = masker(redactor(text) if redactor else text)
            shown: str | None = styled if masked == text and styled and styled != text else None
            if not styled:  # agentmux's own note
                entries.append(LogEntry(at=now, agent=name, text=masked, severity=Severity.WARNING,
                                        stream=Stream.EVENT))
                continue
            entries.append(LogEntry(at=now, agent=name, text=masked, severity=self.classify(name, masked),
                                    styled=shown))
        return entries

    # --- hook events -------------------------------------------------------------------------------------

    def _events(self) -> list[LogEntry]:
        store = self.fleet.store
        if self._hook_id is None:
            self._hook_id = self.store.meta_int("hook_id")
            if self._hook_id is None:  # a new log database: from now on, not the store's whole past
                self._hook_id = store.last_hook_event_id()
                self.store.set_meta("hook_id", self._hook_id)
        events = store.hook_events_after(self._hook_id)[:HOOK_BATCH]
        if not events:
            return []
        entries = []
        for event in events:
            entry = self._event_entry(event)
            if entry is not None:
                entries.append(entry)
        self._hook_id = events[-1].id
        self.store.set_meta("hook_id", self._hook_id)
        return entries

    def _event_entry(self, event: HookEvent) -> LogEntry | None:
        described = describe(event)
        if described is None:
            return None
        severity, text = described
        redactor = self.fleet.redactor(event.agent, None)
        masked = KeyMasker()(redactor(text) if redactor else text)
        return LogEntry(at=event.at, agent=event.agent, text=masked[:TEXT_LIMIT], severity=severity,
                        stream=Stream.EVENT)


def _one_line(value: object, limit: int = 300) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def describe(event: HookEvent) -> tuple[Severity, str] | None:
    """A hook event as a log entry's severity and text (None: an event that says nothing a reader needs)."""
    try:
        payload = json.loads(event.payload or "{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    tool = str(payload.get("tool_name") or "")
    what = _one_line(subject(payload.get("tool_input")) or "")
    call = f"{tool}: {what}" if what else tool
    name = event.event
    if name == "UserPromptSubmit":
        return Severity.INFO, f"prompt: {_one_line(payload.get('prompt'), TEXT_LIMIT)}"
    if name == "PreToolUse":
        return Severity.INFO, f"tool {call}"
    if name == "PostToolUseFailure":
        return Severity.ERROR, f"tool {call} failed: {_one_line(payload.get('error'))}".rstrip(": ")
    if name == "PostToolUse":
        return None  # the call was logged as it started; its output is on the screen
    if name == "PermissionRequest":
        decided = event.detail or "asked the user"
        severity = Severity.WARNING if "refused" in decided or "user" in decided or not event.detail \
            else Severity.INFO
        return severity, f"permission {call}: {decided}"
    if name == "Notification":
        return Severity.INFO, f"notification: {_one_line(payload.get('message') or event.detail)}"
    if name == "Stop":
        return Severity.INFO, "turn ended"
    if name == "StopFailure":
        return Severity.ERROR, f"turn failed: {failure_reason(payload)}"
    if name in ("SessionStart", "SessionEnd", "SubagentStop", "PreCompact"):
        source = payload.get("source") or payload.get("reason") or payload.get("trigger") or ""
        return Severity.DEBUG, f"{name}{': ' + _one_line(source) if source else ''}"
    return Severity.DEBUG, name
