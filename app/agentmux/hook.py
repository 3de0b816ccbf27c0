"""`agentmux hook EVENT`: what Claude Code runs for each hook event of an agent agentmux started.

It runs inside Claude Code's every tool call, so it is small and quick: it imports only the standard
library's json, os, sqlite3, _socket and sys (and agentmux/redact.py), reads the event's JSON from standard input,
appends one row to the store's `hook_events` table (the agent, the event, when, Claude Code's session id and the
payload, its secret values and key shapes masked: a tool's output may hold them), and
exits 0 whatever happens: a hook that fails must never stop the agent. Run by anything other than an
agentmux agent (no AGENTMUX_AGENT and AGENTMUX_STORE in its environment) it does nothing.
The supervisor reads the newest event of each agent on every look (README: The claude kind).

A PermissionRequest is answered here when it can be (README: Approval policy): by the agent's policy
(`AGENTMUX_HOME/claude/AGENT/policy.json`, rules read by agentmux/policy.py) at once, else by the user
through agentmux: the hook waits (up to ANSWER_WAIT) on a datagram socket of its own, named in the
event's row, for `agentmux answer` to send it allow or deny, and prints that decision for Claude Code.
Claude Code shows its dialog meanwhile, so the user can answer inside the pane too; the hook then sees
the question is over (a later event of the agent, or its state moved on) and ends without a word.
"""

from __future__ import annotations

import _socket  # the C module: socket.py's wrapper costs more to import than the calls it makes
import json
import os
import sqlite3
import sys
import time

from agentmux.redact import MIN_MASKED, Redactor, mask_keys

MAX_PAYLOAD = 256 * 1024
"""Bytes of an event's JSON kept (a PostToolUse payload carries the tool's whole output)."""
ANSWER_WAIT = 3600.0
"""Seconds a PermissionRequest hook waits for an answer from agentmux (Claude Code is told to give it a
minute more); after that the dialog is answered by keys or in the pane."""
ANSWER_PREFIX = "\0agentmux-answer-"
"""A waiting hook's socket, in Linux's abstract namespace: this and the event row's `reply`."""
CHECK_EVERY = 1.0
"""Seconds between a waiting hook's looks at whether its question is still open."""

Environ = dict[str, str] | os._Environ[str]


def record(event: str, stdin: bytes, environ: Environ) -> str | None:
    """Append the event to the agent's store; for a PermissionRequest, the decision Claude Code is to print
    (JSON), when the policy or the user gave one. None also when this is not an agentmux agent."""
    agent, store = environ.get("AGENTMUX_AGENT"), environ.get("AGENTMUX_STORE")
    if not agent or not store or not os.path.isfile(store):
        return None
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
    text = _masked(text, environ)
    if name == "SessionStart":
        _remember_session(environ, agent, payload)
    decision, said, listener = None, "", None
    if name == "PermissionRequest":
        decision, detail, said = _by_policy(environ, agent, payload)
        if decision is None:
            listener = _listen()
    at = time.time()
    db = sqlite3.connect(store, timeout=2.0, isolation_level=None)
    try:
        row = db.execute("INSERT INTO hook_events (agent, event, detail, at, session_id, payload, reply) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (agent, name, detail, at, str(payload.get("session_id") or ""), text,
                          listener[1] if listener else "")).lastrowid
        if said:
            db.execute("INSERT INTO events (agent, at, kind, message) VALUES (?, ?, 'answer', ?)", (agent, at, said))
    finally:
        db.close()
    _wake(environ.get("AGENTMUX_HOME"))
    if listener is not None:
        decision = _wait_for_answer(listener[0], listener[1].partition(":")[2], store, agent, int(row or 0), at)
    if decision is None:
        return None
    return json.dumps({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}})


def _masked(text: str, environ: Environ) -> str:
    """The event's JSON with the agent's own secret values (as the JSON spells them) and key shapes masked: a
    tool's output may hold them, and the store never does."""
    pairs = {}
    for name in environ.get("AGENTMUX_SECRET_NAMES", "").split():
        value = environ.get(name, "")
        if len(value.strip()) >= MIN_MASKED:
            pairs[name] = value
    for name, value in pairs.items():  # as the JSON spells it (quotes, backslashes, new lines escaped): whole, by line
        for part in (value, *value.splitlines()):
            text = Redactor({name: json.dumps(part, ensure_ascii=False)[1:-1]})(text)
    return mask_keys(Redactor(pairs)(text))


def _by_policy(environ: Environ, agent: str, payload: dict[str, object]) -> tuple[dict[str, str] | None, str, str]:
    """The agent's policy on this permission question: (decision or None, the event's detail, what to record
    in the agent's events)."""
    home = environ.get("AGENTMUX_HOME")
    try:
        with open(os.path.join(home or "", "claude", agent, "policy.json"), encoding="utf-8") as handle:
            policy = json.load(handle)
    except (OSError, ValueError):
        return None, "", ""  # no policy: the user answers
    from agentmux.policy import decide, subject  # only now: most events need no rules

    tool, tool_input = str(payload.get("tool_name") or ""), payload.get("tool_input")
    policy = policy if isinstance(policy, dict) else {}
    cwd = str(policy.get("cwd") or payload.get("cwd") or "")  # the agent's folder, not where Claude Code cd'ed
    verdict = decide(policy, tool, tool_input, cwd, protected=(str(home or ""), "AGENTMUX_HOME"))
    what = f"{tool}: {' '.join(str(subject(tool_input) or '').split())}".rstrip(": ")[:200]
    if verdict is None:
        return None, "", ""
    kind, rule = verdict
    if kind == "allow":
        return {"behavior": "allow"}, f"allowed by rule {rule}", f"allowed {what} (policy rule {rule})"
    on_deny = policy.get("on_deny", "ask")
    if on_deny == "ask":
        return None, f"deny rule {rule}: left to the user", f"left {what} to the user (policy deny rule {rule})"
    fatal = " (fatal)" if on_deny == "fail" else ""
    message = f"agentmux's approval policy refuses this (rule {rule})"
    return ({"behavior": "deny", "message": message}, f"refused by rule {rule}{fatal}",
            f"refused {what} (policy rule {rule}){fatal}")


def _listen() -> tuple[_socket.socket, str] | None:
    """A datagram socket of this hook's own for the user's answer, and what the event's row notes of it:
    `NAME:SECRET`. The name (in Linux's abstract namespace) can be seen by every local user, so an answer
    counts only with the secret, which only the store (readable by its owner alone) holds."""
    token, secret = os.urandom(8).hex(), os.urandom(16).hex()
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    try:
        listener.bind(ANSWER_PREFIX + token)
    except OSError:
        listener.close()
        return None
    listener.settimeout(CHECK_EVERY)
    return listener, f"{token}:{secret}"


def _wait_for_answer(listener: _socket.socket, secret: str, store: str, agent: str, row: int,
                     at: float) -> dict[str, str] | None:
    """The decision `agentmux answer` sends (agents/answers.py), or None once the question is over otherwise:
    a later event of the agent (the user answered in the pane: the tool ran), its state moved on from the
    question (denied in the pane: idle by its screen), Claude Code gone, or ANSWER_WAIT passed."""
    parent = os.getppid()
    deadline = at + ANSWER_WAIT
    try:
        while time.time() < deadline and os.getppid() == parent:
            try:
                data = listener.recv(4096)
            except TimeoutError:
                if _question_over(store, agent, row, at):
                    return None
                continue
            try:
                answer = json.loads(data.decode("utf-8"))
            except ValueError:
                continue
            if (isinstance(answer, dict) and answer.get("secret") == secret
                    and answer.get("behavior") in ("allow", "deny")):
                decision = {"behavior": answer["behavior"]}
                if answer["behavior"] == "deny":
                    decision["message"] = str(answer.get("message") or "The user said no (through agentmux).")
                return decision
    finally:
        listener.close()
    return None


def _question_over(store: str, agent: str, row: int, at: float) -> bool:
    try:
        db = sqlite3.connect(store, timeout=2.0, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        mine = db.execute("SELECT payload FROM hook_events WHERE id = ?", (row,)).fetchone()
        later = db.execute("SELECT event, payload FROM hook_events WHERE agent = ? AND id > ? AND event IN "
                           "('PostToolUse', 'PostToolUseFailure', 'UserPromptSubmit', 'Stop', 'StopFailure', "
                           "'SessionStart', 'SessionEnd')", (agent, row)).fetchall()
        state = db.execute("SELECT state, state_since FROM agents WHERE name = ?", (agent,)).fetchone()
    except sqlite3.Error:
        return False
    finally:
        db.close()
    asked = _tool_call(mine[0]) if mine else None
    for event, payload in later:
        # over when the turn moved on, or this very tool call ran (not another, parallel one)
        if not event.startswith("PostToolUse") or _tool_call(payload) == asked:
            return True
    return state is not None and state[0] != "waiting" and state[1] > at


def _tool_call(payload: str) -> tuple[str, str] | None:
    try:
        data = json.loads(payload)
        return str(data.get("tool_name")), json.dumps(data.get("tool_input"), sort_keys=True)
    except (ValueError, AttributeError):
        return None


def _wake(home: str | None) -> None:
    """Wake every supervisor loop of this state dir (agentmux/supervisor/wake.py), so the state shows now."""
    if not home:
        return
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
        decision = record(event, data, os.environ)
        if decision is not None:
            sys.stdout.write(decision + "\n")
            sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a hook must never fail the agent's tool call
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
