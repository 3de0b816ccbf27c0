"""Reading a turn from Claude Code's transcript (agents/transcript.py): entries laid out as Claude Code 2.1.197
writes them (a user prompt with its promptId, assistant entries holding the API message, one per content block,
tool results carrying the promptId again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentmux.agents import transcript
from agentmux.agents.transcript import read_turn


def prompt(prompt_id: str, text: str) -> dict[str, object]:
    return {"type": "user", "promptId": prompt_id, "message": {"role": "user", "content": text}}


def assistant(message_id: str, block: dict[str, object], tokens: tuple[int, int] = (10, 2)) -> dict[str, object]:
    return {"type": "assistant", "message": {
        "id": message_id, "role": "assistant", "model": "claude-test", "content": [block],
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1], "cache_read_input_tokens": 1,
                  "cache_creation_input_tokens": 0}}}


def turn(prompt_id: str, n: int) -> list[dict[str, object]]:
    return [
        prompt(prompt_id, f"prompt {n}"),
        {"type": "attachment", "attachment": {"type": "reminder"}},
        assistant(f"m{n}a", {"type": "text", "text": f"Looking at {n}."}, (100, 20)),
        assistant(f"m{n}a", {"type": "tool_use", "id": f"t{n}", "name": "Bash", "input": {"command": "ls"}}, (100, 20)),
        {"type": "user", "promptId": prompt_id, "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"t{n}", "content": "x" * 3000}]}},
        assistant(f"m{n}b", {"type": "text", "text": f"Done with {n}."}, (150, 30)),
        {"type": "system", "subtype": "turn_duration"},
    ]


def write(path: Path, entries: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries))
    return path


@pytest.mark.parametrize("block", [256 * 1024, 700])  # the whole tail at once, or a few lines per read
def test_a_turn_in_the_middle_of_a_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(transcript, "BLOCK", block)
    path = write(tmp_path / "s.jsonl", [*turn("p1", 1), *turn("p2", 2), *turn("p3", 3)])
    found = read_turn(path, "p2")
    assert found is not None
    assert (found.reply, found.last_text) == ("Looking at 2.\n\nDone with 2.", "Done with 2.")
    assert (found.input_tokens, found.output_tokens, found.cache_read_tokens, found.calls) == (250, 50, 2, 2)
    assert found.model == "claude-test"
    first = read_turn(path, "p1")
    assert first is not None and first.reply == "Looking at 1.\n\nDone with 1."
    last = read_turn(path, "p3")
    assert last is not None and last.reply == "Looking at 3.\n\nDone with 3."


def test_a_turn_not_there_and_a_transcript_that_is_not_json(tmp_path: Path) -> None:
    path = write(tmp_path / "s.jsonl", turn("p1", 1))
    assert read_turn(path, "nope") is None
    assert read_turn(tmp_path / "missing.jsonl", "p1") is None
    (tmp_path / "junk.jsonl").write_text('not json\n{"type":"user","promptId":"p1"}\n[1]\n{"type":"assistant"}\n')
    found = read_turn(tmp_path / "junk.jsonl", "p1")
    assert found is not None and (found.reply, found.calls) == ("", 0)


def test_a_turn_is_recorded_once_its_transcript_holds_the_reply_or_after_a_while(tmp_path: Path) -> None:
    from agentmux.agents.turns import SETTLE, TurnRecorder
    from agentmux.store import Store

    store = Store(tmp_path / "store.db")
    path = write(tmp_path / "s.jsonl", turn("p1", 1)[:3])  # Claude Code has not written the last message yet
    payload = {"prompt_id": "p1", "transcript_path": str(path), "last_assistant_message": "Done with 1."}
    with store.transaction() as db:
        db.execute("INSERT INTO hook_events (agent, event, at, session_id, payload) VALUES ('cc', 'Stop', 100, 's', ?)",
                   (json.dumps(payload),))
    now = [100.5]
    recorder = TurnRecorder(store, clock=lambda: now[0])
    recorder.tick(1)
    assert store.turns() == [] and recorder.pending(1)
    write(path, turn("p1", 1))
    recorder.tick(1)
    [recorded] = store.turns()
    assert (recorded.reply, recorded.input_tokens, recorded.ended_by) == ("Looking at 1.\n\nDone with 1.", 250, 1)
    # a transcript that never catches up: recorded after SETTLE with what the Stop said
    payload = {"prompt_id": "p9", "transcript_path": str(tmp_path / "gone.jsonl"), "last_assistant_message": "Bye."}
    with store.transaction() as db:
        db.execute("INSERT INTO hook_events (agent, event, at, session_id, payload) VALUES ('cc', 'Stop', 101, 's', ?)",
                   (json.dumps(payload),))
    now[0] = 101.0
    recorder.tick(2)
    assert len(store.turns()) == 1
    now[0] = 101.0 + SETTLE
    recorder.tick(2)
    assert [(t.reply, t.calls) for t in store.turns()] == [("Looking at 1.\n\nDone with 1.", 2), ("Bye.", 0)]
    assert TurnRecorder(store).tick(2) is None and len(store.turns()) == 2  # a new lease holder: nothing twice
