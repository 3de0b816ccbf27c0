"""`agentmux hook EVENT`: what Claude Code runs for each hook event of an agent agentmux started.

It runs inside Claude Code's every tool call, so it is small and quick: it imports only the standard
library's json, os, sqlite3, _socket and sys, reads the event's JSON from standard input, appends one row to the
store's `hook_events` table (the agent, the event, when, Claude Code's session id and the payload), and
exits 0 whatever happens: a hook that fails must never stop the agent. Run by anything other than an
agentmux agent (no AGENTMUX_AGENT and AGENTMUX_STORE in its environment) it does nothing.
The supervisor reads the newest event of each agent on every look (README: The claude kind).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

MAX_PAYLOAD = 256 * 1024
"""Bytes of an event's JSON kept (a PostToolUse payload carries the tool's whole output)."""


def record(event: str, stdin: bytes, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Append the event to the agent's store; False when this is not an agentmux agent or nothing was kept."""
    agent, store = environ.get("AGENTMUX_AGENT"), environ.get("AGENTMUX_STORE")
    if not agent or not store or not os.path.isfile(store):
        return False
    try:
        payload = json.loads(stdin.decode("utf-8", errors="replace") or "{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    name = str(payload.get("hook_event_name") or event)[:64]
    detail = ""
    if name == "Notification":
        detail = str(payload.get("notification_type") or "")[:64]
    text = json.dumps(payload, ensure_ascii=False)
    if len(text) > MAX_PAYLOAD:
        text = json.dumps({k: v for k, v in payload.items() if k in SMALL_FIELDS}, ensure_ascii=False)[:MAX_PAYLOAD]
    if name == "SessionStart":
        _remember_session(environ, agent, payload)
    db = sqlite3.connect(store, timeout=2.0, isolation_level=None)
    try:
        db.execute("INSERT INTO hook_events (agent, event, detail, at, session_id, payload) VALUES (?, ?, ?, ?, ?, ?)",
                   (agent, name, detail, time.time(), str(payload.get("session_id") or ""), text))
    finally:
        db.close()
    _wake(environ.get("AGENTMUX_HOME"))
    return True


def _wake(home: str | None) -> None:
    """Wake every supervisor loop of this state dir (agentmux/supervisor/wake.py), so the state shows now."""
    if not home:
        return
    import _socket  # the C module: socket.py's wrapper costs more to import than the call it makes

    folder = os.path.join(home, "run", "wake")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    sender = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    sender.setblocking(False)
    try:
        for name in names:
            try:  # noqa: SIM105 - contextlib would cost the hook an import
                sender.sendto(b"!", "\0agentmux-wake-" + name)  # supervisor/wake.py ABSTRACT_PREFIX
            except OSError:
                pass  # a loop that is gone, or one with a full queue (awake anyway)
    finally:
        sender.close()


def _remember_session(environ: dict[str, str] | os._Environ[str], agent: str, payload: dict[str, object]) -> None:
    """Note the session Claude Code runs (it changes on /clear), so a restart resumes it: one line of JSON in
    AGENTMUX_HOME/claude/AGENT/session (agents/kinds.py ClaudeKind reads it)."""
    home, session = environ.get("AGENTMUX_HOME"), payload.get("session_id")
    if not home or not isinstance(session, str) or not session:
        return
    path = os.path.join(home, "claude", agent, "session")
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"session_id": session, "transcript_path": payload.get("transcript_path")}, handle)
    os.replace(temporary, path)


SMALL_FIELDS = ("session_id", "transcript_path", "cwd", "hook_event_name", "tool_name", "notification_type",
                "message", "source", "reason", "prompt_id", "error", "error_type")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    event = args[0] if args else ""
    try:
        data = sys.stdin.buffer.read(16 * 1024 * 1024)
        record(event, data, os.environ)
    except Exception:  # noqa: BLE001 - a hook must never fail the agent's tool call
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
