"""`agentmux gateway`: the loopback API gateway for claude agents (api/gateway.py) in the foreground, printing
its URL; and `start_gateway`, which `agentmux serve` calls to run it in a thread when `[api.gateway]` enables it."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable

from agentmux import config as config_module
from agentmux.actions import Actions
from agentmux.api.gateway import Gateway, GatewayConfig, LimitedHooks, gateway_enabled, gateway_settings
from agentmux.config.model import Config
from agentmux.errors import AgentmuxError, UsageError


def open_gateway(config: Config, port: int | None = None) -> Gateway:
    """A gateway over the config's keys (read again when an unknown token arrives: agents added later)."""
    config_path = config.path

    def settings() -> GatewayConfig:
        try:
            current = config_module.load(config_path, must_exist=False, check_dirs=False)
        except AgentmuxError:
            current = config
        return gateway_settings(current)

    try:
        return Gateway(config.settings.state_dir, settings, port=port,
                       hooks=LimitedHooks(config, gateway_settings(config).timeout))
    except OSError as exc:  # the port is taken, or the state dir cannot be written
        raise AgentmuxError(f"the gateway cannot listen on 127.0.0.1:{port or 0}: {exc.strerror or exc}") from None


def start_gateway(config: Config, say: Callable[[str], None] = print) -> Gateway | None:
    """serve's part: the gateway in a thread when `[api.gateway] enabled`, else None. Its URL goes to
    STATE_DIR/gateway.url, where claude agents started later find it."""
    if not gateway_enabled(config):
        return None
    try:
        gateway = open_gateway(config).start()
    except AgentmuxError as exc:  # the supervisor goes on without it: claude agents then talk to the API directly
        say(str(exc))
        return None
    say(f"API gateway for claude agents at {gateway.url}")
    return gateway


def cmd_gateway(actions: Actions, args: argparse.Namespace) -> int:
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError("--port must be a port number from 0 to 65535 (0: any free port)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    gateway = open_gateway(actions.fleet.config, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    gateway.start()
    print(f"{time.strftime('%H:%M:%S')} API gateway at {gateway.url} "
          f"(upstream {gateway.settings.upstream}); Ctrl-C to stop", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(1.0):
                pass
    finally:
        gateway.close()
    return 0
