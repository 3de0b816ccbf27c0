"""An api agent's conversation in the store (agentmux/api/history.py), on a real SQLite store; and the api kind's
screen reading (detector, outcome, delivery), on plain strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmux.agents.detectors import Observation, detect_api
from agentmux.agents.kinds import KINDS, Delivery
from agentmux.api.history import History, estimate_tokens
from agentmux.errors import UsageError
from agentmux.state import AgentState
from agentmux.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "store.db")
    yield opened
    opened.close()


def text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def tool_use(tool_id: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": "let me look"},
            {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"path": "x"}}]


def tool_result(tool_id: str) -> list[dict[str, Any]]:
    return [{"type": "tool_result", "tool_use_id": tool_id, "content": "contents of x"}]


def test_messages_come_back_as_the_api_takes_them_per_agent_and_survive_a_new_connection(
        store: Store, tmp_path: Path) -> None:
    history = History(store, "a")
    history.append("user", text("hi"), 3)
    history.append("assistant", text("hello"))
    History(store, "b").append("user", text("other agent"))
    again = Store(tmp_path / "store.db")
    try:
        kept = History(again, "a")
        assert kept.messages() == [{"role": "user", "content": text("hi")},
                                   {"role": "assistant", "content": text("hello")}]
        assert kept.count() == 2 and kept.tokens() == 3 + estimate_tokens(text("hello"))
        assert [m["tokens"] for m in kept.export()] == [3, estimate_tokens(text("hello"))]
        assert all(isinstance(m["at"], float) for m in kept.export())
    finally:
        again.close()


def test_clear_forgets_one_agents_conversation_only(store: Store) -> None:
    History(store, "a").append("user", text("hi"))
    History(store, "b").append("user", text("keep me"))
    assert History(store, "a").clear() == 1
    assert History(store, "a").messages() == []
    assert History(store, "b").count() == 1


def test_remove_drops_one_message(store: Store) -> None:
    history = History(store, "a")
    first = history.append("user", text("one"))
    history.remove(first)
    assert history.count() == 0


def test_append_refuses_a_role_the_api_does_not_know(store: Store) -> None:
    with pytest.raises(ValueError, match="role"):
        History(store, "a").append("system", text("no"))


def test_trim_drops_the_oldest_whole_exchanges_to_the_budget(store: Store) -> None:
    history = History(store, "a")
    for number in range(4):
        history.append("user", text(f"q{number}"), 10)
        history.append("assistant", text(f"a{number}"), 10)
    assert history.trim(1000) == 0 and history.count() == 8
    assert history.trim(45) == 4  # 80 tokens: two exchanges go, 40 are left
    assert [m["content"][0]["text"] for m in history.messages()] == ["q2", "a2", "q3", "a3"]
    assert history.messages()[0]["role"] == "user"


def test_trim_never_drops_the_last_exchange(store: Store) -> None:
    history = History(store, "a")
    history.append("user", text("old"), 500)
    history.append("assistant", text("old reply"), 500)
    history.append("user", text("huge prompt"), 5000)
    assert history.trim(100) == 2
    assert history.messages() == [{"role": "user", "content": text("huge prompt")}]
    assert history.trim(100) == 0


def test_trim_never_parts_a_tool_use_from_its_tool_result(store: Store) -> None:
    history = History(store, "a")
    history.append("user", text("q0"), 10)
    history.append("assistant", tool_use("toolu_1"), 10)
    history.append("user", tool_result("toolu_1"), 10)  # not a prompt: the exchange goes on
    history.append("assistant", text("a0"), 10)
    history.append("user", text("q1"), 10)
    history.append("assistant", text("a1"), 10)
    assert history.trim(25) == 4  # the whole first exchange, tool round trip included
    messages = history.messages()
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == text("q1")
    kept_use = {b["id"] for m in messages for b in m["content"] if b["type"] == "tool_use"}
    kept_result = {b["tool_use_id"] for m in messages for b in m["content"] if b["type"] == "tool_result"}
    assert kept_use == kept_result


def test_trim_keeps_a_tool_round_trip_of_the_last_exchange_whole(store: Store) -> None:
    history = History(store, "a")
    history.append("user", text("q0"), 10)
    history.append("assistant", text("a0"), 10)
    history.append("user", text("q1"), 10)
    history.append("assistant", tool_use("toolu_2"), 10)
    history.append("user", tool_result("toolu_2"), 10)
    assert history.trim(1) == 2
    assert [m["role"] for m in history.messages()] == ["user", "assistant", "user"]
    assert history.messages()[2]["content"][0]["type"] == "tool_result"


def obs(screen: str, **kw: Any) -> Observation:
    values: dict[str, Any] = {"screen": screen, "now": 100.0, "started_at": 0.0, "last_output_at": 99.0,
                              "idle_after": 3.0}
    values.update(kw)
    return Observation(**values)


BANNER = "api agent asker (m): type a prompt\n"


def test_the_api_detector_reads_prompt_reply_retry_and_error() -> None:
    assert detect_api(obs("", last_output_at=None)).state == AgentState.STARTING
    assert detect_api(obs(BANNER + "api> ")).state == AgentState.IDLE
    assert detect_api(obs(BANNER + "api> hello\nthe reply so f")).state == AgentState.BUSY
    retry = detect_api(obs(BANNER + "api> hi\napi error: overloaded (529), retrying in 2 s\n"))
    assert retry.state == AgentState.BUSY and "retrying" in retry.reason
    failed = detect_api(obs(BANNER + "api> hi\napi error: authentication failed (401): invalid x-api-key\napi> "))
    assert failed.state == AgentState.ERROR
    assert failed.reason == "api error: authentication failed (401): invalid x-api-key"
    again = detect_api(obs(BANNER + "api> hi\napi error: overloaded (529)\napi> next\nfine\napi> "))
    assert again.state == AgentState.IDLE
    assert detect_api(obs(BANNER + "api> ", pane_dead=True, exit_status=0)).state == AgentState.EXITED


def test_the_api_kinds_outcome_delivery_and_checks() -> None:
    kind = KINDS["api"]
    assert kind.outcome(["the reply", "api>"]) == (True, "replied")
    assert kind.outcome(["api error: overloaded (529)", "api>"]) == (False, "api error: overloaded (529)")
    assert kind.outcome(["partial", "^C interrupted", "api>"])[0] is False
    assert kind.delivery("one line").typed == "one line"
    assert kind.delivery("two\nlines") == Delivery(script="two\nlines")  # read from a file, as a shell's
    assert kind.delivery("<<").script == "<<" and kind.delivery(". x").script == ". x"
    kind.check_task("a\n.\nb\x1b[1m")  # a file carries any text
    with pytest.raises(UsageError):
        kind.check_task("   ")
    with pytest.raises(UsageError):
        kind.check_task("one line with Ctrl-C \x03")


def test_a_last_prompt_without_a_reply_is_dropped_at_start(store: Store) -> None:
    """An agent killed while its prompt waited for a permit or its reply left the prompt alone at the end: the
    next start drops it, so two prompts never go in a row. A tool result is not a prompt: it stays."""
    history = History(store, "ada")
    assert not history.drop_unanswered()  # nothing at all
    history.append("user", text("first"))
    history.append("assistant", text("answer"))
    assert not history.drop_unanswered()
    history.append("user", text("killed while it waited"))
    assert history.drop_unanswered()
    assert [m["content"][0]["text"] for m in history.messages()] == ["first", "answer"]
    history.append("assistant", tool_use("t1"))
    history.append("user", tool_result("t1"))
    assert not history.drop_unanswered() and history.count() == 4


def test_an_api_agent_waiting_for_a_permit_says_so_not_replying() -> None:
    def seen(screen: str) -> tuple[AgentState, str]:
        detected = detect_api(Observation(screen=screen, now=2.0, started_at=0.0, last_output_at=1.0, idle_after=5.0))
        return detected.state, detected.reason

    assert seen("api> hello\napi: waiting about 3 s for the rate limit of key default: 2 requests per 60s\n") == (
        AgentState.BUSY, "waits for the rate limit of key default")
    assert seen("api> hi\napi: waiting for the rate limit of key team: queued behind agent ada's requests\n") == (
        AgentState.BUSY, "waits for the rate limit of key team")
    assert seen("api> hi\nthe reply so far") == (AgentState.BUSY, "replying")
