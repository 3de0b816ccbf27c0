"""Where the loopback API gateway listens and each claude agent's own token for it (api/gateway.py).

A token is HMAC-SHA256(the secret in STATE_DIR/gateway.key, the agent's name): the gateway and whoever starts
an agent derive the same one with no table, and a token says nothing about the real key behind it. The secret
is created once, mode 0600. The gateway writes its URL to STATE_DIR/gateway.url while it runs and removes it
when it stops: a claude agent started while the file is there talks to the gateway with its token, never with
the real key (agents/lifecycle.py, `Fleet.agent_env`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

KEY_FILE = "gateway.key"
URL_FILE = "gateway.url"
TOKEN_PREFIX = "amx-gw-"


def gateway_secret(state_dir: Path) -> bytes:
    """The gateway's secret, created (0600, never replaced) on first use."""
    path = state_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(value)
    return value


def agent_token(secret: bytes, agent: str) -> str:
    """The agent's gateway token."""
    return TOKEN_PREFIX + hmac.new(secret, agent.encode(), hashlib.sha256).hexdigest()


def gateway_url(state_dir: Path) -> str | None:
    """The running gateway's URL, or None when none runs for this state dir (no file, or a file a killed
    gateway left behind: nothing listens there)."""
    try:
        url = (state_dir / URL_FILE).read_text().strip()
    except OSError:
        return None
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return url
    except OSError:
        return None


def claude_gateway_env(state_dir: Path, agent: str) -> dict[str, str] | None:
    """The variables a claude agent gets while a gateway runs: its URL and the agent's token (Claude Code sends
    it as `Authorization: Bearer`); None when no gateway runs."""
    url = gateway_url(state_dir)
    if url is None:
        return None
    return {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_AUTH_TOKEN": agent_token(gateway_secret(state_dir), agent)}


GATEWAY_REPLACES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
"""What a claude agent's env or secrets may say that the gateway's variables replace (the key never reaches it)."""


def wait_for_gateway(state_dir: Path, timeout: float) -> bool:
    """Wait (polling, at most `timeout` seconds) until a gateway runs for this state dir."""
    deadline = time.monotonic() + timeout
    while gateway_url(state_dir) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
