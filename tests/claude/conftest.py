"""The real Claude Code CLI in tmux against the loopback fake Messages API (tests/fake_anthropic.py).

`./dev test` installs the CLI from npm into .cache/claude-code (README: Development); without npm these
tests skip, saying so. The CLI gets a config dir of its own (CLAUDE_CONFIG_DIR) whose .claude.json skips
its first-run screens and approves the fake key, and talks only to 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Env
from tests.fake_anthropic import API_KEY, FakeAnthropic


def claude_binary() -> str | None:
    local = ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
    return str(local) if local.exists() else shutil.which("claude")


CLAUDE = claude_binary()
needs_claude = pytest.mark.skipif(CLAUDE is None, reason="the Claude Code CLI is not installed (npm is missing: "
                                  "`./dev test` installs it with npm)")


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    yield server
    server.close()


def claude_config(env: Env, fake: FakeAnthropic, name: str = "cc", extra: str = "") -> Path:
    """Write a config with one claude agent working in env.root/work against the fake."""
    work = env.root / "work"
    work.mkdir(exist_ok=True)
    config_dir = env.root / "claude-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(work): {"hasTrustDialogAccepted": True}},
    }))
    values = {"CLAUDE_CONFIG_DIR": str(config_dir), "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": API_KEY,
              "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
    table = ", ".join(f'{key} = "{value}"' for key, value in values.items())
    return env.write_config(f'''
[[agents]]
name = "{name}"
kind = "claude"
command = "{CLAUDE}"
cwd = "{work}"
env = {{ {table} }}
{extra}
''')
