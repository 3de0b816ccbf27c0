"""A claude agent through the loopback gateway (api/gateway.py), with the real Claude Code CLI against the loopback
fake Messages API: the agent has only its own token, its reply streams through, its usage is recorded under its
name, and its real key is nowhere in its session, the store or the logs (README: The gateway)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentmux.agents.tokens import agent_token, gateway_secret
from agentmux.api.gateway import Gateway, LimitedHooks, gateway_settings
from agentmux.state import AgentState
from agentmux.store import Store
from tests.claude.conftest import CLAUDE, needs_claude
from tests.conftest import Env, Supervisors
from tests.fake_anthropic import API_KEY, FakeAnthropic, Reply

pytestmark = needs_claude


def gateway_config(env: Env, fake: FakeAnthropic) -> Path:
    """One claude agent `cc` whose real key is a secret in a file; no base URL of its own."""
    work = env.root / "work"
    work.mkdir(exist_ok=True)
    config_dir = env.root / "claude-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True,
        "projects": {str(work): {"hasTrustDialogAccepted": True}},
    }))
    key_file = env.root / "anthropic.key"
    key_file.write_text(API_KEY + "\n")
    values = {"CLAUDE_CONFIG_DIR": str(config_dir), "DISABLE_TELEMETRY": "1",
              "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
    table = ", ".join(f'{key} = "{value}"' for key, value in values.items())
    return env.write_config(f'''
[[agents]]
name = "cc"
kind = "claude"
command = "{CLAUDE}"
cwd = "{work}"
env = {{ {table} }}
secrets = {{ ANTHROPIC_API_KEY = "file:{key_file}" }}
''')


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    yield server
    server.close()


def test_a_claude_agent_talks_through_the_gateway_with_its_own_token(env: Env, fake: FakeAnthropic,
                                                                     running: Supervisors) -> None:
    gateway_config(env, fake)
    settings = gateway_settings(env.load())
    assert settings.keys == {"cc": API_KEY}  # read from the agent's secret reference
    gateway = Gateway(env.state_dir, lambda: replace(gateway_settings(env.load()), upstream=fake.url),
                      hooks=LimitedHooks(env.load(), wait=30)).start()
    try:
        assert env.cli("up", "--no-serve").returncode == 0
        run = running(start=False)
        run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
        fake.add(Reply.text("Streamed through the gateway, word by word.", chunk_delay=0.1,
                            usage={"input_tokens": 321, "output_tokens": 9}))
        sent = env.cli("send", "cc", "say hi")
        assert sent.returncode == 0, sent.stderr
        run.until(lambda: "word by word." in env.screen("cc"), timeout=60, message="the reply on cc's screen")
        run.until(lambda: any(r.usage.input_tokens == 321 for r in gateway.records), timeout=30,
                  message="the turn's usage recorded")
        [turn] = [r for r in gateway.records if r.usage.input_tokens == 321]
        assert (turn.agent, turn.status, turn.usage.output_tokens) == ("cc", 200, 9)
        store = Store(env.load().store_path)  # and in the usage ledger, under its name
        run.until(lambda: store.db.execute("SELECT 1 FROM api_usage WHERE input = 321").fetchone(), timeout=10,
                  message="the turn in the ledger")
        assert tuple(store.db.execute("SELECT agent, output, via FROM api_usage WHERE input = 321").fetchone()) == (
            "cc", 9, "gateway")
        conversation = fake.messages()
        assert conversation and all(r.headers["x-api-key"] == API_KEY for r in fake.requests)
        assert all("authorization" not in r.headers for r in fake.requests)
        # the agent has its token and the gateway's URL, never the key
        shown = env.tmux("show-environment", "-t", "cc").stdout
        token = agent_token(gateway_secret(env.state_dir), "cc")
        assert f"ANTHROPIC_AUTH_TOKEN={token}" in shown and f"ANTHROPIC_BASE_URL={gateway.url}" in shown
        assert API_KEY not in shown and "ANTHROPIC_API_KEY=" not in shown
        assert API_KEY not in env.tmux("show-environment", "-g").stdout
        run.tick()
        for path in env.state_dir.rglob("*"):
            if path.is_file():
                assert API_KEY.encode() not in path.read_bytes(), path  # the store, the logs db, claude's files
    finally:
        gateway.close()
