"""The `[api]` section (config/model.py `ApiSettings`, config/validate.py) and the agents' api_key, budget,
on_budget and share: defaults, a full section read back, and each mistake one ConfigError naming file, line,
key and reason (through the real CLI too)."""

from __future__ import annotations

import pytest

from agentmux import config
from agentmux.api.limiter import KeyLimits, limits_of
from agentmux.api.prices import Price, configured
from agentmux.errors import ConfigError
from tests.conftest import Env, assert_one_line

FULL = '''
[api]
upstream = "http://127.0.0.1:9999"

[api.keys.default]
key = "env:ANTHROPIC_API_KEY"
requests_per_minute = 50
input_tokens_per_minute = 40000
output_tokens_per_minute = 8000

[api.keys.batch]
key = "file:~/batch.key"
requests_per_minute = 5

[api.gateway]
enabled = true
port = 8123
timeout = 30

[api.prices."claude-sonnet-4-5"]
input = 3.0
output = 15.0
cache_write = 3.75
cache_read = 0.30
'''

AGENTS = '''
[[agents]]
name = "a"
command = "sleep 100"
api_key = "batch"
budget = 2.5
on_budget = "stop"
share = 3

[[agents]]
name = "b"
command = "sleep 100"
'''


def test_defaults(env: Env) -> None:
    loaded = config.load(env.write_config(agents=AGENTS.replace('api_key = "batch"\n', "")))
    assert loaded.api.upstream == "https://api.anthropic.com"
    assert set(loaded.api.keys) == {"default"} and loaded.api.keys["default"].key == "env:ANTHROPIC_API_KEY"
    assert not loaded.api.gateway.enabled and loaded.api.gateway.port == 0 and loaded.api.gateway.timeout == 600
    b = loaded.agent("b")
    assert (b.api_key, b.budget, b.on_budget, b.share) == ("default", None, "warn", 1)
    assert limits_of(loaded.api) == {"default": KeyLimits(50, 40000, 8000)}


def test_a_full_section(env: Env) -> None:
    loaded = config.load(env.write_config(agents=AGENTS, settings=FULL))
    assert loaded.api.upstream == "http://127.0.0.1:9999"
    assert loaded.api.keys["batch"].requests_per_minute == 5 and loaded.api.keys["batch"].key == "file:~/batch.key"
    assert loaded.api.gateway.enabled and loaded.api.gateway.port == 8123 and loaded.api.gateway.timeout == 30.0
    assert configured(loaded.api) == {"claude-sonnet-4-5": Price(3.0, 15.0, 3.75, 0.30)}
    a = loaded.agent("a")
    assert (a.api_key, a.budget, a.on_budget, a.share) == ("batch", 2.5, "stop", 3)
    assert a.to_toml()["api_key"] == "batch" and a.to_toml()["share"] == 3
    assert "share" not in loaded.agent("b").to_toml()


CASES = [
    ("upstream", FULL.replace('"http://127.0.0.1:9999"', '"ftp://x"'), "api.upstream", "is not an http:// or https://"),
    ("secret", FULL.replace('"env:ANTHROPIC_API_KEY"', '"sk-ant-123"'), "api.keys.default.key",
     "is not a secret reference"),
    ("unknown-key", FULL.replace("requests_per_minute = 5\n", "rpm = 5\n"), "api.keys.batch.rpm", "unknown key"),
    ("rate", FULL.replace("requests_per_minute = 5\n", "requests_per_minute = 0\n"),
     "api.keys.batch.requests_per_minute", "must be between 1"),
    ("port", FULL.replace("port = 8123", "port = 70000"), "api.gateway.port", "must be between 0 and 65535"),
    ("timeout", FULL.replace("timeout = 30", 'timeout = "long"'), "api.gateway.timeout", "must be a number of seconds"),
    ("price", FULL.replace("output = 15.0", 'output = "a lot"'), "api.prices.claude-sonnet-4-5.output",
     "must be a number (USD per million tokens)"),
    ("price-missing", FULL.replace("output = 15.0\n", ""), "api.prices.claude-sonnet-4-5.output", "is required"),
    ("unknown-api", FULL.replace("[api]\n", "[api]\nports = 1\n"), "api.ports", "unknown key"),
]


@pytest.mark.parametrize(("settings", "key", "reason"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_api_mistakes(env: Env, settings: str, key: str, reason: str) -> None:
    path = env.write_config(agents=AGENTS, settings=settings)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert error.value.file == str(path) and error.value.key == key and reason in error.value.reason
    assert error.value.line is not None
    wanted = key.rsplit(".", 1)[-1]
    shown = path.read_text().splitlines()[error.value.line - 1].lstrip()
    assert shown.startswith(wanted) or (reason == "is required" and shown.startswith("[api.prices.")), shown
    result = env.cli("ls")
    assert result.returncode == 2 and f"{path}:{error.value.line}: {key}: " in result.stderr
    assert_one_line(result.stderr)


AGENT_CASES = [
    ("api-key", AGENTS.replace('"batch"', '"nope"'), "agents[0] (a).api_key", "'nope' is not a key of [api.keys]"),
    ("budget", AGENTS.replace("2.5", "-1"), "agents[0] (a).budget", "must be between 0"),
    ("on-budget", AGENTS.replace('"stop"', '"panic"'), "agents[0] (a).on_budget", "must be one of 'warn', 'stop'"),
    ("share", AGENTS.replace("share = 3", "share = 0"), "agents[0] (a).share", "must be between 1 and 1000"),
]


@pytest.mark.parametrize(("agents", "key", "reason"), [case[1:] for case in AGENT_CASES],
                         ids=[c[0] for c in AGENT_CASES])
def test_agent_mistakes(env: Env, agents: str, key: str, reason: str) -> None:
    path = env.write_config(agents=agents, settings=FULL)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert error.value.key is not None and error.value.key.endswith(key.split(".")[-1]) and reason in error.value.reason
    assert error.value.line is not None
    assert path.read_text().splitlines()[error.value.line - 1].startswith(key.split(".")[-1])
