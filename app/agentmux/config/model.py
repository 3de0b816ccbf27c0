"""The configuration as agentmux uses it: fleet settings, agent specs and the names and limits that
validation holds them to. Secrets are references here, never values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentmux.errors import UnknownAgent
from agentmux.paths import default_state_dir

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_REF_RE = re.compile(r"(env|file):(.+)", re.DOTALL)
SOCKET_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
"""Not starting with a dot: `.` and `..` name directories, a leading dot hides the socket."""
BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_ENV = ("AGENTMUX_AGENT", "AGENTMUX_HOME", "AGENTMUX_SOCKET", "AGENTMUX_CONFIG", "AGENTMUX_SECRET_NAMES",
                "TMUX", "TMUX_PANE")
MAX_SECONDS = 86400
MAX_ARG = 131071
"""Bytes of one argument or one NAME=value a program can be started with (Linux: MAX_ARG_STRLEN less the
NUL): an agent's variables, and its pane script (init commands and command together)."""
"""The longest duration a config may give (a day): anything longer is a typo, and inf or nan never ends."""
RESTART_POLICIES = ("no", "on-failure", "always")
MAX_RESTARTS = 1000
NUL_IN_TEXT = ("holds a NUL character (\\0), which tmux cannot pass to a program "
               "(every other character is passed on as written)")
NUL_IN_PATH = "holds a NUL character (\\0), which no path can hold"


@dataclass(frozen=True)
class Settings:
    """Fleet-wide settings from the `[agentmux]` table."""

    socket: str = "agentmux"
    state_dir: Path = field(default_factory=default_state_dir)
    tmux_config: Path | None = None
    width: int = 200
    height: int = 50
    history_limit: int = 10000
    idle_after: float = 3.0
    stop_timeout: float = 10.0
    redispatch: str = "retry"
    """A task whose dispatch a crash cut off (it may or may not have reached the agent): "retry" sends it
    again, "fail" marks it failed. Either way its history says so."""
    pass_env: tuple[str, ...] = ()
    """Names of further variables of the environment agentmux is started in that its tmux server and agents
    may inherit, beyond agentmux's own minimal list."""
    restart: str = "no"
    """The fleet's default restart policy for an agent that exits: "no", "on-failure" or "always"."""
    restart_limit: int = 5
    """The fleet's default number of restarts in a row before agentmux gives up on an agent."""


LOG_LEVELS = ("error", "warning", "info", "debug")
MB = 1024 * 1024
MAX_LOG_LINES = 1_000_000_000
"""The most entries `max_lines` and `max_lines_per_agent` may keep."""
MAX_LOG_MB = 1_048_576
"""The largest size in MiB `max_mb` and `max_mb_per_agent` may give (1 TiB): anything larger is a typo."""
MAX_MEMORY_LINES = 100_000
"""The most entries per agent the live view may keep in memory (each TUI keeps them for every agent)."""
MAX_SETTLE = 60.0
"""The longest `settle` (seconds): a line redrawn in place is logged at the latest this long after it settles."""


@dataclass(frozen=True)
class LogRule:
    """One `[[logs.rules]]` entry: lines matching `match` (a Python regular expression) get `level`."""

    match: str
    level: str


@dataclass(frozen=True)
class LogSettings:
    """The `[logs]` table: how much history the log file keeps (the oldest entries go first), the live view's
    ring per agent, how long a redrawn line must stay unchanged to be logged, and severity rules."""

    max_lines: int = 2_000_000
    """Entries kept for all agents together."""
    max_mb: float = 512.0
    """Size of the log database file (MiB): it stops growing here."""
    max_lines_per_agent: int = 500_000
    max_mb_per_agent: float = 128.0
    """Text kept per agent (MiB of entries' text)."""
    memory_lines: int = 2000
    """Entries per agent the live view keeps in memory."""
    settle: float = 1.5
    """Seconds a line on screen must stay unchanged before it is logged (a line redrawn in place, a spinner or
    a progress bar, is logged once it settles or scrolls away)."""
    rules: tuple[LogRule, ...] = ()
    """Checked before the default rules, first match wins."""
    default_rules: bool = True

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * MB)

    @property
    def max_bytes_per_agent(self) -> int:
        return int(self.max_mb_per_agent * MB)


PERMISSION_MODES = ("default", "acceptEdits", "plan", "auto", "dontAsk", "bypassPermissions")
"""Claude Code 2.1's `--permission-mode` choices."""
CLAUDE_ONLY_KEYS = ("model", "permission_mode", "resume", "approve")
API_ONLY_KEYS = ("system", "max_tokens", "temperature", "history_tokens")
"""Keys of kind api only (its `model` too: CLAUDE_ONLY_KEYS less model are claude's alone)."""
MAX_TOKENS_LIMIT = 1_000_000
"""The largest `max_tokens` an api agent may ask for per reply (anything larger is a typo)."""
HISTORY_TOKENS = 100_000
"""An api agent's conversation is trimmed to about this many tokens before each request (its oldest whole
exchanges dropped), unless its `history_tokens` says otherwise."""
HISTORY_TOKENS_LIMIT = (1_000, 2_000_000)


@dataclass(frozen=True)
class ApprovalPolicy:
    """A claude agent's `approve` table: allow and deny rules (deny wins) and what a deny rule does."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    on_deny: str = "ask"
    """ask (leave it to the user), refuse (answer no) or fail (answer no, and the running task fails)."""

    def to_toml(self) -> dict[str, Any]:
        table: dict[str, Any] = {}
        if self.allow:
            table["allow"] = list(self.allow)
        if self.deny:
            table["deny"] = list(self.deny)
        if self.on_deny != "ask":
            table["on_deny"] = self.on_deny
        return table

    def to_json(self) -> dict[str, Any]:
        """As the hook reads it (agentmux/hook.py)."""
        return {"allow": list(self.allow), "deny": list(self.deny), "on_deny": self.on_deny}


@dataclass(frozen=True)
class AgentSpec:
    """One `[[agents]]` table: how to run an agent. Secrets are references, never values."""

    name: str
    kind: str = "command"
    command: str = ""
    cwd: Path = field(default_factory=Path.home)
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    init: tuple[str, ...] = ()
    cleanup: tuple[str, ...] = ()
    autostart: bool = True
    idle_after: float | None = None
    stop_timeout: float | None = None
    restart: str | None = None
    restart_limit: int | None = None
    model: str | None = None
    """kind claude: the model (`--model`)."""
    permission_mode: str | None = None
    """kind claude: the permission mode it starts in (`--permission-mode`)."""
    resume: bool = True
    """kind claude: a restart resumes the conversation (`--resume`); false starts a fresh one each time."""
    approve: ApprovalPolicy | None = None
    """kind claude: the rules that answer its permission questions (agentmux/policy.py); None: the user does."""
    # API routing: the rate limiter and the ledger (README: Rate limits and usage)
    api_key: str = "default"
    """The name of its key in [api.keys]."""
    budget: float | None = None
    """USD its requests may cost, all told (the ledger's estimate); None: no budget."""
    on_budget: str = "warn"
    """What a spent budget does: "warn" or "stop"."""
    share: int = 1
    """Its weight among agents waiting on one key: an agent of share 2 gets twice the turns of share 1."""
    system: str | None = None
    """kind api: the system prompt sent with every request."""
    max_tokens: int = 1024
    """kind api: the most tokens of one reply."""
    temperature: float | None = None
    """kind api: the sampling temperature (0 to 1); None: the API's default."""
    history_tokens: int = HISTORY_TOKENS
    """kind api: the conversation sent is trimmed to about this many tokens (oldest whole exchanges first)."""

    def to_toml(self) -> dict[str, Any]:
        """The table written to the config file: only what differs from the defaults."""
        table: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.command:
            table["command"] = self.command
        table["cwd"] = str(self.cwd)
        for key in ("env", "secrets"):
            if getattr(self, key):
                table[key] = dict(getattr(self, key))
        for key in ("init", "cleanup"):
            if getattr(self, key):
                table[key] = list(getattr(self, key))
        if not self.autostart:
            table["autostart"] = False
        for key in ("idle_after", "stop_timeout", "restart", "restart_limit", "model", "permission_mode", "system",
                    "temperature"):
            if getattr(self, key) is not None:
                table[key] = getattr(self, key)
        if self.max_tokens != 1024:
            table["max_tokens"] = self.max_tokens
        if self.history_tokens != HISTORY_TOKENS:
            table["history_tokens"] = self.history_tokens
        if not self.resume:
            table["resume"] = False
        if self.approve is not None:
            table["approve"] = self.approve.to_toml()
        if self.api_key != "default":
            table["api_key"] = self.api_key
        if self.budget is not None:
            table["budget"] = self.budget
        if self.on_budget != "warn":
            table["on_budget"] = self.on_budget
        if self.share != 1:
            table["share"] = self.share
        return table


ON_BUDGET = ("warn", "stop")
DEFAULT_UPSTREAM = "https://api.anthropic.com"
MAX_RATE = 1_000_000_000
"""The largest requests or tokens per minute a key may give."""


@dataclass(frozen=True)
class ApiKey:
    """One `[api.keys.NAME]` table: a secret reference to the key (never the key) and its rate limits."""

    name: str
    key: str = "env:ANTHROPIC_API_KEY"
    requests_per_minute: int = 50
    input_tokens_per_minute: int = 40000
    output_tokens_per_minute: int = 8000


@dataclass(frozen=True)
class GatewaySettings:
    """The `[api.gateway]` table: the loopback gateway for Claude Code agents."""

    enabled: bool = False
    port: int = 0
    """0: any free port on 127.0.0.1."""
    timeout: float = 600.0
    """Seconds an upstream request may take."""


@dataclass(frozen=True)
class PriceEntry:
    """One `[api.prices."MODEL"]` table: USD per million tokens (matched by model-name prefix)."""

    input: float
    output: float
    cache_write: float
    cache_read: float


@dataclass(frozen=True)
class ApiSettings:
    """The `[api]` table: where requests go, the named keys, the gateway, prices."""

    upstream: str = DEFAULT_UPSTREAM
    keys: dict[str, ApiKey] = field(default_factory=lambda: {"default": ApiKey("default")})
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    prices: dict[str, PriceEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """A loaded configuration: where it came from, the settings and the agents in file order."""

    path: Path
    settings: Settings
    agents: tuple[AgentSpec, ...] = ()
    logs: LogSettings = field(default_factory=LogSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def agent(self, name: str) -> AgentSpec:
        for spec in self.agents:
            if spec.name == name:
                return spec
        raise UnknownAgent(name, f" in {self.path}")

    def names(self) -> list[str]:
        return [spec.name for spec in self.agents]

    @property
    def store_path(self) -> Path:
        """One database per tmux socket, so two private fleets never share state."""
        return self.settings.state_dir / f"{self.settings.socket}.db"

    @property
    def logs_path(self) -> Path:
        """The log database beside the store: its own file, so its cap is a file size and its writes never
        queue behind the store's."""
        return self.settings.state_dir / f"{self.settings.socket}.logs.db"

    def idle_after(self, spec: AgentSpec) -> float:
        return spec.idle_after if spec.idle_after is not None else self.settings.idle_after

    def stop_timeout(self, spec: AgentSpec) -> float:
        return spec.stop_timeout if spec.stop_timeout is not None else self.settings.stop_timeout

    def restart(self, spec: AgentSpec) -> str:
        return spec.restart if spec.restart is not None else self.settings.restart

    def restart_limit(self, spec: AgentSpec) -> int:
        return spec.restart_limit if spec.restart_limit is not None else self.settings.restart_limit


