"""An api agent's requests go through the shared rate limiter and into the usage ledger (api/agent.py `Meter`):
for real, in a tmux pane, with the real `anthropic` SDK against the loopback fake."""

from __future__ import annotations

import json

import pytest

from tests.api.test_api_agent import KEY_VARIABLE, ApiFake, api_config, ask, at_prompt, fake, lines, up  # noqa: F401, F811
from tests.conftest import Env, wait_until
from tests.fake_anthropic import API_KEY, Reply


def with_settings(env: Env, monkeypatch: pytest.MonkeyPatch, url: str, settings: str, agent_extra: str = "") -> None:
    api_config(env, monkeypatch, url)
    text = env.config_path.read_text()
    agents = text[text.index("[[agents]]"):].rstrip() + "\n" + agent_extra
    env.write_config(agents, settings)


def test_every_request_is_in_the_ledger_under_its_agent(env: Env, fake: ApiFake,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    api_config(env, monkeypatch, fake.url)
    up(env)
    ask(env, "one", 1, fake)
    fake.add(Reply.failure(401, "authentication_error", "invalid x-api-key"))
    ask(env, "two", 2, fake)
    usage = json.loads(env.cli("usage", "--json").stdout)
    rows = [row for row in usage["rows"] if "asker" in row.values()]
    assert len(rows) == 1, usage
    row = rows[0]
    assert row["requests"] == 2 and row["errors"] == 1 and row["output_tokens"] > 0, row
    assert API_KEY not in env.cli("usage").stdout


def test_a_spent_budget_with_on_budget_stop_sends_nothing_more(env: Env, fake: ApiFake,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with_settings(env, monkeypatch, fake.url, '[api.prices."claude-test"]\ninput = 100000.0\noutput = 100000.0\n',
                  'budget = 0.01\non_budget = "stop"\n')
    up(env)
    ask(env, "first", 1, fake)
    assert env.cli("send", "asker", "second").returncode == 0
    wait_until(lambda: any(line.startswith("api error: budget spent: $") for line in lines(env)) and at_prompt(env),
               timeout=20, message="the budget refusal")
    assert len(fake.requests) == 1
    assert "of $0.01" in env.screen("asker")


def test_a_request_over_the_key_s_rate_waits_in_line_and_says_so(env: Env, fake: ApiFake,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, API_KEY)
    with_settings(env, monkeypatch, fake.url,
                  f'[api.keys.default]\nkey = "env:{KEY_VARIABLE}"\nrequests_per_minute = 1\n')
    up(env)
    ask(env, "first", 1, fake)
    assert env.cli("send", "asker", "second").returncode == 0
    wait_until(lambda: "for the rate limit of key default" in env.screen("asker"), timeout=20,
               message="the wait shown in the pane")
    assert len(fake.requests) == 1  # held back: one request a minute
