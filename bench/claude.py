"""Benchmark: Claude Code's hooks as agentmux installs them, with the real CLI.

Usage: .venv/bin/python bench/claude.py [--calls 200] [--turns 20]

1. Hook wall time: the hook command exactly as a claude agent's settings file has it (ClaudeKind.prepare),
   run `--calls` times through /bin/sh (as Claude Code runs a hook command) with a PreToolUse payload against
   a real store, from fork to exit. Budget: p95 < 60 ms (it runs inside every tool call). The same for a
   PermissionRequest answered by the agent's approval policy (it reads the rules and matches them).
2. Hook to TUI: the real AgentmuxApp headless, one claude agent (the real CLI from .cache/claude-code, or
   `claude` on PATH) in a private tmux server, talking to the loopback fake Messages API of tests/. Each of
   `--turns` prompts makes two changes of state by hook (UserPromptSubmit: busy; Stop: idle); latency is
   the time the app's dashboard holds the new state minus the time the hook recorded the event (both wall
   clock, the same machine). Budget: p95 < 150 ms.
Exits 1 when a budget fails, 2 when the Claude Code CLI is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _paths  # noqa: F401 - first: sets up sys.path

sys.path.insert(0, str(_paths.ROOT))  # tests/ for the fake Messages API

from tests.claude.conftest import claude_binary  # noqa: E402
from tests.fake_anthropic import API_KEY, FakeAnthropic, Reply  # noqa: E402

from agentmux.actions import Actions  # noqa: E402
from agentmux.agents.kinds import KINDS, claude_settings_path  # noqa: E402
from agentmux.config import AgentSpec, Config, Settings  # noqa: E402
from agentmux.config.model import ApprovalPolicy  # noqa: E402
from agentmux.state import AgentState  # noqa: E402
from agentmux.store import Store  # noqa: E402
from agentmux.tui.app import AgentmuxApp  # noqa: E402

HOOK_BUDGET_MS = 60.0
TUI_BUDGET_MS = 150.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def hook_wall_times(run_dir: Path, calls: int, event: str = "PreToolUse") -> list[float]:
    """The hook's wall time for `event`; a PermissionRequest is answered by the agent's approval policy (an
    allow rule near the end of a few), as it would be before anyone is asked."""
    home = run_dir / f"hook-state-{event}"
    home.mkdir()
    store = home / "bench.db"
    Store(store).close()
    policy = ApprovalPolicy(allow=("Read", "Edit(src/*)", "Bash(git status)", "Bash(pytest *)", "Bash(ls *)"),
                            deny=("Bash(rm *)", "Bash(git push*)"))
    spec = AgentSpec(name="cc", kind="claude", command="claude", cwd=run_dir, approve=policy)
    KINDS["claude"].prepare(spec, home)
    settings = json.loads(claude_settings_path(home, "cc").read_text())
    command = settings["hooks"][event][0]["hooks"][0]["command"]
    env = dict(os.environ, AGENTMUX_AGENT="cc", AGENTMUX_STORE=str(store), AGENTMUX_HOME=str(home))
    payload = json.dumps({"session_id": "00000000-0000-0000-0000-000000000000", "hook_event_name": event,
                          "tool_name": "Bash", "tool_input": {"command": "ls -l src"}, "cwd": str(run_dir)}).encode()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        done = subprocess.run(["/bin/sh", "-c", command], input=payload, env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
        if event == "PermissionRequest" and b'"allow"' not in done.stdout:
            raise RuntimeError(f"the policy did not answer: {done.stdout!r}")
    return times


def claude_config(run_dir: Path, binary: str, fake: FakeAnthropic) -> Config:
    work = run_dir / "work"
    work.mkdir()
    config_dir = run_dir / "claude-config"
    config_dir.mkdir()
    (config_dir / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(work): {"hasTrustDialogAccepted": True}}}))
    env = {"CLAUDE_CONFIG_DIR": str(config_dir), "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": API_KEY,
           "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
    settings = Settings(socket=f"amc-{os.getpid()}", state_dir=run_dir / "state", tmux_config=Path("/dev/null"))
    spec = AgentSpec(name="cc", kind="claude", command=binary, cwd=work, env=env)
    return Config(path=run_dir / "agentmux.toml", settings=settings, agents=(spec,))


async def tui_latencies(config: Config, fake: FakeAnthropic, turns: int) -> list[float]:
    """Milliseconds from each hook event to the dashboard holding the state it implies."""
    app = AgentmuxApp(config)
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        def shown() -> AgentState | None:
            status = app.shown_status("cc")
            return status.state if status is not None else None

        async def until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout
            while not predicate():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out (the tile shows {shown()})")
                await pilot.pause(0.002)

        actions = Actions(config)
        try:
            actions.fleet.start("cc")
            await until(lambda: shown() == AgentState.IDLE, 60)
            store = actions.fleet.store
            for turn in range(turns):
                fake.add(Reply.text(f"Reply {turn}, a few words long.", chunk_delay=0.05))
                before = store.last_hook_id("cc")
                sender = threading.Thread(target=actions.fleet.send, args=("cc", f"prompt {turn}"))
                sender.start()
                for event, state in (("UserPromptSubmit", AgentState.BUSY), ("Stop", AgentState.IDLE)):
                    await until(lambda s=state: shown() == s, 30)
                    seen = time.time()
                    events = [e for e in store.hook_events_after(before) if e.agent == "cc" and e.event == event]
                    if events:
                        latencies.append((seen - events[0].at) * 1000)
                sender.join()
                await pilot.pause(0.3)
        finally:
            actions.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="hook calls timed (default 200)")
    parser.add_argument("--turns", type=int, default=20, help="prompts sent to the claude agent (default 20)")
    args = parser.parse_args()
    binary = claude_binary()
    if binary is None:
        print("bench/claude.py: the Claude Code CLI is not installed (./dev test installs it with npm)")
        return 2
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    run_dir = Path(tempfile.mkdtemp(prefix="amc-", dir="/tmp"))
    os.environ.update(TMUX_TMPDIR=str(run_dir), SHELL="/bin/sh", XDG_CONFIG_HOME=str(run_dir / "config"),
                      XDG_STATE_HOME=str(run_dir / "xdg-state"))
    for name in ("TMUX", "TMUX_PANE", "CLAUDECODE"):
        os.environ.pop(name, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fake = FakeAnthropic()
    config = claude_config(run_dir, binary, fake)
    try:
        hooks = hook_wall_times(run_dir, args.calls)
        decided = hook_wall_times(run_dir, args.calls, "PermissionRequest")
        tui = asyncio.run(tui_latencies(config, fake, args.turns))
    finally:
        subprocess.run(["tmux", "-L", config.settings.socket, "kill-server"], capture_output=True, timeout=30)
        fake.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"Claude Code {version}; load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    hook_p95, tui_p95 = percentile(hooks, 0.95), percentile(tui, 0.95)
    print(f"  hook wall time: p50 {percentile(hooks, 0.5):.1f} ms, p95 {hook_p95:.1f} ms, max {max(hooks):.1f} ms "
          f"over {len(hooks)} calls")
    decided_p95 = percentile(decided, 0.95)
    print(f"  hook answering by policy (PermissionRequest): p50 {percentile(decided, 0.5):.1f} ms, p95 "
          f"{decided_p95:.1f} ms, max {max(decided):.1f} ms over {len(decided)} calls")
    print(f"  hook -> TUI state: p50 {percentile(tui, 0.5):.0f} ms, p95 {tui_p95:.0f} ms, max "
          f"{max(tui) if tui else float('nan'):.0f} ms over {len(tui)} changes ({args.turns} turns)")
    checks = [(f"hook wall time p95 < {HOOK_BUDGET_MS:g} ms", hook_p95 < HOOK_BUDGET_MS),
              (f"policy answer p95 < {HOOK_BUDGET_MS:g} ms", decided_p95 < HOOK_BUDGET_MS),
              (f"hook -> TUI p95 < {TUI_BUDGET_MS:g} ms", bool(tui) and tui_p95 < TUI_BUDGET_MS)]
    for text, ok in checks:
        print(f"budget: {text:<32} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
