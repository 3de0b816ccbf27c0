"""The loopback gateway for Claude Code agents: a Messages API proxy on 127.0.0.1 that knows each agent by its
own token and forwards with that agent's real key, so the key never enters the agent's session.

POST /v1/messages (streamed or not), /v1/messages/count_tokens and any other /v1/* path are forwarded to the
upstream with every header but hop-by-hop and auth ones unchanged (`anthropic-version`, `anthropic-beta`, ...)
and `x-api-key` set to the agent's real key. Server-sent events go back as they arrive, each chunk written at
once (pings too). Upstream errors come back unchanged (status, headers such as retry-after, body); an upstream
that does not answer in time is a 504 in the API's error shape, one that cannot be reached a 502. Usage is read
from the SSE `message_start`/`message_delta` events or the JSON body's `usage`.

The stack is the standard library's: `ThreadingHTTPServer` for the agents (a handful of clients, each a
thread) and `http.client` to the upstream, with idle upstream connections kept for the next request (no new
TCP/TLS handshake per call). No event loop to hop through and no dependency: on loopback the gateway adds
well under a millisecond per request (bench/api.py measures it).

Two seams are where limiting and the ledger plug in: `Hooks.before_forward(agent, body) -> handle` before
the request goes upstream, `Hooks.after_response(handle, status, headers, usage, latency, first_byte)` when it
ended (seconds from the request to its end, and to the first byte of the reply's body).
The default `Hooks` only logs a line and keeps the last records in memory (`Gateway.records`); `LimitedHooks`
(what `agentmux gateway` and serve use) also takes a permit of the shared rate limiter (api/limiter.py) for each
Messages API call, settles it with the real usage and headers, and adds the call to the usage ledger
(api/ledger.py, `via` "gateway").
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from agentmux.agents.secrets import resolve_secret
from agentmux.agents.tokens import URL_FILE, agent_token, gateway_secret
from agentmux.api.ledger import Ledger
from agentmux.api.limiter import Limiter, LimitTimeout, limits_of
from agentmux.api.prices import configured
from agentmux.config.model import AgentSpec, Config
from agentmux.errors import AgentmuxError
from agentmux.store import Store

log = logging.getLogger("agentmux.gateway")

DEFAULT_UPSTREAM = "https://api.anthropic.com"
DEFAULT_PORT = 0
"""0: a free port, chosen when the gateway starts (its URL is written to STATE_DIR/gateway.url)."""
DEFAULT_TIMEOUT = 600.0
"""Seconds to wait for the upstream's headers, and between two chunks of its body."""
CONNECT_TIMEOUT = 10.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "host", "content-length"})
DROPPED_REQUEST = HOP_BY_HOP | {"x-api-key", "authorization", "accept-encoding"}
"""Not passed upstream: hop-by-hop, the agent's token, and accept-encoding (the gateway reads the usage, so
the body comes back uncompressed; it crosses loopback only)."""
CHUNK = 65536
WHOLE = 1 << 22
"""A plain (not streamed) reply up to this size is read whole and sent in one write."""
RECORDS = 1000


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway needs: where to forward, how long to wait, and each agent's real key (resolved)."""

    upstream: str = DEFAULT_UPSTREAM
    port: int = DEFAULT_PORT
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    keys: Mapping[str, str] = field(default_factory=dict)
    """agent name -> the real API key it is forwarded with."""
    enabled: bool = False


def gateway_enabled(config: Config) -> bool:
    """Does `[api.gateway] enabled` say the supervisor runs the gateway?"""
    return config.api.gateway.enabled


def key_candidates(config: Config, spec: AgentSpec) -> list[tuple[str, str]]:
    """(what it is, its secret reference) of each place an agent's real key may come from, in order."""
    candidates: list[tuple[str, str]] = []
    key_name = spec.api_key or "default"
    if key_name in config.api.keys:
        candidates.append((f"api.keys.{key_name}", config.api.keys[key_name].key))
    if "ANTHROPIC_API_KEY" in spec.secrets:
        candidates.append(("ANTHROPIC_API_KEY", spec.secrets["ANTHROPIC_API_KEY"]))
    candidates.append(("ANTHROPIC_API_KEY", "env:ANTHROPIC_API_KEY"))
    return candidates


def key_variables(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of this environment that the claude agents' `env:` key references name: what the
    supervisor's session is started with when it runs the gateway (it runs with agentmux's minimal environment,
    and never in an agent's session)."""
    environ = os.environ if environ is None else environ
    names = {reference[4:] for spec in config.agents if spec.kind == "claude"
             for _, reference in key_candidates(config, spec) if reference.startswith("env:")}
    return {name: environ[name] for name in sorted(names) if environ.get(name)}


def gateway_settings(config: Config, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """The gateway's settings from a loaded config.

    Read from the `[api]` section (`api.upstream`, `api.gateway.enabled/port/timeout`). Each claude agent's key
    is the first of these that resolves in the gateway's environment: `[api.keys.NAME].key` for its `api_key`,
    the agent's secret ANTHROPIC_API_KEY (a reference, `env:` or `file:`), the gateway's own ANTHROPIC_API_KEY.
    An agent with none is left out (its token is refused) and logged."""
    environ = os.environ if environ is None else environ
    keys: dict[str, str] = {}
    for spec in config.agents:
        if spec.kind != "claude":
            continue
        candidates = key_candidates(config, spec)  # the first that resolves
        problems = []
        for what, reference in candidates:
            try:
                keys[spec.name] = resolve_secret(spec.name, what, reference, environ)
                break
            except AgentmuxError as exc:
                problems.append(str(exc))
        else:
            log.warning("gateway: no API key for %s: %s", spec.name, "; ".join(problems))
    return GatewayConfig(
        upstream=config.api.upstream or DEFAULT_UPSTREAM,
        port=config.api.gateway.port,
        timeout=config.api.gateway.timeout,
        keys=keys,
        enabled=gateway_enabled(config),
    )


# --- the seams ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class Record:
    """One forwarded request, as the default hooks keep it."""

    agent: str
    path: str
    status: int
    usage: Usage
    latency: float


class Refused(Exception):
    """Raised by `before_forward` to answer the agent without forwarding (a limit): status, headers, body."""

    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, dict(headers or {})


class GatewayHooks(Protocol):
    def before_forward(self, agent: str, path: str, body: bytes) -> object: ...

    def after_response(self, handle: object, status: int, headers: Mapping[str, str], usage: Usage,
                       latency: float, first_byte: float | None = None) -> None: ...


class Hooks:
    """The default seams: nothing is limited; each response is logged and kept in `records` (the newest
    RECORDS). The limiter (`Limiter.reserve` / `Permit.settle`) and the ledger plug in here."""

    def __init__(self) -> None:
        self.records: deque[Record] = deque(maxlen=RECORDS)

    def before_forward(self, agent: str, path: str, body: bytes) -> object:
        return (agent, path)

    def after_response(self, handle: object, status: int, headers: Mapping[str, str], usage: Usage,
                       latency: float, first_byte: float | None = None) -> None:
        assert isinstance(handle, tuple)
        agent, path = str(handle[0]), str(handle[1])
        record = Record(agent, path, status, usage, latency)
        self.records.append(record)
        log.info("gateway: %s %s %d in=%d out=%d %.0fms", agent, path, status, usage.input_tokens,
                 usage.output_tokens, latency * 1000)


class LimitedHooks(Hooks):
    """The seams wired to the shared rate limiter and the usage ledger (README: Rate limits and usage): a
    Messages API call takes a permit on the agent's key first (waiting as long as the gateway's timeout, else a
    429 in the API's shape), then settles it with the real usage and the rate-limit headers (a 429 holds the
    key back for its retry-after) and adds a row to the ledger (`via` "gateway"). Other paths pass unlimited.
    One store connection per handler thread."""

    def __init__(self, config: Config, wait: float) -> None:
        super().__init__()
        self.config = config
        self.wait = wait
        self.local = threading.local()

    def parts(self) -> tuple[Limiter, Ledger]:
        parts: tuple[Limiter, Ledger] | None = getattr(self.local, "parts", None)
        if parts is None:
            store = Store(self.config.store_path)
            parts = (Limiter(store, self.config.settings.state_dir, limits_of(self.config.api)),
                     Ledger(store, configured(self.config.api)))
            self.local.parts = parts
        return parts

    def before_forward(self, agent: str, path: str, body: bytes) -> object:
        if path != "/v1/messages":
            return super().before_forward(agent, path, body)
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        model = str(request.get("model") or "") if isinstance(request, dict) else ""
        max_output = int(request.get("max_tokens") or 0) if isinstance(request, dict) else 0
        spec = next((s for s in self.config.agents if s.name == agent), None)
        key = spec.api_key if spec is not None else "default"
        limiter, _ = self.parts()
        try:
            permit = limiter.reserve(key, agent, len(body) // 4, max_output, wait=self.wait,
                                     share=spec.share if spec is not None else 1)
        except LimitTimeout as exc:
            raise Refused(429, {"type": "error", "error": {"type": "rate_limit_error", "message": str(exc)}},
                          {"retry-after": "1"}) from None
        return (agent, path, permit, key, model)

    def after_response(self, handle: object, status: int, headers: Mapping[str, str], usage: Usage,
                       latency: float, first_byte: float | None = None) -> None:
        assert isinstance(handle, tuple)
        super().after_response(handle[:2], status, headers, usage, latency, first_byte)
        if len(handle) < 5:
            return
        agent, _, permit, key, model = handle
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            if status == 429:
                try:
                    retry = float(lower.get("retry-after") or 1)
                except ValueError:
                    retry = 1.0
                permit.refused(retry)
            else:
                permit.settle(usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens,
                              usage.output_tokens, lower)
            _, ledger = self.parts()
            ledger.record(agent=agent, key=key, model=model, input=usage.input_tokens, output=usage.output_tokens,
                          cache_write=usage.cache_creation_input_tokens, cache_read=usage.cache_read_input_tokens,
                          latency=latency, first_token=first_byte, status=status, via="gateway")
        except (AgentmuxError, sqlite3.Error) as exc:
            log.warning("gateway: cannot record %s's request: %s", agent, exc)


# --- usage -------------------------------------------------------------------------------------------------


def usage_of(payload: Mapping[str, Any], into: dict[str, int]) -> None:
    """Fold a `usage` object (of a message, a message_start's message, or a message_delta) into `into`."""
    usage = payload.get("usage")
    if isinstance(usage, Mapping):
        for name in Usage.__dataclass_fields__:
            value = usage.get(name)
            if isinstance(value, int):
                into[name] = value


class SseUsage:
    """Reads usage from server-sent events as they pass, by lines (an event may be cut between chunks); only
    lines that mention usage are parsed."""

    def __init__(self) -> None:
        self.partial = b""
        self.found: dict[str, int] = {}

    def feed(self, chunk: bytes) -> None:
        if b"usage" not in chunk and (not self.partial or b"\n" not in chunk):
            # nothing to parse yet: keep only the unfinished line (a usage event may be cut anywhere)
            cut = chunk.rfind(b"\n")
            self.partial = chunk[cut + 1:] if cut >= 0 else self.partial + chunk
            if len(self.partial) > 1 << 20:
                self.partial = b""
            return
        data = self.partial + chunk
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > 1 << 20:  # no newline in a megabyte: not usage worth keeping
            self.partial = b""
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                with contextlib.suppress(ValueError):
                    event = json.loads(line[5:])
                    if isinstance(event, dict):
                        usage_of(event.get("message") or event, self.found)
                        usage_of(event, self.found)


def json_usage(body: bytes) -> Usage:
    found: dict[str, int] = {}
    with contextlib.suppress(ValueError):
        payload = json.loads(body)
        if isinstance(payload, dict):
            usage_of(payload, found)
    return Usage(**found)


def error_body(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


# --- the upstream --------------------------------------------------------------------------------------------


class Upstream:
    """Connections to the upstream, idle ones kept for the next request."""

    def __init__(self, url: str, timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentmuxError(f"api upstream {url!r}: write http://HOST[:PORT] or https://HOST[:PORT]")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()

    def connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was reused (a reused one may have been closed by the upstream)."""
        with contextlib.suppress(queue.Empty):
            return self.idle.get_nowait(), True
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.connect_timeout)
        conn.connect()
        conn.sock.settimeout(self.timeout)
        with contextlib.suppress(OSError):
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, False

    def release(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        if response.will_close or not response.isclosed():
            conn.close()
        else:
            self.idle.put(conn)

    def close(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.idle.get_nowait().close()


# --- the server ----------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway


class Gateway:
    """The gateway: `start()` listens on 127.0.0.1 in a thread (or `serve_forever()` in the caller's), `url`,
    `close()`. `settings` is called at start and again when an unknown token arrives (at most once a second),
    so agents added to the config later are known."""

    def __init__(self, state_dir: Path, settings: GatewayConfig | Callable[[], GatewayConfig],
                 hooks: GatewayHooks | None = None, port: int | None = None, write_url: bool = True) -> None:
        self.state_dir = state_dir
        self.source = settings if callable(settings) else (lambda: settings)
        self.hooks: GatewayHooks = hooks or Hooks()
        self.secret = gateway_secret(state_dir)
        self.write_url = write_url
        self._lock = threading.Lock()
        self._refreshed = 0.0
        self.settings = self.source()
        self.tokens: dict[str, str] = {}
        self.upstream = Upstream(self.settings.upstream, self.settings.timeout, self.settings.connect_timeout)
        self._use(self.settings)
        self.server = _Server(("127.0.0.1", self.settings.port if port is None else port), Handler)
        self.server.gateway = self
        self._thread: threading.Thread | None = None
        if write_url:
            path = state_dir / URL_FILE
            path.write_text(self.url + "\n")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def records(self) -> deque[Record]:
        return getattr(self.hooks, "records", deque())

    def _use(self, settings: GatewayConfig) -> None:
        self.settings = settings
        self.tokens = {agent_token(self.secret, name): name for name in settings.keys}

    def who(self, token: str) -> str | None:
        """The agent a token belongs to, reading the settings again (at most once a second) when unknown."""
        name = self.tokens.get(token)
        if name is None and token:
            with self._lock:
                if time.monotonic() - self._refreshed > 1.0:
                    self._refreshed = time.monotonic()
                    try:
                        self._use(self.source())
                    except AgentmuxError as exc:
                        log.warning("gateway: %s", exc)
                name = self.tokens.get(token)
        return name

    def start(self) -> Gateway:
        self._thread = threading.Thread(target=self.server.serve_forever, name="agentmux-gateway", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()
        self.upstream.close()
        if self.write_url:
            path = self.state_dir / URL_FILE
            with contextlib.suppress(OSError):
                if path.read_text().strip() == self.url:
                    path.unlink()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        if self.path in ("/", "/health"):
            self.reply(200, b'{"ok": true}')
        else:
            self.forward()

    def do_POST(self) -> None:
        self.forward()

    def do_PUT(self) -> None:
        self.forward()

    def do_DELETE(self) -> None:
        self.forward()

    def do_PATCH(self) -> None:
        self.forward()

    def reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(self.head(status, {**(headers or {}), "Content-Type": "application/json"},
                                       f"Content-Length: {len(body)}") + body)

    def token(self) -> str:
        token = self.headers.get("x-api-key") or ""
        if not token:
            auth = self.headers.get("authorization") or ""
            if auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
        return token

    def forward(self) -> None:
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if not self.path.startswith("/v1/"):
            self.reply(404, error_body("not_found_error", f"the gateway forwards /v1/* only, not {self.path}"))
            return
        agent = gateway.who(self.token())
        if agent is None:
            self.reply(401, error_body("authentication_error", "unknown agentmux gateway token"))
            return
        key = gateway.settings.keys.get(agent)
        if key is None:
            self.reply(401, error_body("authentication_error", f"no API key for agent {agent!r}"))
            return
        path = self.path.split("?", 1)[0]
        started = time.monotonic()
        try:
            handle = gateway.hooks.before_forward(agent, path, body)
        except Refused as refused:
            self.reply(refused.status, json.dumps(refused.body).encode(), refused.headers)
            return
        status, headers, usage = 502, dict[str, str](), Usage()
        self.first_at: float | None = None
        try:
            status, headers, usage = self.relay(gateway.upstream, key, body)
        finally:
            first = None if self.first_at is None else self.first_at - started
            gateway.hooks.after_response(handle, status, headers, usage, time.monotonic() - started, first)

    def relay(self, upstream: Upstream, key: str, body: bytes) -> tuple[int, dict[str, str], Usage]:
        """Send the request upstream and its response back; the status, headers and usage it had."""
        headers = {name: value for name, value in self.headers.items() if name.lower() not in DROPPED_REQUEST}
        headers["x-api-key"] = key
        headers["Host"] = upstream.host if upstream.port in (80, 443) else f"{upstream.host}:{upstream.port}"
        headers["Content-Length"] = str(len(body))
        target = upstream.prefix + self.path
        response: http.client.HTTPResponse | None = None
        conn: http.client.HTTPConnection | None = None
        reused = False
        for attempt in (0, 1):  # a kept connection the upstream closed meanwhile is tried once more, new
            try:
                conn, reused = upstream.connection()
                conn.request(self.command, target, body=body, headers=headers)
                response = conn.getresponse()
                break
            except TimeoutError:
                if conn is not None:
                    conn.close()
                return self.failed(504, "timeout_error", "the upstream API did not answer in time")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                if conn is not None:
                    conn.close()
                if not (reused and attempt == 0):
                    return self.failed(502, "api_error", f"the upstream API closed the connection: {exc}")
            except OSError as exc:
                if conn is not None:
                    conn.close()
                return self.failed(502, "api_error", f"cannot reach the upstream API: {exc.strerror or exc}")
        assert response is not None and conn is not None
        out = {name: value for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP}
        length = response.getheader("content-length")  # kept when the upstream said it
        sse = "text/event-stream" in (response.getheader("content-type") or "")
        if length is not None and not sse and int(length) <= WHOLE:
            # a plain reply: read whole (its usage is in it) and sent with its head in one write
            try:
                data = response.read()
            except TimeoutError:
                conn.close()
                return self.failed(504, "timeout_error", "the upstream API did not finish its reply in time")
            except OSError as exc:
                conn.close()
                return self.failed(502, "api_error", f"the upstream API broke off its reply: {exc}")
            upstream.release(conn, response)
            self.first_at = time.monotonic()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(self.head(response.status, out, f"Content-Length: {len(data)}") + data)
            return response.status, out, json_usage(data)
        self.wfile.write(self.head(response.status, out, "Transfer-Encoding: chunked" if length is None
                                   else f"Content-Length: {length}"))
        chunked = length is None
        sse = "text/event-stream" in (response.getheader("content-type") or "")
        reader = SseUsage() if sse else None
        kept = bytearray()
        write = self.wfile.write
        try:
            while True:
                data = response.read1(CHUNK)
                if not data:
                    break
                if self.first_at is None:
                    self.first_at = time.monotonic()
                if reader is not None:
                    reader.feed(data)
                elif len(kept) < 1 << 22:
                    kept += data
                write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if chunked:
                write(b"0\r\n\r\n")
        except TimeoutError:
            log.warning("gateway: the upstream stopped sending mid-response")
            self.close_connection = True
            conn.close()
        except (BrokenPipeError, ConnectionResetError):  # the agent went away (an interrupted turn)
            self.close_connection = True
            conn.close()
        else:
            upstream.release(conn, response)
        usage = Usage(**reader.found) if reader is not None else json_usage(bytes(kept))
        return response.status, out, usage

    def head(self, status: int, headers: Mapping[str, str], framing: str) -> bytes:
        """The status line and headers of a reply, ending in the blank line."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}", *(f"{k}: {v}" for k, v in headers.items()), framing]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def failed(self, status: int, kind: str, message: str) -> tuple[int, dict[str, str], Usage]:
        self.reply(status, error_body(kind, message))
        return status, {}, Usage()
