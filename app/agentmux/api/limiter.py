"""One rate limiter per API key, shared by every agent and process through the store (README: Rate limits and
usage).

Every request to the Messages API first takes a permit: `Limiter.reserve(key, agent, input_estimate,
max_output)` waits until the key has room and returns a `Permit`; after the reply, `Permit.settle` puts the
real token counts in place of the estimates and lets the `anthropic-ratelimit-*` headers correct the key's
state, `Permit.refused(retry_after)` (a 429) holds everybody on the key back until then, `Permit.cancel()`
gives the room back when nothing was sent.

The invariant: within any sliding window (`KeyLimits.window`, 60 s) no more than `requests_per_minute`
requests, and no more input or output tokens than the limits, reach the API. A permit occupies the window
from its grant until `window` seconds after it ended (settled or refused; a permit never settled, its
process gone, until HOLD after its grant): the request reaches the API somewhere between the two, so the
API's own count of any window can never exceed ours, whatever the latency.

Waiting is fair: each waiter is a row of `api_waiters`; only the head may take a permit. The head is, among
each agent's oldest waiter on the key (FIFO within an agent), the one whose agent had the fewest permits in
the window for its `share`, ties going to the oldest: one agent with a hundred queued requests takes its
share, not the key. Waiters sleep on a socket (api/wake.py) and are woken when a permit is granted or ends;
the head sleeps until the window frees up, every pause bounded by MAX_PAUSE. Every write is one IMMEDIATE
transaction (api/db.py), so two processes never both take the last room.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentmux.api.db import transaction
from agentmux.api.wake import Listener, notify
from agentmux.config.model import ApiSettings
from agentmux.errors import AgentmuxError
from agentmux.store import Store

MAX_PAUSE = 1.0
"""The longest a waiter sleeps before it looks again (wake-ups usually come first)."""
STALE = 10.0
"""A waiter that has not looked for this long is gone (its process died): removed so it heads no queue."""
HOLD = 600.0
"""How long a permit never settled counts as in flight (a request's longest upstream time)."""
RETAIN = 3600.0
"""Permits older than this (beyond the window and HOLD) are pruned."""

HEADER_KINDS = ("requests", "input", "output")
HEADERS = {"requests": "anthropic-ratelimit-requests", "input": "anthropic-ratelimit-input-tokens",
           "output": "anthropic-ratelimit-output-tokens"}


@dataclass(frozen=True)
class KeyLimits:
    """The limits of one API key (`[api.keys.NAME]`)."""

    requests_per_minute: int = 50
    input_tokens_per_minute: int = 40000
    output_tokens_per_minute: int = 8000
    window: float = 60.0
    """Seconds of the sliding window the limits count over (60: per minute; tests shorten it)."""


def limits_of(api: ApiSettings) -> dict[str, KeyLimits]:
    """Each `[api.keys.NAME]`'s limits, by name (`Limiter(store, state_dir, limits_of(config.api))`)."""
    return {name: KeyLimits(key.requests_per_minute, key.input_tokens_per_minute, key.output_tokens_per_minute)
            for name, key in api.keys.items()}


@dataclass(frozen=True)
class Waiter:
    """Someone waiting for a permit: for the pane and the TUI."""

    key: str
    agent: str
    since: float
    share: int
    pid: int


class LimitTimeout(AgentmuxError):
    """No permit within the time the caller would wait."""


class Permit:
    """Room for one request on a key. End it once: settle, refused or cancel."""

    def __init__(self, limiter: Limiter, id: int, key: str, agent: str, at: float, waited: float) -> None:
        self.limiter = limiter
        self.id = id
        self.key = key
        self.agent = agent
        self.at = at
        self.waited = waited
        """Seconds reserve waited for it."""

    def settle(self, input_tokens: int, output_tokens: int, headers: Mapping[str, str] | None = None) -> None:
        """The request's real usage in place of the estimates; the rate-limit headers correct the key."""
        self.limiter._end(self, "settled", input_tokens, output_tokens, headers)

    def refused(self, retry_after: float) -> None:
        """The API answered 429: nobody on this key goes before `retry_after` seconds from now."""
        self.limiter._end(self, "refused", None, None, None, retry_after=max(0.0, retry_after))

    def cancel(self) -> None:
        """Nothing was sent: the room is given back."""
        self.limiter._end(self, "cancelled", 0, 0, None)


def parse_reset(value: str, now: float) -> float | None:
    """A reset header (RFC 3339, as the API sends it; or seconds from now) as Unix seconds."""
    text = value.strip()
    try:
        return now + float(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Limiter:
    """The shared limiter of the store's API keys (`limits`: each key's by name)."""

    def __init__(self, store: Store, state_dir: Path, limits: Mapping[str, KeyLimits],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state_dir = state_dir
        self.limits = dict(limits)
        self.clock = clock

    def reserve(self, key: str, agent: str, input_estimate: int, max_output: int, *, wait: float | None = None,
                on_wait: Callable[[str, float], None] | None = None, share: int = 1) -> Permit:
        """Wait for room for one request (at most `wait` seconds, else LimitTimeout; None: as long as it
        takes). `on_wait(reason, seconds)` is told once, when it has to wait, why and for about how long.
        `share` is the agent's weight among those waiting on the key (its `[[agents]]` `share`)."""
        limits = self.limits.get(key)
        if limits is None:
            raise AgentmuxError(f"unknown API key {key!r} (known: {', '.join(self.limits) or 'none'})")
        started = time.monotonic()
        deadline = None if wait is None else started + wait
        granted: Permit | None = None
        waiter: int | None = None
        told = False
        listener: Listener | None = None
        try:
            while True:
                waiter, permit_id, at, pause, reason = self._try(waiter, key, agent, max(1, share), limits,
                                                                 max(0, input_estimate), max(0, max_output))
                if permit_id is not None:
                    granted = Permit(self, permit_id, key, agent, at, time.monotonic() - started)
                    if listener is not None:
                        notify(self.state_dir, f"key:{key}")  # the next waiter is the head now
                    return granted
                if deadline is not None and time.monotonic() >= deadline:
                    raise LimitTimeout(f"API key {key!r}: no room for agent {agent!r} within {wait:g}s ({reason})")
                if not told and on_wait is not None:
                    on_wait(reason, pause)
                    told = True
                if listener is None:  # listening from now on, then one more look: no wake-up is missed
                    listener = Listener(self.state_dir, f"key:{key}")
                    continue
                pause = min(pause, MAX_PAUSE)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                listener.wait(pause)
        finally:
            if listener is not None:
                listener.close()
            if granted is None and waiter is not None:
                with transaction(self.store) as db:
                    db.execute("DELETE FROM api_waiters WHERE id = ?", (waiter,))
                notify(self.state_dir, f"key:{key}")

    def _try(self, waiter: int | None, key: str, agent: str, share: int, limits: KeyLimits, input_estimate: int,
             max_output: int) -> tuple[int, int | None, float, float, str]:
        """One look, as waiter `waiter` (None: the first look, which joins the queue): (waiter, permit id,
        grant time, 0, "") when granted, else (waiter, None, 0, seconds to wait, why)."""
        with transaction(self.store) as db:
            now = self.clock()
            window = limits.window
            if waiter is None or db.execute("UPDATE api_waiters SET seen = ? WHERE id = ?",
                                            (now, waiter)).rowcount == 0:
                waiter = db.execute("INSERT INTO api_waiters (id, key, agent, share, since, seen, pid) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    (waiter, key, agent, share, now, now, os.getpid())).lastrowid
                assert waiter is not None
            db.execute("DELETE FROM api_waiters WHERE key = ? AND seen < ?", (key, now - STALE))
            head = self._head(db, key, now - window)
            if head is not None and head[0] != waiter:
                return waiter, None, 0.0, MAX_PAUSE, f"queued behind agent {head[1]}"
            pause, reason = self._room(db, key, limits, now, input_estimate, max_output)
            if pause > 0:
                return waiter, None, 0.0, pause, reason
            permit = db.execute("INSERT INTO api_permits (key, agent, at, input, output, state) "
                                "VALUES (?, ?, ?, ?, ?, 'held')",
                                (key, agent, now, input_estimate, max_output)).lastrowid
            db.execute("DELETE FROM api_waiters WHERE id = ?", (waiter,))
            db.execute("DELETE FROM api_permits WHERE key = ? AND at < ?", (key, now - max(RETAIN, window + HOLD)))
            assert permit is not None
            return waiter, permit, now, 0.0, ""

    @staticmethod
    def _head(db: sqlite3.Connection, key: str, since: float) -> tuple[int, str] | None:
        """Who goes next on the key: each agent's oldest waiter, the agent with the fewest recent permits per
        share first, then the oldest."""
        heads = db.execute("SELECT min(id) AS id, agent, max(share) AS share FROM api_waiters WHERE key = ? "
                           "GROUP BY agent", (key,)).fetchall()
        if not heads:
            return None
        if len(heads) == 1:
            return heads[0]["id"], heads[0]["agent"]
        used = {row["agent"]: row["n"] for row in db.execute(
            "SELECT agent, count(*) AS n FROM api_permits WHERE key = ? AND at > ? AND state != 'cancelled' "
            "GROUP BY agent", (key, since))}
        best = min(heads, key=lambda row: (used.get(row["agent"], 0) / row["share"], row["id"]))
        return best["id"], best["agent"]

    def _room(self, db: sqlite3.Connection, key: str, limits: KeyLimits, now: float, input_estimate: int,
              max_output: int) -> tuple[float, str]:
        """0 when a request of this size fits now, else the seconds until it may and why."""
        window = limits.window
        state = db.execute("SELECT * FROM api_key_state WHERE key = ?", (key,)).fetchone()
        if state is not None and state["blocked_until"] > now:
            return state["blocked_until"] - now, "the API refused with 429: retry-after"
        in_window = (  # those that ended within the window, and those in flight (at most HOLD old)
            "SELECT done + ? AS frees, input, output FROM api_permits WHERE key = ? AND done > ? "
            "AND state != 'cancelled' UNION ALL "
            "SELECT at + ? + ? AS frees, input, output FROM api_permits WHERE key = ? AND done IS NULL AND at > ?")
        params = (window, key, now - window, HOLD, window, key, now - window - HOLD)
        total = db.execute(f"SELECT count(*) AS n, coalesce(sum(input), 0) AS input, "
                           f"coalesce(sum(output), 0) AS output FROM ({in_window})", params).fetchone()
        rows: list[sqlite3.Row] = []
        if (total["n"] >= limits.requests_per_minute
                or (total["n"] and total["input"] + input_estimate > limits.input_tokens_per_minute)
                or (total["n"] and total["output"] + max_output > limits.output_tokens_per_minute)):
            rows = db.execute(f"{in_window} ORDER BY frees", params).fetchall()  # only when something is full
        waits: list[tuple[float, str]] = []
        if len(rows) >= limits.requests_per_minute:
            frees = rows[len(rows) - limits.requests_per_minute]["frees"]
            waits.append((frees - now, f"{limits.requests_per_minute} requests per {window:g}s"))
        for column, need, limit, what in (("input", input_estimate, limits.input_tokens_per_minute, "input"),
                                          ("output", max_output, limits.output_tokens_per_minute, "output")):
            used = sum(row[column] for row in rows)
            if rows and used + need > limit:
                freed = 0
                for row in rows:  # the room frees up as the oldest permits leave the window
                    freed += row[column]
                    if used - freed + need <= limit or freed == used:
                        waits.append((row["frees"] - now, f"{limit} {what} tokens per {window:g}s"))
                        break
        if state is not None:
            since = db.execute(
                "SELECT count(*) AS n, coalesce(sum(input), 0) AS input, coalesce(sum(output), 0) AS output "
                "FROM (SELECT input, output FROM api_permits WHERE key = ? AND done > ? AND state != 'cancelled' "
                "UNION ALL SELECT input, output FROM api_permits WHERE key = ? AND done IS NULL AND at > ?)",
                (key, state["observed"], key, now - window - HOLD)).fetchone()
            for kind, need in (("requests", 1), ("input", input_estimate), ("output", max_output)):
                remaining, reset = state[f"{kind}_remaining"], state[f"{kind}_reset"]
                if remaining is None or reset is None or reset <= now:
                    continue
                used = since["n"] if kind == "requests" else since[kind]
                if used + need > remaining:
                    waits.append((reset - now, f"the API's {HEADERS[kind]}-remaining was {remaining}"))
        if not waits:
            return 0.0, ""
        pause, reason = max(waits)
        return max(pause, 0.001), reason

    def _end(self, permit: Permit, state: str, input_tokens: int | None, output_tokens: int | None,
             headers: Mapping[str, str] | None, retry_after: float | None = None) -> None:
        with transaction(self.store) as db:
            now = self.clock()
            db.execute("UPDATE api_permits SET state = ?, done = ?, input = coalesce(?, input), "
                       "output = coalesce(?, output) WHERE id = ? AND state = 'held'",
                       (state, now, input_tokens, output_tokens, permit.id))
            db.execute("INSERT OR IGNORE INTO api_key_state (key) VALUES (?)", (permit.key,))
            if retry_after is not None:
                db.execute("UPDATE api_key_state SET blocked_until = max(blocked_until, ?) WHERE key = ?",
                           (now + retry_after, permit.key))
            if headers:
                self._observe(db, permit.key, headers, now)
        notify(self.state_dir, f"key:{permit.key}")

    @staticmethod
    def _observe(db: sqlite3.Connection, key: str, headers: Mapping[str, str], now: float) -> None:
        """The rate-limit headers of a reply: what the API says is left on the key, and until when."""
        lowered = {name.lower(): value for name, value in headers.items()}
        values: dict[str, object] = {}
        for kind in HEADER_KINDS:
            remaining, reset = lowered.get(f"{HEADERS[kind]}-remaining"), lowered.get(f"{HEADERS[kind]}-reset")
            if remaining is None or reset is None:
                continue
            try:
                count = int(remaining)
            except ValueError:
                continue
            at = parse_reset(reset, now)
            if at is not None:
                values[f"{kind}_remaining"], values[f"{kind}_reset"] = count, at
        retry = lowered.get("retry-after")
        if retry is not None:
            with contextlib.suppress(ValueError):
                db.execute("UPDATE api_key_state SET blocked_until = max(blocked_until, ?) WHERE key = ?",
                           (now + float(retry), key))
        if values:
            sets = ", ".join(f"{column} = ?" for column in values)
            db.execute(f"UPDATE api_key_state SET observed = ?, {sets} WHERE key = ? AND observed <= ?",
                       (now, *values.values(), key, now))

    def waiting(self) -> list[Waiter]:
        """Who waits for a permit, oldest first."""
        rows = self.store.db.execute("SELECT key, agent, since, share, pid FROM api_waiters WHERE seen > ? "
                                     "ORDER BY id", (self.clock() - STALE,)).fetchall()
        return [Waiter(row["key"], row["agent"], row["since"], row["share"], row["pid"]) for row in rows]
