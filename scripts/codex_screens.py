"""Record the screens of the real Codex CLI in each state, for the codex kind's screen table (CODEX_SCREEN in
app/agentmux/agents/detectors.py; tests/unit/test_codex_detect.py reads them).

Recorded from Codex CLI 0.171.0 (`npm install @openai/codex@0.171.0`). The CLI runs in tmux on a private
socket (`tmux -L agentmux-codex-rec -f /dev/null`; that server alone is killed at the end) with a CODEX_HOME
of its own, whose config.toml points it at a loopback fake of the OpenAI Responses API in this script
(127.0.0.1, a free port: nothing reaches the internet). Each state is reached by what the fake answers,
picked by the prompt typed:

- idle.txt: the fresh session at its input box;
- busy.txt: `think slowly`, answered after 30 s: Codex shows `Working (0s • esc to interrupt)`;
- interrupted.txt: that turn after Escape (`■ Conversation interrupted`: idle again, not an error);
- streaming.txt: `write slowly`, a reply streamed a few words a second (no working line: busy by its output);
- waiting.txt: `make a file`, an `exec_command` call asking to run unsandboxed (`sandbox_permissions:
  require_escalated`), so Codex asks in its approval dialog; the script then presses `1` and checks that the
  command ran (a digit picks a choice, as `agentmux answer` does);
- retrying.txt: `retry`, answered with HTTP 500: `Reconnecting... 2/3`;
- error.txt: the end of that turn, once Codex gives up (`■ We're currently experiencing high demand ...`);
- failed.txt: `fail`, answered with HTTP 400 (`■ {"error": ...}`).

Side requests (the session's title) are answered with a short text. The model is `fake-model`, which Codex does
not know (a startup warning says so) so that it offers its plain function tools.

    npm install --prefix .cache/codex @openai/codex@0.171.0   # once
    .venv/bin/python scripts/codex_screens.py [--codex PATH] [--out tests/codex/screens] [--keep]

Each screen is `tmux capture-pane -p` of the pane (200x50, an agent's default size), written as OUT/STATE.txt.
Every wait polls the screen with a deadline; a state that does not show in time fails the script, naming it,
with the screen.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODEX_VERSION = "0.171.0"
DEFAULT_CODEX = ROOT / ".cache" / "codex" / "node_modules" / ".bin" / "codex"
SOCKET = "agentmux-codex-rec"
SESSION = "codex"
WIDTH, HEIGHT = 200, 50  # agentmux's default size of an agent
API_KEY = "sk-fake-codex-key-for-recording"
DEADLINE = 60.0


# --- the fake Responses API --------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the fake answers one turn's request: text streamed in `chunks` (`chunk_delay` apart), a function
    call, or an HTTP error."""

    chunks: list[str] = field(default_factory=list)
    chunk_delay: float = 0.0
    delay: float = 0.0
    """Seconds before the first event (the model thinking)."""
    call: tuple[str, dict[str, Any]] | None = None
    status: int = 200
    error: str = ""


def user_texts(body: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for item in body.get("input", []):
        if item.get("type") == "message" and item.get("role") == "user":
            texts += [span.get("text", "") for span in item.get("content", []) if span.get("type") == "input_text"]
    return texts


class FakeResponses:
    """POST /v1/responses on 127.0.0.1 (a free port), answered by `reply(body)`; GET answers an empty list."""

    def __init__(self, reply: Callable[[dict[str, Any]], Reply]) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [], "models": []})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                fake.requests.append(body)
                # side calls (a session title) offer no tools: a short text
                answer = fake.reply(body) if body.get("tools") else Reply(chunks=["Recorded session"])
                if answer.status != 200:
                    self._json(answer.status, {"error": {"message": answer.error, "type": "server_error",
                                                         "code": None}})
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                try:
                    for number, event in enumerate(events(answer)):
                        if number == 1:
                            time.sleep(answer.delay)
                        self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        if event["type"] == "response.output_text.delta":
                            time.sleep(answer.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Codex hung up (an interrupted turn)
                self.close_connection = True

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def events(reply: Reply) -> Iterator[dict[str, Any]]:
    """The server-sent events of one response."""
    rid = f"resp_{uuid.uuid4().hex}"
    yield {"type": "response.created", "response": {"id": rid}}
    if reply.chunks:
        mid = f"msg_{uuid.uuid4().hex}"
        yield {"type": "response.output_item.added",
               "item": {"type": "message", "role": "assistant", "id": mid, "content": []}}
        for chunk in reply.chunks:
            yield {"type": "response.output_text.delta", "item_id": mid, "output_index": 0, "content_index": 0,
                   "delta": chunk}
        yield {"type": "response.output_item.done",
               "item": {"type": "message", "role": "assistant", "id": mid,
                        "content": [{"type": "output_text", "text": "".join(reply.chunks)}]}}
    if reply.call is not None:
        name, arguments = reply.call
        yield {"type": "response.output_item.done",
               "item": {"type": "function_call", "id": f"fc_{uuid.uuid4().hex}", "call_id": f"call_{uuid.uuid4().hex}",
                        "name": name, "arguments": json.dumps(arguments)}}
    yield {"type": "response.completed",
           "response": {"id": rid, "usage": {"input_tokens": 10, "input_tokens_details": None, "output_tokens": 5,
                                             "output_tokens_details": None, "total_tokens": 15}}}


def script(body: dict[str, Any]) -> Reply:
    """The fake's answers, by the last prompt typed (and whether a tool's result came back)."""
    texts = user_texts(body)
    prompt = texts[-1] if texts else ""
    if any(item.get("type") == "function_call_output" for item in body.get("input", [])[-1:]):
        return Reply(chunks=["Done: the file is there."])
    if prompt == "think slowly":
        return Reply(chunks=["Thought about it."], delay=30)
    if prompt == "write slowly":
        return Reply(chunks=[f"a slow reply, part {n}. " for n in range(24)], chunk_delay=0.4)
    if prompt == "make a file":
        return Reply(call=("exec_command", {"cmd": "touch made-by-codex.txt",
                                            "sandbox_permissions": "require_escalated",
                                            "justification": "Create made-by-codex.txt in the work folder?"}))
    if prompt == "retry":
        return Reply(status=500, error="the fake is overloaded")
    if prompt == "fail":
        return Reply(status=400, error="The fake rejects this request.")
    return Reply(chunks=["Hello from the fake Responses API."])


# --- tmux --------------------------------------------------------------------------------------------------


def tmux(*args: str, check: bool = True) -> str:
    result = subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True, text=True,
                            check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", f"={SESSION}:")


def wait_for(what: str, pattern: str, deadline: float = DEADLINE) -> str:
    """Poll the screen until `pattern` (a regex) shows on it; the screen. Fails naming `what` at the deadline."""
    end = time.monotonic() + deadline
    while True:
        text = screen()
        if re.search(pattern, text, re.M):
            return text
        if time.monotonic() > end:
            raise SystemExit(f"codex_screens: no {what} screen within {deadline:g}s (waiting for /{pattern}/):\n{text}")
        time.sleep(0.1)


def wait_settled(quiet: float = 1.0, deadline: float = DEADLINE) -> str:
    """Poll until the screen has not changed for `quiet` seconds; the screen."""
    end = time.monotonic() + deadline
    last, since = screen(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > end:
            raise SystemExit(f"codex_screens: the screen never settled within {deadline:g}s:\n{last}")
        time.sleep(0.1)
        text = screen()
        if text != last:
            last, since = text, time.monotonic()
    return last


def type_prompt(text: str) -> None:
    tmux("send-keys", "-t", f"={SESSION}:", "-l", text)
    wait_for(f"typed {text!r}", re.escape(text))
    tmux("send-keys", "-t", f"={SESSION}:", "Enter")


def save(out: Path, state: str, text: str, home: Path) -> None:
    # the temporary paths vary by run: the screens name them as one fixed folder
    text = text.replace(str(home), "/tmp/codex-rec")
    (out / f"{state}.txt").write_text("\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n") + "\n")
    print(f"codex_screens: {state} -> {out / f'{state}.txt'}")


def config_toml(url: str, work: Path) -> str:
    return f"""model = "fake-model"
model_provider = "fake"
approval_policy = "on-request"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.fake]
name = "Fake"
base_url = "{url}"
env_key = "FAKE_OPENAI_KEY"
wire_api = "responses"
request_max_retries = 3
stream_max_retries = 3

[projects."{work}"]
trust_level = "trusted"
"""


def record(codex: str, out: Path, keep: bool) -> None:
    fake = FakeResponses(script)
    home = Path(tempfile.mkdtemp(prefix="codex-rec-"))
    codex_home, work = home / "codex-home", home / "work"
    codex_home.mkdir()
    work.mkdir()
    (codex_home / "config.toml").write_text(config_toml(fake.url, work))
    env = {"CODEX_HOME": str(codex_home), "HOME": str(home), "FAKE_OPENAI_KEY": API_KEY, "TERM": "xterm-256color",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    options = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    out.mkdir(parents=True, exist_ok=True)
    try:
        tmux("new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(work), *options,
             f"{shlex.quote(codex)} --no-daemon; sleep 600")
        explore(out, home)
    finally:
        tmux("kill-server", check=False)
        fake.close()
        if keep:
            print(f"codex_screens: kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def explore(out: Path, home: Path) -> None:
    """Drive Codex through each state, saving its screen in each."""
    save(out, "idle", settled(r"^› Ask Codex to do anything"), home)
    type_prompt("think slowly")
    save(out, "busy", wait_for("busy", r"Working \(\d+s • esc to interrupt\)"), home)
    press("Escape")
    save(out, "interrupted", settled(r"^■ Conversation interrupted"), home)
    type_prompt("write slowly")
    save(out, "streaming", wait_for("streaming", r"part 3\. "), home)
    settled(r"Worked for")
    type_prompt("make a file")
    save(out, "waiting", settled(r"Would you like to run the following command\?"), home)
    press("1")
    settled(r"Done: the file is there\.")
    if not (home / "work" / "made-by-codex.txt").exists():
        raise SystemExit("codex_screens: the approved command did not run (no made-by-codex.txt)")
    type_prompt("retry")
    save(out, "retrying", wait_for("retrying", r"Reconnecting\.\.\. 2/\d+"), home)
    save(out, "error", settled(r"^■ We’re currently experiencing high demand"), home)
    type_prompt("fail")
    save(out, "failed", settled(r"^■ .*The fake rejects this request"), home)


def press(key: str) -> None:
    tmux("send-keys", "-t", f"={SESSION}:", key)


def settled(pattern: str) -> str:
    """The screen once `pattern` shows on it and it has stopped changing."""
    wait_for(pattern, pattern)
    text = wait_settled()
    if not re.search(pattern, text, re.M):
        raise SystemExit(f"codex_screens: /{pattern}/ went away before the screen settled:\n{text}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codex", default=str(DEFAULT_CODEX), help="the codex command (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "codex" / "screens")
    parser.add_argument("--keep", action="store_true", help="keep the temporary CODEX_HOME and work folder")
    args = parser.parse_args(argv)
    if shutil.which(args.codex) is None:
        print(f"codex_screens: no codex at {args.codex}: "
              f"npm install --prefix .cache/codex @openai/codex@{CODEX_VERSION}", file=sys.stderr)
        return 1
    version = subprocess.run([args.codex, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if CODEX_VERSION not in version:
        print(f"codex_screens: warning: recording {version!r}, not {CODEX_VERSION}", file=sys.stderr)
    record(args.codex, args.out, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
