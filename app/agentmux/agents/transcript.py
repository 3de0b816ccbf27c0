"""A claude agent's turns read from Claude Code's transcript: the reply and the tokens of each turn.

Claude Code writes its session as JSON Lines (the `transcript_path` of every hook event): the user's prompt
is an entry of type `user` carrying the turn's `promptId` (the `prompt_id` of its hook events), and each
model call of the turn follows as `assistant` entries holding the API's message (its id, model, content
blocks and usage; a message may be written as several entries, one per content block, each with the same
usage). The format is Claude Code's own and undocumented: anything unexpected is skipped, never fatal.

Only the end of the file is read: blocks from the end until the turn's prompt is found (at most
MAX_BACK bytes back), so a long session costs no more per turn than a short one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

MAX_BACK = 32 * 1024 * 1024
"""Bytes from the end of a transcript searched for a turn's prompt."""
BLOCK = 256 * 1024
PROMPT_ID_RE = re.compile(rb'"promptId":\s*"([^"]*)"')


@dataclass(frozen=True)
class TurnUsage:
    """A turn of a claude agent as its transcript has it."""

    prompt_id: str
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    calls: int = 0
    """Model calls (API messages) in the turn."""
    reply: str = ""
    """The assistant's text of the turn, its messages' text in order, a blank line between them."""
    last_text: str = ""
    """The text of the turn's last message with text (what Claude Code calls last_assistant_message)."""


def read_turn(path: str | Path, prompt_id: str) -> TurnUsage | None:
    """The turn whose prompt has `prompt_id`, or None when the transcript does not hold it (yet)."""
    try:
        lines = _tail_from(Path(path), prompt_id)
    except OSError:
        return None
    if lines is None:
        return None
    usage: dict[str, dict[str, int]] = {}
    texts: dict[str, list[str]] = {}
    model, started = "", False
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("isSidechain"):
            continue
        if entry.get("type") == "user" and entry.get("promptId"):
            if entry["promptId"] != prompt_id:
                if started:
                    break  # the next turn
                continue
            started = True
            continue
        message = entry.get("message")
        if not started or entry.get("type") != "assistant" or not isinstance(message, dict):
            continue
        key = str(message.get("id") or len(usage))
        if isinstance(message.get("usage"), dict):
            usage[key] = message["usage"]
        model = str(message.get("model") or model)
        for block in message.get("content") or ():
            if isinstance(block, dict) and block.get("type") == "text" and str(block.get("text") or "").strip():
                texts.setdefault(key, []).append(str(block["text"]))
    if not started:
        return None
    said = ["".join(parts).strip() for parts in texts.values()]

    def total(name: str) -> int:
        return sum(int(u.get(name) or 0) for u in usage.values() if isinstance(u.get(name) or 0, int))

    return TurnUsage(prompt_id, model, total("input_tokens"), total("output_tokens"),
                     total("cache_read_input_tokens"), total("cache_creation_input_tokens"), len(usage),
                     "\n\n".join(said), said[-1] if said else "")


def _tail_from(path: Path, prompt_id: str) -> list[bytes] | None:
    """The file's lines from the first one of the turn `prompt_id`, or None when it is not within MAX_BACK of
    the end. The turn's lines (its prompt, tool results) carry its promptId, with the model's between them:
    it starts at the first of them after the last line of another turn. Each block read is searched once
    (with the cut line it ends in), so the cost grows with what is read, not with its square."""
    ours = prompt_id.encode()
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start, first = size, None  # first: the file offset of the turn's earliest line found so far
        blocks: list[bytes] = []
        carry = b""  # the start of the last block read, up to its first new line: a line cut in two
        while start > 0 and size - start < MAX_BACK:
            step = min(BLOCK, start)
            start -= step
            handle.seek(start)
            block = handle.read(step)
            blocks.append(block)
            chunk = block + carry
            boundary = False
            for found in reversed(list(PROMPT_ID_RE.finditer(chunk))):
                if found.group(1) == ours:
                    first = start + found.start()
                elif first is not None:
                    boundary = True  # the turn before ours: ours began after it
                    break
            cut = block.find(b"\n")
            carry = block[:cut + 1] if cut != -1 else chunk
            if first is not None and (boundary or start == 0):
                break
    if first is None:
        return None
    data = b"".join(reversed(blocks))
    offset = first - start
    return data[data.rfind(b"\n", 0, offset) + 1:].splitlines()  # at MAX_BACK: as much of the turn as was read
