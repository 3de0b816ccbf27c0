"""An api agent's conversation, kept in the store (table `api_messages`, migration 9) so a restarted agent goes
on with it. One row per message: its role and its complete content blocks (JSON, as the Messages API takes
them back), and its size in tokens (the API's usage when it gave one, else an estimate).

Trimming drops the oldest whole exchanges: an exchange begins at a user message that is a prompt (not one that
only carries tool results), so a tool_use is never parted from its tool_result and the first message kept is a
user message. The exchange under way (the last one) is never dropped.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agentmux.store import Store

ROLES = ("user", "assistant")


def estimate_tokens(content: list[dict[str, Any]]) -> int:
    """Tokens of content blocks, estimated as a quarter of their text's length (at least 1)."""
    return max(1, len(json.dumps(content, ensure_ascii=False)) // 4)


def starts_exchange(role: str, content: list[dict[str, Any]]) -> bool:
    """A user message that is a prompt: it carries no tool_result (which answers the tool_use before it)."""
    return role == "user" and not any(block.get("type") == "tool_result" for block in content)


class History:
    """The conversation of one api agent (`agent`) in the store."""

    def __init__(self, store: Store, agent: str) -> None:
        self.store = store
        self.agent = agent

    def _rows(self) -> list[tuple[int, str, list[dict[str, Any]], int, float]]:
        rows = self.store.db.execute("SELECT id, role, content, tokens, at FROM api_messages WHERE agent = ? "
                                     "ORDER BY id", (self.agent,)).fetchall()
        return [(row["id"], row["role"], json.loads(row["content"]), row["tokens"], row["at"]) for row in rows]

    def messages(self) -> list[dict[str, Any]]:
        """The conversation as the Messages API takes it: `[{"role": ..., "content": [blocks]}]`, oldest first."""
        return [{"role": role, "content": content} for _, role, content, _, _ in self._rows()]

    def append(self, role: str, content: list[dict[str, Any]], tokens: int | None = None) -> int:
        """Add a message (its complete content blocks); `tokens` None: estimated. Returns its id."""
        if role not in ROLES:
            raise ValueError(f"role must be user or assistant, not {role!r}")
        size = estimate_tokens(content) if tokens is None else tokens
        with self.store.transaction() as db:
            cursor = db.execute("INSERT INTO api_messages (agent, role, content, tokens, at) VALUES (?, ?, ?, ?, ?)",
                                (self.agent, role, json.dumps(content, ensure_ascii=False), size, time.time()))
        return int(cursor.lastrowid or 0)

    def remove(self, message_id: int) -> None:
        """Drop one message (the prompt of a request that failed or was stopped, so roles keep alternating)."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM api_messages WHERE agent = ? AND id = ?", (self.agent, message_id))

    def drop_unanswered(self) -> bool:
        """Drop a last prompt that has no reply: its agent was killed while it waited for a permit or the reply
        (`ask` drops it itself otherwise). Sent again with the next prompt, it would be two prompts in a row."""
        row = self.store.db.execute("SELECT id, role, content FROM api_messages WHERE agent = ? ORDER BY id DESC "
                                    "LIMIT 1", (self.agent,)).fetchone()
        if row is None or not starts_exchange(row["role"], json.loads(row["content"])):
            return False
        self.remove(row["id"])
        return True

    def clear(self) -> int:
        """Forget the whole conversation; returns how many messages were dropped."""
        with self.store.transaction() as db:
            return db.execute("DELETE FROM api_messages WHERE agent = ?", (self.agent,)).rowcount

    def count(self) -> int:
        return int(self.store.db.execute("SELECT count(*) FROM api_messages WHERE agent = ?",
                                         (self.agent,)).fetchone()[0])

    def tokens(self) -> int:
        """The conversation's size in tokens (real where the API said, else estimated)."""
        return int(self.store.db.execute("SELECT coalesce(sum(tokens), 0) FROM api_messages WHERE agent = ?",
                                         (self.agent,)).fetchone()[0])

    def trim(self, budget_tokens: int) -> int:
        """Drop the oldest whole exchanges until the conversation fits `budget_tokens` (or only the last exchange
        is left); returns how many messages were dropped."""
        rows = self._rows()
        starts = [at for at, (_, role, content, _, _) in enumerate(rows) if starts_exchange(role, content)]
        total = sum(row[3] for row in rows)
        cut = 0  # rows before this index go
        if starts and starts[0] > 0:  # messages before the first prompt (none when written by this class)
            cut = starts[0]
            total -= sum(row[3] for row in rows[:cut])
        for start, end in zip(starts, starts[1:], strict=False):
            if total <= budget_tokens:
                break
            total -= sum(row[3] for row in rows[start:end])
            cut = end
        if cut == 0:
            return 0
        with self.store.transaction() as db:
            db.execute("DELETE FROM api_messages WHERE agent = ? AND id <= ?", (self.agent, rows[cut - 1][0]))
        return cut

    def export(self) -> list[dict[str, Any]]:
        """Every message with its tokens and time (Unix seconds), oldest first: what `/export FILE` writes."""
        return [{"role": role, "content": content, "tokens": tokens, "at": at}
                for _, role, content, tokens, at in self._rows()]
