"""The lease holder records each finished turn of a claude agent: its reply and its token usage, read from
Claude Code's transcript (agents/transcript.py), one row in the store's `turns` table per Stop or
StopFailure. The queue takes a task's result from it; the usage view to come sums its tokens.

Claude Code may write the turn's last entries a moment after its Stop hook ran, so a turn whose
transcript does not yet end with the reply Claude Code named (`last_assistant_message`) is read again
at the next looks, for up to SETTLE seconds; then what the transcript holds is recorded (or, with no
transcript, the reply the Stop event carried and no tokens).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from agentmux.agents.transcript import TurnUsage, read_turn
from agentmux.store import HookEvent, Store, TurnRecord

SETTLE = 3.0
"""Seconds a turn's transcript may lag behind its Stop event."""


class TurnRecorder:
    """Reads the turns that ended since the last look; runs in the lease holder's tick, before the dispatcher."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._after: int | None = None
        self._pending: dict[int, HookEvent] = {}

    def tick(self, newest_hook: int | None) -> None:
        """Record what ended up to hook event `newest_hook` (the observer's; None: no claude agent)."""
        if newest_hook is None:
            return
        if self._after is None:
            self._after = self.store.last_turn_end()
        if newest_hook > self._after:
            for event in self.store.turn_ends_after(self._after):
                self._pending[event.id] = event
                self._after = event.id
        for event_id, event in list(self._pending.items()):
            if self._record(event):
                del self._pending[event_id]

    def _record(self, event: HookEvent) -> bool:
        """Record the turn event `event` ended; False to try again at the next look."""
        try:
            payload = json.loads(event.payload)
        except ValueError:
            payload = {}
        said = str(payload.get("last_assistant_message") or "") if isinstance(payload, dict) else ""
        transcript = str(payload.get("transcript_path") or "") if isinstance(payload, dict) else ""
        prompt_id = str(payload.get("prompt_id") or "") if isinstance(payload, dict) else ""
        usage = read_turn(transcript, prompt_id) if transcript and prompt_id else None
        settled = self.clock() - event.at >= SETTLE
        if not settled and (usage is None or (said and usage.last_text.strip() != said.strip())):
            return False
        usage = usage or TurnUsage(prompt_id, reply=said, last_text=said)
        self.store.record_turn(TurnRecord(
            agent=event.agent, session_id=event.session_id, prompt_id=prompt_id, ended_by=event.id, ended_at=event.at,
            failed=event.event == "StopFailure", model=usage.model, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens, calls=usage.calls, reply=usage.reply or said))
        return True

    def pending(self, event_id: int) -> bool:
        """Is the turn ended by this event still waiting for its transcript?"""
        return event_id in self._pending
