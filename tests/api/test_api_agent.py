"""API agents (kind `api`, agentmux/api/agent.py) for real: `agentmux api-agent` in a tmux pane, the real
`anthropic` SDK against the loopback fake Messages API (tests/fake_anthropic.py), the conversation in the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Env, Supervisors, wait_until
from tests.fake_anthropic import API_KEY, FakeAnthropic, Reply, Request

KEY_VARIABLE = "AM_TEST_ANTHROPIC_KEY"


class ApiFake(FakeAnthropic):
    """The fake, its script answering every request: an api agent offers no tools, which the fake otherwise
    takes for a side call of Claude Code's."""

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for index, reply in enumerate(self.script):
                if reply.match is None or reply.match in request.user_text:
                    return self.script.pop(index)
        return self.default(request)


@pytest.fixture
def fake() -> Iterator[ApiFake]:
    server = ApiFake()
    yield server
    server.close()


def api_config(env: Env, monkeypatch: pytest.MonkeyPatch, url: str, name: str = "asker") -> Path:
    monkeypatch.setenv(KEY_VARIABLE, API_KEY)
    env.environ[KEY_VARIABLE] = API_KEY
    return env.write_config(f'''
[[agents]]
name = "{name}"
kind = "api"
model = "claude-test-1"
system = "You are terse."
max_tokens = 256
temperature = 0.5
secrets = {{ ANTHROPIC_API_KEY = "env:{KEY_VARIABLE}" }}
env = {{ ANTHROPIC_BASE_URL = "{url}" }}
''')


def lines(env: Env, name: str = "asker") -> list[str]:
    return [line.rstrip() for line in env.screen(name).splitlines() if line.strip()]


def at_prompt(env: Env, name: str = "asker") -> bool:
    shown = lines(env, name)
    return bool(shown) and shown[-1] == "api>"


def up(env: Env) -> None:
    result = env.cli("up", "--no-serve")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: at_prompt(env), timeout=20, message="the api agent's prompt")


def ask(env: Env, text: str, count: int, fake: FakeAnthropic) -> None:
    """Type a prompt and wait for its request (the `count`th) and the prompt after the reply."""
    assert env.cli("send", "asker", text).returncode == 0
    wait_until(lambda: len(fake.requests) >= count, timeout=20, message=f"request {count}")
    wait_until(lambda: at_prompt(env) and f"api> {text}" in env.screen("asker"), timeout=20,
               message="the prompt after the reply")


def texts(request: Request) -> list[tuple[str, str]]:
    return [(m["role"], "".join(b.get("text", "") for b in m["content"])) for m in request.body["messages"]]


def test_a_conversation_streams_carries_its_history_and_survives_a_restart(
        env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    api_config(env, monkeypatch, fake.url)
    fake.add(Reply.text("alpha beta gamma delta epsilon", chunk_delay=0.4))
    up(env)
    assert env.cli("send", "asker", "first question").returncode == 0
    # it streams: the first words are on screen while the last have not arrived
    wait_until(lambda: "alpha" in env.screen("asker"), timeout=20, message="the first words")
    assert "epsilon" not in env.screen("asker")
    wait_until(lambda: at_prompt(env), timeout=20, message="the prompt after the reply")
    assert "alpha beta gamma delta epsilon" in env.screen("asker")
    first = fake.requests[0]
    assert first.body["model"] == "claude-test-1" and first.body["max_tokens"] == 256
    assert first.body["system"] == "You are terse." and first.body["temperature"] == 0.5
    assert first.body["stream"] is True and any(API_KEY in value for value in first.headers.values())
    assert texts(first) == [("user", "first question")]

    ask(env, "second question", 2, fake)
    assert texts(fake.requests[1]) == [("user", "first question"), ("assistant", "alpha beta gamma delta epsilon"),
                                       ("user", "second question")]
    assert "echo: second question" in env.screen("asker")

    assert env.cli("restart", "asker").returncode == 0
    wait_until(lambda: "4 messages of history" in env.screen("asker") and at_prompt(env), timeout=20,
               message="the restarted agent's prompt")
    ask(env, "third question", 3, fake)
    assert texts(fake.requests[2]) == [
        ("user", "first question"), ("assistant", "alpha beta gamma delta epsilon"),
        ("user", "second question"), ("assistant", "echo: second question"), ("user", "third question")]

    ask(env, "/history", 3, fake)
    wait_until(lambda: "6 messages" in env.screen("asker"), message="/history's count")
    export = env.root / "conversation.json"
    ask(env, "/export conversation.json", 3, fake)  # in its cwd, the config's folder
    wait_until(export.exists, message="the export")
    assert [m["role"] for m in json.loads(export.read_text())] == ["user", "assistant"] * 3
    ask(env, "/clear", 3, fake)
    ask(env, "fresh start", 4, fake)
    assert texts(fake.requests[3]) == [("user", "fresh start")]

    # the key reached the API, and nowhere else: not in the store's files, not on the screen
    store = env.load().store_path
    for path in (store, store.with_name(store.name + "-wal")):
        if path.exists():
            assert API_KEY.encode() not in path.read_bytes()
    assert API_KEY not in env.screen("asker")


def test_a_401_and_a_529_are_one_line_each_and_the_state_error(
        env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    api_config(env, monkeypatch, fake.url)
    fake.add(Reply.failure(401, "authentication_error", "invalid x-api-key"))
    up(env)
    ask(env, "who am I", 1, fake)
    assert lines(env)[-2] == "api error: authentication failed (401): invalid x-api-key"
    wait_until(lambda: env.status("asker")["state"] == "error", message="state error")
    status = env.status("asker")
    assert status["reason"] == "api error: authentication failed (401): invalid x-api-key"
    assert "Traceback" not in env.screen("asker")

    overloaded = {"headers": {"retry-after": "0"}}
    fake.add(*(Reply.failure(529, "overloaded_error", "Overloaded", **overloaded) for _ in range(3)))
    ask(env, "try again", 4, fake)
    shown = lines(env)
    retrying = "api error: overloaded (529), retrying in 0 s"
    assert shown[-4:] == [retrying, retrying, "api error: overloaded (529)", "api>"]
    wait_until(lambda: env.status("asker")["reason"] == "api error: overloaded (529)", message="the 529 as reason")
    assert env.status("asker")["state"] == "error"
    assert "Traceback" not in env.screen("asker")

    # the failed prompts were not kept: the next request carries only itself, and succeeds
    ask(env, "now it works", 5, fake)
    assert texts(fake.requests[4]) == [("user", "now it works")]
    wait_until(lambda: env.status("asker")["state"] == "idle", message="idle again")


def test_a_529_then_success_is_retried(env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    api_config(env, monkeypatch, fake.url)
    fake.add(Reply.failure(529, "overloaded_error", "Overloaded", headers={"retry-after": "0"}))
    up(env)
    ask(env, "flaky", 2, fake)
    assert lines(env)[-3:] == ["api error: overloaded (529), retrying in 0 s", "echo: flaky", "api>"]


def test_an_unreachable_api_is_one_line(env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = FakeAnthropic()
    url = closed.url
    closed.close()
    api_config(env, monkeypatch, url)
    up(env)
    assert env.cli("send", "asker", "anyone there").returncode == 0
    wait_until(lambda: at_prompt(env) and len(lines(env)) >= 3 and lines(env)[-2].startswith("api error: cannot"),
               timeout=20, message="the connection error")
    assert lines(env)[-2] == f"api error: cannot reach {url}: connection refused"
    assert "Traceback" not in env.screen("asker")


def test_a_queued_tasks_result_is_the_reply(env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch,
                                            running: Supervisors) -> None:
    api_config(env, monkeypatch, fake.url)
    fake.add(Reply.text("the answer is 42\nsecond line of it", match="what is it"))
    run = running()
    task = run.queue.add("asker", "what is it")
    failing = run.queue.add("asker", "this one fails", after=[task.id])
    fake.add(Reply.failure(401, "authentication_error", "invalid x-api-key", match="this one fails"))
    run.until(lambda: run.ended(task), timeout=30, message="the task ends")
    done = run.task(task.id)
    assert done.state.value == "succeeded", done.reason
    assert done.result.splitlines() == ["the answer is 42", "second line of it"]
    run.until(lambda: run.ended(failing), timeout=30, message="the failing task ends")
    failed = run.task(failing.id)
    assert failed.state.value == "failed"
    assert "authentication failed (401)" in failed.reason
    # in error now (its last request failed), its program at its prompt: the next task goes to it all the same
    wait_until(lambda: env.status("asker")["state"] == "error", message="the agent in error")
    fake.add(Reply.text("back again", match="after the failure"))
    after = run.queue.add("asker", "after the failure")
    run.until(lambda: run.ended(after), timeout=30, message="the task after the failure ends")
    assert run.task(after.id).state.value == "succeeded", run.task(after.id).reason
    assert run.task(after.id).result == "back again"


def test_a_queued_task_of_several_lines_is_one_prompt_and_its_result_the_reply(
        env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch, running: Supervisors) -> None:
    api_config(env, monkeypatch, fake.url)
    run = running()
    text = "first line\n.\n<<\n  indented last line"
    task = run.queue.add("asker", text)
    run.until(lambda: run.ended(task), timeout=30, message="the task ends")
    done = run.task(task.id)
    assert done.state.value == "succeeded", done.reason
    assert texts(fake.requests[0]) == [("user", text)]
    assert done.result == f"echo: {text}", env.screen("asker")


def test_a_typed_task_that_fills_its_last_row_exactly_keeps_its_first_line_of_reply(
        env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch, running: Supervisors) -> None:
    """The line editor wraps a line that fills the row exactly, so tmux joins the next line (the reply's first)
    to it: the result still has it (it lost it: a task file's path of the wrong length did it too)."""
    api_config(env, monkeypatch, fake.url)
    run = running()
    width = int(env.tmux("display", "-p", "-t", "=asker:", "#{pane_width}").stdout)
    for rows in (1, 2):
        text = "x" * (rows * width - len("api> "))
        task = run.queue.add("asker", text)
        run.until(lambda task=task: run.ended(task), timeout=30, message="the task ends")
        assert run.task(task.id).result == f"echo: {text}", env.screen("asker")


def keys(env: Env, *typed: str) -> None:
    assert env.tmux("send-keys", "-t", "=asker:", *typed).returncode == 0


def test_ctrl_c_stops_a_reply_a_block_is_one_prompt_and_ctrl_d_quits(
        env: Env, fake: ApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    api_config(env, monkeypatch, fake.url)
    fake.add(Reply.text("slow " * 30 + "end", chunk_delay=0.2))
    up(env)
    assert env.cli("send", "asker", "go slowly").returncode == 0
    wait_until(lambda: "slow slow" in env.screen("asker"), timeout=20, message="the reply streaming")
    keys(env, "C-c")
    wait_until(lambda: at_prompt(env) and "^C interrupted" in env.screen("asker"), timeout=20,
               message="back at the prompt")
    assert "end" not in env.screen("asker").split("^C interrupted")[0].split("go slowly")[1]
    keys(env, "-l", "<<")
    keys(env, "Enter")
    keys(env, "-l", "line one")
    keys(env, "Enter")
    keys(env, "-l", "line two")
    keys(env, "Enter")
    keys(env, "-l", ".")
    keys(env, "Enter")
    wait_until(lambda: len(fake.requests) >= 2 and at_prompt(env), timeout=20, message="the block's reply")
    assert texts(fake.requests[1]) == [("user", "line one\nline two")]  # the stopped exchange was not kept
    keys(env, "C-d")
    wait_until(lambda: env.status("asker")["state"] == "exited", timeout=20, message="the agent quits")
    assert "Traceback" not in env.screen("asker")


@pytest.mark.parametrize(("table", "problem"), [
    ('kind = "api"', "agents[0] (x).model: is required for kind 'api'"),
    ('kind = "api"\nmodel = "m"\ntemperature = 1.5', "temperature: must be from 0 to 1"),
    ('kind = "api"\nmodel = "m"\nmax_tokens = 0', "max_tokens: must be between 1 and"),
    ('kind = "api"\nmodel = "m"\nhistory_tokens = 10', "history_tokens: must be between 1000 and"),
    ('command = "true"\nhistory_tokens = 5000', "history_tokens: is for kind 'api' only"),
    ('command = "true"\nsystem = "hi"', "system: is for kind 'api' only"),
    ('command = "true"\nmodel = "m"', "model: is for kind 'claude' only"),
])
def test_the_api_keys_are_checked(env: Env, table: str, problem: str) -> None:
    env.write_config(f'[[agents]]\nname = "x"\n{table}\n')
    result = env.cli("ls")
    assert result.returncode != 0 and problem in result.stderr, result.stderr


def test_the_api_keys_load(env: Env) -> None:
    env.write_config('[[agents]]\nname = "x"\nkind = "api"\nmodel = "m"\nsystem = "s"\nmax_tokens = 9\n'
                     'temperature = 0\n')
    spec = env.load().agent("x")
    assert (spec.model, spec.system, spec.max_tokens, spec.temperature) == ("m", "s", 9, 0.0)
    assert spec.to_toml()["max_tokens"] == 9 and spec.to_toml()["temperature"] == 0.0
    assert spec.history_tokens == 100_000 and "history_tokens" not in spec.to_toml()
    env.write_config('[[agents]]\nname = "x"\nkind = "api"\nmodel = "m"\nhistory_tokens = 5000\n')
    spec = env.load().agent("x")
    assert spec.history_tokens == 5000 and spec.to_toml()["history_tokens"] == 5000


def test_rm_forgets_the_conversation_and_keeps_the_usage(env: Env) -> None:
    from agentmux.api.history import History
    from agentmux.api.ledger import Ledger

    env.write_config('[[agents]]\nname = "x"\nkind = "api"\nmodel = "m"\n\n'
                     '[[agents]]\nname = "y"\nkind = "api"\nmodel = "m"\n')
    fleet = env.fleet()
    for name in ("x", "y"):
        History(fleet.store, name).append("user", [{"type": "text", "text": f"to {name}"}])
    Ledger(fleet.store).record(agent="x", key="default", model="m", input=3, output=4)
    assert env.cli("rm", "x").returncode == 0
    assert History(fleet.store, "x").count() == 0 and History(fleet.store, "y").count() == 1
    assert [usage.name for usage in Ledger(fleet.store).summary()] == ["x"]


def test_a_429_says_its_retry_after_and_the_limiter_seam_is_send(
        tmp_path: Path, fake: ApiFake, capsys: pytest.CaptureFixture[str]) -> None:
    import anthropic

    from agentmux.api import agent
    from agentmux.api.history import History
    from agentmux.config import AgentSpec
    from agentmux.store import Store

    limited = {"headers": {"retry-after": "0"}}
    fake.add(*(Reply.failure(429, "rate_limit_error", "slow down", **limited) for _ in range(3)))
    store = Store(tmp_path / "store.db")
    try:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0)
        bot = agent.ApiAgent(AgentSpec(name="a", kind="api", model="m"), History(store, "a"), client)
        bot.ask("hello")
        assert capsys.readouterr().out.splitlines() == ["api error: rate limited (429), retrying in 0 s"] * 2 + [
            "api error: rate limited (429), retry after 0 s"]
        assert bot.history.count() == 0 and len(fake.requests) == 3
        seen: list[str] = []
        message = agent.send(client, bot.request() | {"messages": [{"role": "user", "content": "hi"}]}, seen.append)
        assert "".join(seen) == "echo: hi" and message.usage.output_tokens == 7
    finally:
        store.close()


def test_a_pasted_block_is_one_prompt_and_waits_for_enter(env: Env, fake: ApiFake,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A paste into the pane (tmux brackets it, as a terminal does, since the agent's readline asks for it) is one
    prompt holding its newlines, sent at Enter, not one prompt per line."""
    api_config(env, monkeypatch, fake.url)
    up(env)
    env.tmux("set-buffer", "first pasted line\nsecond pasted line\nthird")
    env.tmux("paste-buffer", "-p", "-t", "asker")
    wait_until(lambda: "third" in env.screen("asker"), message="the paste shown")
    assert fake.requests == []  # nothing sent before Enter
    keys(env, "Enter")
    wait_until(lambda: len(fake.requests) == 1 and at_prompt(env), timeout=20, message="the paste's reply")
    assert texts(fake.requests[0]) == [("user", "first pasted line\nsecond pasted line\nthird")]
    keys(env, "Up")  # the arrow keys bring back earlier prompts
    keys(env, "Enter")
    wait_until(lambda: len(fake.requests) == 2 and at_prompt(env), timeout=20, message="the prompt again")
    assert texts(fake.requests[1])[-1] == ("user", "first pasted line\nsecond pasted line\nthird")
