"""A loopback fake of Anthropic's Messages API, for tests that drive the real Claude Code CLI or SDK.

`FakeAnthropic()` listens on 127.0.0.1 (a free port) in a thread. Each POST /v1/messages is answered with
the next scripted `Reply` (or the default: a short text echoing the last user message), streamed as
server-sent events when the request asks for `stream`, else as one JSON message. Every request is kept in
`requests` (its JSON body and headers) so a test can check what the client sent, and in what order.

Replies: `Reply.text("...")`, `Reply.tool("Bash", {"command": "touch x"})` (a `tool_use` block: the client
runs the tool, or asks the user first, and sends its result in the next request), `Reply.failure(529,
"overloaded_error", "Overloaded")`, each with an optional `delay` (seconds before the first byte) and
`chunk_delay` (between streamed text chunks) and `usage` (the tokens it reports). `match` picks a reply
by the last user text instead of the order of the script. Only turns of the conversation (requests that
offer tools) take scripted replies; side calls (Claude Code asks for a session title) get a short text.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "sk-ant-fake-key-for-tests-0123456789"


@dataclass
class Reply:
    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    status: int = 200
    error: dict[str, Any] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    match: str | None = None  # answer only a request whose last user text contains this
    headers: dict[str, str] = field(default_factory=dict)  # sent with the reply (retry-after on a 429, rate limits)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 12, "output_tokens": 7,
                                                           "cache_creation_input_tokens": 0,
                                                           "cache_read_input_tokens": 0})

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(blocks=[{"type": "text", "text": text}], **kw)

    @classmethod
    def tool(cls, name: str, tool_input: dict[str, Any], text: str = "", **kw: Any) -> Reply:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name,
                       "input": tool_input})
        return cls(blocks=blocks, stop_reason="tool_use", **kw)

    @classmethod
    def failure(cls, status: int, kind: str, message: str, **kw: Any) -> Reply:
        return cls(status=status, error={"type": "error", "error": {"type": kind, "message": message}}, **kw)


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message: its last text block (Claude Code puts its reminders before the
    prompt), or a tool result's content."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        parts = []
        for block in content or []:
            if block.get("type") == "text":
                parts.append(block.get("text", ""))
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                parts.append(inner if isinstance(inner, str) else json.dumps(inner))
        return parts[-1] if parts else ""
    return ""


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_text(self) -> str:
        return last_user_text(self.body)

    @property
    def conversation(self) -> bool:
        """A turn of the conversation (it offers tools), not a side call such as a session title."""
        return bool(self.body.get("tools"))


class FakeAnthropic:
    def __init__(self, default: Callable[[Request], Reply] | None = None) -> None:
        self.script: list[Reply] = []
        self.requests: list[Request] = []
        self.default = default or (lambda request: Reply.text(f"echo: {request.user_text[-200:]}"))
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def messages(self) -> list[Request]:
        """The Messages API calls that carried a conversation (not the client's side calls: titles, counts)."""
        with self._lock:
            return [r for r in self.requests if r.conversation]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if not request.conversation:
                return Reply.text("A title")  # a side call (Claude Code asks for a session title): not scripted
            for index, reply in enumerate(self.script):
                if reply.match is None or reply.match in request.user_text:
                    return self.script.pop(index)
        return self.default(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                path = self.path.split("?")[0]
                if path.endswith("/count_tokens"):
                    self._json(200, {"input_tokens": 10})
                    return
                if not path.startswith("/v1/messages"):
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
                    return
                request = Request(path=path, headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                reply = fake._next(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.error is not None:
                    self._json(reply.status, reply.error, reply.headers)
                elif body.get("stream"):
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the user interrupted the turn
                        self._stream(reply, body)
                else:
                    self._json(200, self._message(reply, body), reply.headers)

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:16]}")
                self.end_headers()
                self.wfile.write(data)

            def _message(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
                return {"id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant",
                        "model": body.get("model", "claude-fake"), "content": reply.blocks,
                        "stop_reason": reply.stop_reason, "stop_sequence": None,
                        "usage": dict(reply.usage)}

            def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.close_connection = True
                message = self._message(reply, body)

                def event(kind: str, data: dict[str, Any]) -> None:
                    self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

                start = dict(message, content=[], stop_reason=None,
                             usage=dict(message["usage"], output_tokens=1))
                event("message_start", {"type": "message_start", "message": start})
                for index, block in enumerate(reply.blocks):
                    if block["type"] == "text":
                        event("content_block_start", {"type": "content_block_start", "index": index,
                                                      "content_block": {"type": "text", "text": ""}})
                        words = block["text"].split(" ")
                        for at, word in enumerate(words):
                            piece = word if at == len(words) - 1 else word + " "
                            event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                          "delta": {"type": "text_delta", "text": piece}})
                            if reply.chunk_delay:
                                time.sleep(reply.chunk_delay)
                    else:
                        event("content_block_start", {"type": "content_block_start", "index": index,
                                                      "content_block": dict(block, input={})})
                        event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                      "delta": {"type": "input_json_delta",
                                                                "partial_json": json.dumps(block["input"])}})
                    event("content_block_stop", {"type": "content_block_stop", "index": index})
                event("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                                        "usage": {"output_tokens": reply.usage["output_tokens"]}})
                event("message_stop", {"type": "message_stop"})

        return Handler
