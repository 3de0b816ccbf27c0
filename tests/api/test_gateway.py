"""The loopback gateway (api/gateway.py) with the real `anthropic` SDK against the loopback fake Messages API:
replies plain and streamed (the first event reaches the client while the fake still sends), upstream errors
unchanged, unknown tokens refused, headers passed through with the real key, a timeout as a 504, usage kept."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import anthropic
import pytest

from agentmux.agents.tokens import URL_FILE, agent_token, claude_gateway_env, gateway_secret
from agentmux.api.gateway import (
    Gateway,
    GatewayConfig,
    LimitedHooks,
    SseUsage,
    gateway_enabled,
    gateway_settings,
    key_variables,
)
from agentmux.config import AgentSpec
from agentmux.config.model import ApiKey, ApiSettings, GatewaySettings
from agentmux.errors import AgentmuxError
from agentmux.store import Store
from tests.conftest import Env, assert_one_line, wait_until
from tests.fake_anthropic import API_KEY, FakeAnthropic, Reply

MODEL = "claude-fake"
TOOLS = [{"name": "t", "input_schema": {"type": "object"}}]
"""Offered so the fake takes the request for a turn of a conversation and answers it from its script."""


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    yield server
    server.close()


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeAnthropic) -> Iterator[Gateway]:
    with Gateway(tmp_path, GatewayConfig(upstream=fake.url, timeout=2.0, keys={"cc": API_KEY})) as running:
        yield running


def client(gateway: Gateway, agent: str = "cc", **kw: object) -> anthropic.Anthropic:
    token = agent_token(gateway_secret(gateway.state_dir), agent)
    return anthropic.Anthropic(base_url=gateway.url, auth_token=token, max_retries=0, **kw)  # type: ignore[arg-type]


def ask(c: anthropic.Anthropic, text: str = "hello", **kw: object) -> anthropic.types.Message:
    return c.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": text}],
                             **kw)  # type: ignore[call-overload, no-any-return]


def test_plain_reply_and_usage_recorded(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.add(Reply.text("hi there", usage={"input_tokens": 30, "output_tokens": 5}))
    message = ask(client(gateway), tools=TOOLS)
    assert message.content[0].text == "hi there"  # type: ignore[union-attr]
    record = wait_until(lambda: list(gateway.records))[0]  # type: ignore[index]
    assert (record.agent, record.status, record.usage.input_tokens, record.usage.output_tokens) == ("cc", 200, 30, 5)


def test_headers_passed_through_with_the_real_key(gateway: Gateway, fake: FakeAnthropic) -> None:
    ask(client(gateway, default_headers={"anthropic-beta": "tools-2099-01-01", "anthropic-version": "2023-06-01"}))
    seen = fake.requests[-1].headers
    assert seen["x-api-key"] == API_KEY
    assert seen["anthropic-version"] == "2023-06-01"
    assert seen["anthropic-beta"] == "tools-2099-01-01"
    assert "authorization" not in seen


def test_streaming_reaches_the_client_while_the_fake_still_sends(gateway: Gateway, fake: FakeAnthropic) -> None:
    words = " ".join(f"w{i}" for i in range(8))
    fake.add(Reply.text(words, chunk_delay=0.25, usage={"input_tokens": 11, "output_tokens": 8},
                        match="stream me"))
    first_at: float | None = None
    with client(gateway).messages.stream(model=MODEL, max_tokens=64,
                                         messages=[{"role": "user", "content": "stream me"}], tools=TOOLS) as stream:
        started = time.monotonic()
        for event in stream:
            if event.type == "content_block_delta" and first_at is None:
                first_at = time.monotonic() - started
        text = stream.get_final_text()
        total = time.monotonic() - started
    assert text == words
    assert first_at is not None and first_at < 0.5 < total - 1.0  # the fake sends for ~2s: the first word came early
    record = wait_until(lambda: list(gateway.records))[0]  # type: ignore[index]
    assert (record.usage.input_tokens, record.usage.output_tokens) == (11, 8)


@pytest.mark.parametrize(("status", "kind", "headers", "error"), [
    (429, "rate_limit_error", {"retry-after": "7"}, anthropic.RateLimitError),
    (529, "overloaded_error", {}, anthropic.InternalServerError),
    (401, "authentication_error", {}, anthropic.AuthenticationError),
])
def test_upstream_errors_unchanged(gateway: Gateway, fake: FakeAnthropic, status: int, kind: str,
                                   headers: dict[str, str], error: type[Exception]) -> None:
    fake.add(Reply.failure(status, kind, f"upstream says {kind}", headers=headers))
    with pytest.raises(error) as caught:
        ask(client(gateway), tools=TOOLS)
    exc = caught.value
    assert isinstance(exc, anthropic.APIStatusError)
    assert exc.status_code == status
    assert exc.body == {"type": "error", "error": {"type": kind, "message": f"upstream says {kind}"}}
    for name, value in headers.items():
        assert exc.response.headers[name] == value
    assert wait_until(lambda: [r.status for r in gateway.records]) == [status]  # recorded once the reply ended


def test_unknown_token_refused(gateway: Gateway, fake: FakeAnthropic) -> None:
    stranger = anthropic.Anthropic(base_url=gateway.url, api_key="amx-gw-nobody", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        ask(stranger)
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        ask(client(gateway, agent="not-configured"))
    assert fake.requests == []  # nothing reached the upstream


def test_upstream_timeout_is_a_504(gateway: Gateway, fake: FakeAnthropic) -> None:
    fake.add(Reply.text("late", delay=4.0))
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(client(gateway), tools=TOOLS)
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


def test_count_tokens_other_paths_and_health(gateway: Gateway, fake: FakeAnthropic) -> None:
    result = client(gateway).messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert result.input_tokens == 10
    with urllib.request.urlopen(gateway.url + "/") as health:
        assert health.status == 200
    token = agent_token(gateway_secret(gateway.state_dir), "cc")
    request = urllib.request.Request(gateway.url + "/v1/models", headers={"x-api-key": token})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 404  # the fake's own 404, passed through
    assert json.loads(caught.value.read())["error"]["message"] == "/v1/models"


def test_url_file_and_agent_env(tmp_path: Path, fake: FakeAnthropic) -> None:
    assert claude_gateway_env(tmp_path, "cc") is None
    gateway = Gateway(tmp_path, GatewayConfig(upstream=fake.url, keys={"cc": API_KEY})).start()
    try:
        env = claude_gateway_env(tmp_path, "cc")
        assert env == {"ANTHROPIC_BASE_URL": gateway.url,
                       "ANTHROPIC_AUTH_TOKEN": agent_token(gateway_secret(tmp_path), "cc")}
        assert API_KEY not in str(env)
        assert (tmp_path / "gateway.key").stat().st_mode & 0o777 == 0o600
    finally:
        gateway.close()
    assert not (tmp_path / URL_FILE).exists()
    (tmp_path / URL_FILE).write_text(gateway.url + "\n")  # left by a gateway that was killed: nothing listens
    assert claude_gateway_env(tmp_path, "cc") is None


def test_agents_added_later_are_known(tmp_path: Path, fake: FakeAnthropic) -> None:
    keys: dict[str, str] = {}
    with Gateway(tmp_path, lambda: GatewayConfig(upstream=fake.url, keys=dict(keys))) as gateway:
        keys["late"] = API_KEY
        assert ask(client(gateway, agent="late")).content


def test_concurrent_streams(gateway: Gateway, fake: FakeAnthropic) -> None:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with client(gateway).messages.stream(model=MODEL, max_tokens=8,
                                                 messages=[{"role": "user", "content": f"n{i}"}],
                                                 tools=TOOLS) as stream:
                assert stream.get_final_text() == f"echo: n{i}"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []


def test_the_gateway_command_prints_its_url_and_forwards_with_the_agents_key(env: Env, fake: FakeAnthropic) -> None:
    key_file = env.root / "key"
    key_file.write_text(API_KEY + "\n")
    env.write_config(f'''
[[agents]]
name = "cc"
kind = "claude"
command = "exec sleep 600"
autostart = false
secrets = {{ ANTHROPIC_API_KEY = "file:{key_file}" }}
''')
    process = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(env.config_path), "gateway"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env.environ)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        assert (env.state_dir / URL_FILE).read_text().strip() == url
        # its upstream is the real API by default: check who it knows without sending anything out
        token = agent_token(gateway_secret(env.state_dir), "cc")
        stranger = urllib.request.Request(url + "/v1/messages", data=b"{}", headers={"x-api-key": "amx-gw-x"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(stranger)
        assert caught.value.code == 401
        with urllib.request.urlopen(url + "/") as health:
            assert health.status == 200
        assert token not in line and API_KEY not in line
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert not (env.state_dir / URL_FILE).exists()  # gone with the gateway: agents started now talk directly


def test_settings_from_an_api_section(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("sk-from-file\n")
    spec = AgentSpec(name="cc", kind="claude", secrets={"ANTHROPIC_API_KEY": "env:NOT_SET_HERE"})
    other = AgentSpec(name="sh", kind="shell")
    api = ApiSettings(upstream="http://127.0.0.1:9", keys={"default": ApiKey("default", key=f"file:{tmp_path}/k")},
                      gateway=GatewaySettings(enabled=True, port=4321, timeout=30.0))
    config = SimpleNamespace(agents=(spec, other), api=api)
    settings = gateway_settings(config, environ={})  # type: ignore[arg-type]
    assert settings == GatewayConfig(upstream="http://127.0.0.1:9", port=4321, timeout=30.0,
                                     keys={"cc": "sk-from-file"}, enabled=True)  # the agent's api_key: "default"
    bare = SimpleNamespace(agents=(spec,), api=ApiSettings(keys={}))
    assert gateway_settings(bare, environ={}).keys == {}  # type: ignore[arg-type]  # nothing resolves: left out
    assert gateway_settings(bare, environ={"NOT_SET_HERE": "sk-env"}).keys == {"cc": "sk-env"}  # type: ignore[arg-type]


def test_the_supervisor_is_given_only_the_variables_the_keys_name() -> None:
    claude = AgentSpec(name="cc", kind="claude", secrets={"ANTHROPIC_API_KEY": "env:CC_KEY"})
    other = AgentSpec(name="sh", kind="shell", secrets={"ANTHROPIC_API_KEY": "env:SHELL_KEY"})
    api = SimpleNamespace(keys={"default": SimpleNamespace(key="env:TEAM_KEY")})
    config = SimpleNamespace(agents=(claude, other), api=api)
    environ = {"CC_KEY": "a", "SHELL_KEY": "b", "TEAM_KEY": "c", "HOME": "/root"}
    assert key_variables(config, environ) == {"CC_KEY": "a", "TEAM_KEY": "c"}  # type: ignore[arg-type]


def test_a_port_in_use_is_one_line_exit_1(env: Env) -> None:
    env.write_config()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = env.cli("gateway", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 1, result.stderr
    assert_one_line(result.stderr)
    assert "the gateway cannot listen on 127.0.0.1:" in result.stderr


def test_limited_hooks_take_a_permit_and_record_the_ledger(env: Env, fake: FakeAnthropic) -> None:
    key_file = env.root / "key"
    key_file.write_text(API_KEY + "\n")
    env.write_config(f'''
[api.keys.default]
key = "file:{key_file}"

[api.gateway]
enabled = true

[[agents]]
name = "cc"
kind = "claude"
command = "exec sleep 600"
autostart = false
''')
    config = env.load()
    assert gateway_enabled(config) and gateway_settings(config).keys == {"cc": API_KEY}
    hooks = LimitedHooks(config, wait=5.0)
    settings = replace(gateway_settings(config), upstream=fake.url)
    with Gateway(env.state_dir, settings, hooks=hooks) as gateway:
        fake.add(Reply.text("counted", usage={"input_tokens": 40, "output_tokens": 6}))
        assert ask(client(gateway), tools=TOOLS).content
        fake.add(Reply.failure(429, "rate_limit_error", "slow down", headers={"retry-after": "0"}))
        with pytest.raises(anthropic.RateLimitError):
            ask(client(gateway), tools=TOOLS)
        store = Store(config.store_path)

        def ledger() -> list[tuple[object, ...]]:
            return [tuple(row) for row in store.db.execute(
                "SELECT agent, key, model, input, output, status, via FROM api_usage ORDER BY at")]

        wait_until(lambda: len(ledger()) == 2, message="both calls in the ledger")
    assert ledger() == [("cc", "default", MODEL, 40, 6, "200", "gateway"),
                    ("cc", "default", MODEL, 0, 0, "429", "gateway")]
    assert API_KEY.encode() not in config.store_path.read_bytes()


def test_up_starts_the_gateway_with_the_supervisor_before_the_claude_agents(env: Env) -> None:
    key_file = env.root / "key"
    key_file.write_text(API_KEY + "\n")
    env.write_config(f'''
[api.keys.default]
key = "file:{key_file}"

[api.gateway]
enabled = true

[[agents]]
name = "cc"
kind = "claude"
command = "sh -c 'exec sleep 600'"
''')
    try:
        result = env.cli("up")
        assert result.returncode == 0, result.stderr
        url = (env.state_dir / URL_FILE).read_text().strip()
        with urllib.request.urlopen(url + "/") as health:
            assert health.status == 200
        shown = env.tmux("show-environment", "-t", "cc").stdout
        assert f"ANTHROPIC_BASE_URL={url}" in shown and "ANTHROPIC_AUTH_TOKEN=amx-gw-" in shown
        assert API_KEY not in shown and API_KEY not in env.tmux("show-environment", "-g").stdout
    finally:
        env.cli("down", "--force")
    wait_until(lambda: not (env.state_dir / URL_FILE).exists(), message="the gateway gone with the supervisor")


def test_a_claude_agent_started_alone_starts_the_supervisor_and_its_gateway_first(env: Env) -> None:
    """A start of claude agents alone (`up --no-serve`, the TUI's start) needs the gateway too: the supervisor
    comes first, then the agent, with the gateway's URL and its token."""
    key_file = env.root / "key"
    key_file.write_text(API_KEY + "\n")
    env.write_config(f'''
[api.keys.default]
key = "file:{key_file}"

[api.gateway]
enabled = true

[[agents]]
name = "cc"
kind = "claude"
command = "sh -c 'exec sleep 600'"
''')
    try:
        result = env.cli("up", "--no-serve", "cc")
        assert result.returncode == 0, result.stderr
        url = (env.state_dir / URL_FILE).read_text().strip()
        shown = env.tmux("show-environment", "-t", "cc").stdout
        assert f"ANTHROPIC_BASE_URL={url}" in shown and API_KEY not in shown
    finally:
        env.cli("down", "--force")


def test_without_its_gateway_a_claude_agent_is_not_started_with_the_key(env: Env) -> None:
    """Enabled but not running (the supervisor's start is not this fleet's: here the Fleet is used alone):
    the start is refused in one line, naming what to do, and no session is made."""
    env.write_config('''
[api.gateway]
enabled = true

[[agents]]
name = "cc"
kind = "claude"
command = "sh -c 'exec sleep 600'"
secrets = { ANTHROPIC_API_KEY = "env:HOME" }
''')
    fleet = env.fleet()
    with pytest.raises(AgentmuxError, match=r"cc: \[api.gateway\] is enabled but no gateway runs") as raised:
        fleet.start("cc")
    assert_one_line(str(raised.value))
    assert fleet.pane("cc") is None


@pytest.mark.parametrize("cut", range(1, 60, 3))
def test_usage_is_read_from_events_cut_anywhere(cut: int) -> None:
    """A chunk boundary may fall inside the word "usage" or the line that holds it."""
    delta = b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":17}}\n\n'
    start = (b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
             b'{"input_tokens":5,"cache_read_input_tokens":3}}}\n\n')
    stream = b"event: ping\ndata: {}\n\n" + start + delta
    for at in range(1, len(stream)):
        reader = SseUsage()
        for part in (stream[:at], stream[at:at + cut], stream[at + cut:]):
            reader.feed(part)
        assert reader.found == {"input_tokens": 5, "cache_read_input_tokens": 3, "output_tokens": 17}, at
