"""A claude agent calls agentmux's coordination tools through the MCP server agentmux registers for it, with the
real Claude Code CLI against the loopback fake Messages API (README: MCP server)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from agentmux.agents.kinds import KINDS, MCP_ALLOW
from agentmux.config import AgentSpec
from agentmux.coord.kv import SharedState
from agentmux.coord.locks import Locks
from agentmux.coord.reservations import Reservations
from agentmux.state import AgentState
from tests.claude.conftest import claude_config, needs_claude
from tests.conftest import Env, Supervisors
from tests.fake_anthropic import FakeAnthropic, Reply


def test_a_claude_agent_is_started_with_agentmux_s_mcp_server_and_may_call_its_tools(tmp_path: Path) -> None:
    claude = KINDS["claude"]
    spec = AgentSpec(name="cc", kind="claude")
    assert ' --mcp-config "$AGENTMUX_HOME"/claude/cc/mcp.json $(cat ' in claude.program(spec)
    assert "--strict-mcp-config" not in claude.program(spec)  # the user's own servers stay
    claude.prepare(spec, tmp_path)
    folder = tmp_path / "claude" / "cc"
    server = json.loads((folder / "mcp.json").read_text())["mcpServers"]["agentmux"]
    assert server["type"] == "stdio" and server["command"] == sys.executable and server["args"][-1] == "mcp"
    assert json.loads((folder / "settings.json").read_text())["permissions"]["allow"] == [MCP_ALLOW]
    # the command it names is `agentmux mcp` of this agentmux, whatever the cwd and PYTHONPATH
    shown = subprocess.run([server["command"], *server["args"], "--help"], capture_output=True, text=True,
                           cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}, timeout=60)
    assert shown.returncode == 0 and "usage: agentmux mcp" in shown.stdout, shown.stderr
    (tmp_path / "mcp").mkdir()  # a project with a module named like the SDK does not shadow it
    (tmp_path / "mcp" / "__init__.py").write_text("raise SystemExit('the project shadowed the SDK')\n")
    shown = subprocess.run([server["command"], *server["args"], "--as", "x"], capture_output=True, text=True,
                           cwd=tmp_path, input="", timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                                    "AGENTMUX_CONFIG": str(tmp_path / "none.toml")})
    assert shown.returncode == 0 and "shadowed" not in shown.stderr, shown.stderr
    assert shlex.split(shlex.join(server["args"]))  # plain strings


@needs_claude
def test_claude_calls_the_agentmux_tools_without_asking(env: Env, fake: FakeAnthropic, running: Supervisors) -> None:
    claude_config(env, fake)
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
    fake.add(Reply.tool("WaitForMcpServers", {"servers": ["agentmux"]}),
             Reply.tool("mcp__agentmux__lock_acquire", {"name": "build", "ttl": 600}),
             Reply.tool("mcp__agentmux__state_set", {"key": "build/status", "value": {"state": "building"}}),
             Reply.tool("mcp__agentmux__reserve", {"paths": ["src/parser.py"], "exclusive": True}),
             Reply.text("I hold the build lock."))
    sent = env.cli("send", "cc", "take the build lock")
    assert sent.returncode == 0, sent.stderr
    locks = Locks(run.fleet.store, env.state_dir)
    run.until(lambda: locks.holders("build"), timeout=60, message="the lock taken through the MCP tool")
    [hold] = locks.holders("build")
    assert hold.owner == "cc" and hold.ttl == 600  # the server acts for the agent it runs in
    run.until(lambda: fake.messages()[-1].user_text == "I hold the build lock." or
              run.fleet.store.agent("cc").reason == "turn ended (Stop)", timeout=60, message="the turn's end")
    results = [block for request in fake.messages() for message in request.body["messages"]
               if message["role"] == "user" and isinstance(message["content"], list)
               for block in message["content"] if block.get("type") == "tool_result"]
    texts = [block["content"] if isinstance(block["content"], str) else "".join(part.get("text", "") for part in
             block["content"]) for block in results]
    acquired = [json.loads(text) for text in texts if text.startswith("{") and '"token"' in text]
    assert acquired and acquired[-1]["owner"] == "cc" and acquired[-1]["token"] == hold.token, results
    assert "mcp__agentmux__lock_acquire" in {tool["name"] for tool in fake.messages()[-1].body["tools"]}
    entry = SharedState(run.fleet.store, env.state_dir).get("build/status")
    assert entry is not None and entry.value == {"state": "building"} and entry.updated_by == "cc"
    shown = env.cli("state", "get", "build/status")
    assert shown.returncode == 0 and json.loads(shown.stdout) == {"state": "building"}
    # the server runs in the agent's working directory: a relative path is the agent's
    [reserved] = Reservations(run.fleet.store, env.state_dir).ls()
    assert (reserved.pattern, reserved.owner, reserved.exclusive) == (f"{env.root}/work/src/parser.py", "cc", True)
    assert not any(e.event == "PermissionRequest" for e in run.fleet.store.hook_events_after(0))
