"""Reading the config file: found, parsed with tomllib, validated with precise errors.

Errors name the file, the line where it can be found, the key and the reason, so a user can fix a typo
without guessing; anything else a file holds is one ConfigError line too.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tomlkit

from agentmux.ansi import one_line
from agentmux.config.kinds import KIND_RULES
from agentmux.config.model import (
    API_ONLY_KEYS,
    BARE_KEY_RE,
    CLAUDE_ONLY_KEYS,
    DEFAULT_UPSTREAM,
    ENV_NAME_RE,
    HISTORY_TOKENS,
    HISTORY_TOKENS_LIMIT,
    LOG_LEVELS,
    MAX_ARG,
    MAX_LOG_LINES,
    MAX_LOG_MB,
    MAX_MEMORY_LINES,
    MAX_RATE,
    MAX_RESTARTS,
    MAX_SECONDS,
    MAX_SETTLE,
    MAX_TOKENS_LIMIT,
    NAME_RE,
    NUL_IN_PATH,
    NUL_IN_TEXT,
    ON_BUDGET,
    PERMISSION_MODES,
    RESERVED_ENV,
    RESTART_POLICIES,
    SECRET_REF_RE,
    SOCKET_RE,
    AgentSpec,
    ApiKey,
    ApiSettings,
    ApprovalPolicy,
    Config,
    GatewaySettings,
    LogRule,
    LogSettings,
    PriceEntry,
    Settings,
)
from agentmux.errors import ConfigError, UsageError
from agentmux.paths import find_config, user_config_path
from agentmux.policy import ON_DENY, rule_problem

# --- validation ------------------------------------------------------------------------------------------

Check = Callable[[Any], str | None]
RULE_SHAPE = '{ match = "RE", level = "error|warning|info|debug" }'
"""How one severity rule of `[logs]` is written."""


def _is_str(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, not {_type_name(value)}"


def _is_text(value: Any) -> str | None:
    """A string tmux can carry to a program: anything but NUL, and short enough to start one with."""
    problem = _is_str(value) or (NUL_IN_TEXT if "\0" in value else None)
    if problem is None and len(value.encode("utf-8", "surrogateescape")) > MAX_ARG:
        problem = f"is {len(value.encode('utf-8', 'surrogateescape')):,} bytes: a program cannot be started with " \
                  f"more than {MAX_ARG:,} bytes in one argument or variable"
    return problem


def _is_path(value: Any) -> str | None:
    problem = _is_str(value)
    if problem is None and not value:
        problem = "must not be empty (leave the key out for the default)"
    if problem is None and "\0" in value:
        problem = NUL_IN_PATH
    return problem


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {_type_name(value)}"


def _is_secret_reference(value: Any) -> str | None:
    problem = _is_str(value)
    reference = SECRET_REF_RE.fullmatch(value) if problem is None else None
    if problem is None and reference is None:
        problem = "is not a secret reference: write env:VARIABLE or file:PATH (never the secret itself)"
    elif reference is not None:
        scheme, target = reference.groups()
        if scheme == "env" and not is_env_name(target):
            problem = f"{value!r}: {target!r} is not a valid environment variable name"
        elif "\0" in target:
            problem = NUL_IN_PATH
    return problem


def _is_duration(value: Any) -> str | None:
    """Seconds: finite, more than 0, at most MAX_SECONDS (TOML also has inf and nan)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number of seconds, not {_type_name(value)}"
    if math.isfinite(value) and 0 < value <= MAX_SECONDS:
        return None
    return f"must be more than 0 and at most {MAX_SECONDS} seconds (a day), not {value!r}"


def _is_seconds_up_to(high: float) -> Check:
    """Seconds: finite, more than 0, at most `high`."""
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number of seconds, not {_type_name(value)}"
        if math.isfinite(value) and 0 < value <= high:
            return None
        return f"must be more than 0 and at most {high:g} seconds, not {value!r}"

    return check


def _is_mib(value: Any) -> str | None:
    """A size in MiB: a number (whole or not), finite, more than 0, at most MAX_LOG_MB."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number of MiB, not {_type_name(value)}"
    if math.isfinite(value) and 0 < value <= MAX_LOG_MB:
        return None
    return f"must be a number of MiB more than 0 and at most {MAX_LOG_MB} (1 TiB), not {value!r}"


def _is_python_regex(value: Any) -> str | None:
    """A Python regular expression (`re`, as the log's severity rules are matched)."""
    problem = _is_str(value)
    if problem is None:
        try:
            re.compile(value)
        except re.error as exc:
            problem = f"{value!r} is not a regular expression: {exc}"
        except (RecursionError, OverflowError, ValueError) as exc:  # too deeply nested, too large
            problem = f"{value!r} is not a usable regular expression: {exc}"
    return problem


def _is_array(value: Any) -> str | None:
    if isinstance(value, list):
        return None
    return (f"must be an array of tables: write each rule as [[logs.rules]] (or rules = [{RULE_SHAPE}]), "
            f"not {_type_name(value)}")


def _is_int_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, not {_type_name(value)}"
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _is_fraction(value: Any) -> str | None:
    """A number from 0 to 1 (an api agent's temperature)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number from 0 to 1, not {_type_name(value)}"
    return None if 0 <= value <= 1 else f"must be from 0 to 1, not {value!r}"


def _is_one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}, not {_shown(value)}"

    return check


def _is_text_list(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of strings, not {_type_name(value)}"
    for number, item in enumerate(value, start=1):
        if not isinstance(item, str):
            return f"must be a list of strings, but holds {_type_name(item)}"
        if "\0" in item:
            return f"item {number} {NUL_IN_TEXT}"
    return None


def _is_env_name_list(value: Any) -> str | None:
    """Names of environment variables agentmux may pass on: valid, not agentmux's own, each once."""
    problem = _is_text_list(value)
    seen: set[str] = set()
    for number, name in enumerate(value if problem is None else (), start=1):
        if not is_env_name(name):
            return f"item {number} {name!r} is not a valid environment variable name"
        if name in RESERVED_ENV:
            return f"item {number} {name!r} is set by agentmux itself and cannot be passed on"
        if name in seen:
            return f"lists {name!r} twice"
        seen.add(name)
    return problem


def _is_rule_list(value: Any) -> str | None:
    """Approval rules (agentmux/policy.py): each one readable."""
    problem = _is_text_list(value)
    for number, rule in enumerate(value if problem is None else (), start=1):
        reason = rule_problem(rule)
        if reason is not None:
            return f"item {number}: {reason}"
    return problem


APPROVE_KEYS: dict[str, Check] = {
    "allow": _is_rule_list,
    "deny": _is_rule_list,
    "on_deny": _is_one_of(*ON_DENY),
}


def _is_table(value: Any) -> str | None:
    return None if isinstance(value, dict) else f"must be a table, not {_type_name(value)}"


def is_env_name(text: str) -> bool:
    """A name a variable of the environment can have (letters, digits and _, not starting with a digit)."""
    return ENV_NAME_RE.fullmatch(text) is not None


def key_text(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted with escapes, so a message stays one line."""
    return key if BARE_KEY_RE.fullmatch(key) else tomlkit.key(key).as_string()


def _shown(value: Any) -> str:
    """A value in a reason: a string quoted, anything else by its TOML type."""
    return repr(value) if isinstance(value, str) else _type_name(value)


def _type_name(value: Any) -> str:
    return {
        str: "a string", bool: "a boolean", int: "an integer", float: "a number",
        list: "a list", dict: "a table",
    }.get(type(value), type(value).__name__)


SETTINGS_KEYS: dict[str, Check] = {
    "socket": _is_str,
    "state_dir": _is_path,
    "tmux_config": _is_path,
    "width": _is_int_between(20, 1000),
    "height": _is_int_between(5, 500),
    "history_limit": _is_int_between(0, 1_000_000),
    "idle_after": _is_duration,
    "stop_timeout": _is_duration,
    "redispatch": _is_one_of("retry", "fail"),
    "pass_env": _is_env_name_list,
    "restart": _is_one_of(*RESTART_POLICIES),
    "restart_limit": _is_int_between(0, MAX_RESTARTS),
}

LOGS_KEYS: dict[str, Check] = {
    "max_lines": _is_int_between(1, MAX_LOG_LINES),
    "max_mb": _is_mib,
    "max_lines_per_agent": _is_int_between(1, MAX_LOG_LINES),
    "max_mb_per_agent": _is_mib,
    "memory_lines": _is_int_between(1, MAX_MEMORY_LINES),
    "settle": _is_seconds_up_to(MAX_SETTLE),
    "rules": _is_array,
    "default_rules": _is_bool,
}
"""The `[logs]` table's keys (config/model.py, `LogSettings`)."""

LOG_RULE_KEYS: dict[str, Check] = {
    "match": _is_python_regex,
    "level": _is_one_of(*LOG_LEVELS),
}
"""The keys of each `[[logs.rules]]` table: both are required."""

AGENT_KEYS: dict[str, Check] = {
    "name": _is_str,
    "kind": _is_str,
    "command": _is_text,
    "cwd": _is_path,
    "env": _is_table,
    "secrets": _is_table,
    "init": _is_text_list,
    "cleanup": _is_text_list,
    "autostart": _is_bool,
    "idle_after": _is_duration,
    "stop_timeout": _is_duration,
    "restart": _is_one_of(*RESTART_POLICIES),
    "restart_limit": _is_int_between(0, MAX_RESTARTS),
    "model": _is_text,
    "permission_mode": _is_one_of(*PERMISSION_MODES),
    "resume": _is_bool,
    "approve": _is_table,
    # API routing: the rate limiter and the ledger (README: Rate limits and usage)
    "api_key": _is_str,
    "budget": lambda value: _is_number_between(value, 0, 1e9, "USD"),
    "on_budget": _is_one_of(*ON_BUDGET),
    "share": _is_int_between(1, 1000),
    "system": _is_text,
    "max_tokens": _is_int_between(1, MAX_TOKENS_LIMIT),
    "temperature": _is_fraction,
    "history_tokens": _is_int_between(*HISTORY_TOKENS_LIMIT),
}


def _is_number_between(value: Any, low: float, high: float, unit: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number ({unit}), not {_type_name(value)}"
    if math.isfinite(value) and low <= value <= high:
        return None
    return f"must be between {low:g} and {high:g} ({unit}), not {value!r}"


def _is_upstream(value: Any) -> str | None:
    problem = _is_str(value)
    if problem is None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        problem = f"{value!r} is not an http:// or https:// URL"
    return problem


def _is_price(value: Any) -> str | None:
    return _is_number_between(value, 0, 1e6, "USD per million tokens")


API_KEYS: dict[str, Check] = {
    "upstream": _is_upstream,
    "keys": _is_table,
    "gateway": _is_table,
    "prices": _is_table,
}
"""The `[api]` table's keys (config/model.py, `ApiSettings`)."""

API_KEY_KEYS: dict[str, Check] = {
    "key": _is_secret_reference,
    "requests_per_minute": _is_int_between(1, MAX_RATE),
    "input_tokens_per_minute": _is_int_between(1, MAX_RATE),
    "output_tokens_per_minute": _is_int_between(1, MAX_RATE),
}
"""The keys of each `[api.keys.NAME]` table."""

GATEWAY_KEYS: dict[str, Check] = {
    "enabled": _is_bool,
    "port": _is_int_between(0, 65535),
    "timeout": _is_duration,
}
"""The `[api.gateway]` table's keys."""

PRICE_KEYS: dict[str, Check] = {"input": _is_price, "output": _is_price, "cache_write": _is_price,
                                "cache_read": _is_price}
"""The keys of each `[api.prices."MODEL"]` table: input and output are required."""


class _Locator:
    """Finds the line of a key in the raw TOML text (tomllib reports no positions for valid documents)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def _header_lines(self, pattern: str) -> list[int]:
        regex = re.compile(pattern)
        return [i for i, line in enumerate(self.lines) if regex.match(line)]

    def _key_after(self, start: int, key: str | None) -> int:
        if key is None:
            return start + 1
        spellings = "|".join(re.escape(spelling) for spelling in {key, f'"{key}"', key_text(key)})
        key_re = re.compile(rf"^\s*(?:{spellings})\s*=")
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if key_re.match(self.lines[i]):
                return i + 1
        return start + 1

    def settings(self, key: str | None) -> int | None:
        headers = self._header_lines(r"^\s*\[\s*agentmux\s*\]")
        return self._key_after(headers[0], key) if headers else None

    def agent(self, index: int, key: str | None) -> int | None:
        headers = self._header_lines(r"^\s*\[\[\s*agents\s*\]\]")
        return self._key_after(headers[index], key) if index < len(headers) else None

    def agent_table(self, index: int, table: str, key: str) -> int | None:
        """The line of `key` in agent `index`'s subtable `[agents.TABLE]`, or of `TABLE = {...}` inline."""
        headers = self._header_lines(r"^\s*\[\[\s*agents\s*\]\]")
        if index >= len(headers):
            return None
        end = headers[index + 1] if index + 1 < len(headers) else len(self.lines)
        sub = re.compile(rf"^\s*\[\s*agents\s*\.\s*{re.escape(table)}\s*\]")
        for i in range(headers[index] + 1, end):
            if sub.match(self.lines[i]):
                return self._key_after(i, key)
        return self._key_after(headers[index], table)

    def logs(self, key: str | None) -> int | None:
        headers = self._header_lines(r"^\s*\[\s*logs\s*\]")
        return self._key_after(headers[0], key) if headers else self.top("logs")

    def log_rule(self, index: int, key: str | None) -> int | None:
        """The line of `key` in the `index`th `[[logs.rules]]` table, or of `rules = [...]` when inline."""
        headers = self._header_lines(r"^\s*\[\[\s*logs\s*\.\s*rules\s*\]\]")
        if index < len(headers):
            return self._key_after(headers[index], key)
        return self.logs("rules")

    def section(self, parts: Sequence[str], key: str | None) -> int | None:
        """The line of `key` in the table `[PARTS...]` (each part bare or quoted), else of the nearest table
        above it that the file spells out."""
        for depth in range(len(parts), 0, -1):
            spelled = r"\s*\.\s*".join(
                "(?:" + "|".join(re.escape(s) for s in {part, f'"{part}"', key_text(part)}) + ")"
                for part in parts[:depth])
            headers = self._header_lines(rf"^\s*\[\s*{spelled}\s*\]")
            if headers:
                return self._key_after(headers[0], key if depth == len(parts) else parts[depth])
        return self.top(parts[0])

    def top(self, key: str) -> int | None:
        key_re = re.compile(rf"^\s*\[*\s*{re.escape(key)}\b")
        for i, line in enumerate(self.lines):
            if key_re.match(line):
                return i + 1
        return None


class _Validator:
    """Turns a parsed TOML document into a Config, raising ConfigError at the first problem."""

    def __init__(self, path: Path, text: str, check_dirs: bool = True) -> None:
        self.path = path
        self.file = str(path)
        self.where = _Locator(text)
        self.check_dirs = check_dirs

    def fail(self, reason: str, key: str | None = None, line: int | None = None) -> ConfigError:
        return ConfigError(self.file, one_line(reason), key=None if key is None else one_line(key), line=line)

    def check_table(
        self, table: dict[str, Any], keys: dict[str, Check], label: str, line_of: Callable[[str], int | None]
    ) -> None:
        for key, value in table.items():
            check = keys.get(key)
            if check is None:
                known = ", ".join(keys)
                raise self.fail(f"unknown key (known keys: {known})", f"{label}{key_text(key)}", line_of(key))
            problem = check(value)
            if problem:
                raise self.fail(problem, f"{label}{key}", line_of(key))

    def settings(self, raw: Any) -> Settings:
        if raw is None:
            return Settings()
        if not isinstance(raw, dict):
            raise self.fail("must be a table", "agentmux", self.where.top("agentmux"))
        self.check_table(raw, SETTINGS_KEYS, "agentmux.", self.where.settings)
        values: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("state_dir", "tmux_config")}
        socket = values.get("socket", "agentmux")
        if not SOCKET_RE.fullmatch(socket):
            raise self.fail(
                "must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'", "agentmux.socket",
                self.where.settings("socket")
            )
        if "state_dir" in raw:
            values["state_dir"] = self.resolve(raw["state_dir"], "agentmux.state_dir", self.where.settings("state_dir"))
        if "tmux_config" in raw:
            key, line = "agentmux.tmux_config", self.where.settings("tmux_config")
            tmux_config = self.resolve(raw["tmux_config"], key, line)
            try:
                usable = tmux_config.is_file() or str(tmux_config) == os.devnull
            except OSError as exc:
                raise self.fail(f"cannot use file {tmux_config}: {exc.strerror}", key, line) from None
            if not usable:
                raise self.fail(f"file {tmux_config} does not exist", key, line)
            values["tmux_config"] = tmux_config
        for key in ("idle_after", "stop_timeout"):
            if key in values:
                values[key] = float(values[key])
        if "pass_env" in values:
            values["pass_env"] = tuple(values["pass_env"])
        return Settings(**values)

    def logs(self, raw: Any) -> LogSettings:
        if raw is None:
            return LogSettings()
        if not isinstance(raw, dict):
            raise self.fail("must be a table: write it as [logs]", "logs", self.where.top("logs"))
        self.check_table(raw, LOGS_KEYS, "logs.", self.where.logs)
        values: dict[str, Any] = {key: value for key, value in raw.items() if key != "rules"}
        for key in ("max_mb", "max_mb_per_agent", "settle"):
            if key in values:
                values[key] = float(values[key])
        rules: list[LogRule] = []
        for index, rule in enumerate(raw.get("rules", ())):
            label = f"logs.rules[{index}]"

            def line_of(key: str | None, index: int = index) -> int | None:
                return self.where.log_rule(index, key)

            if not isinstance(rule, dict):
                raise self.fail(f"must be a table {RULE_SHAPE}, not {_type_name(rule)}", label, line_of(None))
            self.check_table(rule, LOG_RULE_KEYS, f"{label}.", line_of)
            for key in LOG_RULE_KEYS:
                if key not in rule:
                    raise self.fail(f"is required (a rule is {RULE_SHAPE})", f"{label}.{key}", line_of(None))
            rules.append(LogRule(match=rule["match"], level=rule["level"]))
        values["rules"] = tuple(rules)
        return LogSettings(**values)

    def api(self, raw: Any) -> ApiSettings:
        if raw is None:
            return ApiSettings()
        if not isinstance(raw, dict):
            raise self.fail("must be a table: write it as [api]", "api", self.where.top("api"))
        self.check_table(raw, API_KEYS, "api.", lambda key: self.where.section(["api"], key))
        keys: dict[str, ApiKey] = {}
        for name, table in raw.get("keys", {"default": {}}).items():
            label = f"api.keys.{key_text(name)}"
            if not NAME_RE.fullmatch(name):
                raise self.fail("is not a valid key name: use 1-63 letters, digits, '_' or '-'", label,
                                self.where.section(["api", "keys", name], None))
            if not isinstance(table, dict):
                raise self.fail(f"must be a table: write it as [{label}]", label,
                                self.where.section(["api", "keys", name], None))

            def key_line(key: str | None, name: str = name) -> int | None:
                return self.where.section(["api", "keys", name], key)

            self.check_table(table, API_KEY_KEYS, f"{label}.", key_line)
            keys[name] = ApiKey(name=name, **table)
        gateway = raw.get("gateway", {})
        if not isinstance(gateway, dict):
            raise self.fail("must be a table: write it as [api.gateway]", "api.gateway",
                            self.where.section(["api", "gateway"], None))
        self.check_table(gateway, GATEWAY_KEYS, "api.gateway.",
                         lambda key: self.where.section(["api", "gateway"], key))
        prices: dict[str, PriceEntry] = {}
        for model, table in raw.get("prices", {}).items():
            label = f"api.prices.{key_text(model)}"

            def line_of(key: str | None, model: str = model) -> int | None:
                return self.where.section(["api", "prices", model], key)

            if not isinstance(table, dict):
                raise self.fail(f"must be a table of USD per million tokens ({', '.join(PRICE_KEYS)})", label,
                                line_of(None))
            self.check_table(table, PRICE_KEYS, f"{label}.", line_of)
            for required in ("input", "output"):
                if required not in table:
                    raise self.fail("is required (USD per million tokens)", f"{label}.{required}", line_of(None))
            prices[model] = PriceEntry(input=float(table["input"]), output=float(table["output"]),
                                       cache_write=float(table.get("cache_write", table["input"] * 1.25)),
                                       cache_read=float(table.get("cache_read", table["input"] * 0.1)))
        return ApiSettings(upstream=raw.get("upstream", DEFAULT_UPSTREAM), keys=keys,
                           gateway=GatewaySettings(enabled=gateway.get("enabled", False), port=gateway.get("port", 0),
                                                   timeout=float(gateway.get("timeout", 600.0))),
                           prices=prices)

    def api_keys_of_agents(self, api: ApiSettings, raw: Any, specs: Sequence[AgentSpec]) -> None:
        """Every `api_key` an agent names is one of [api.keys]."""
        for index, spec in enumerate(specs):
            table = raw[index] if isinstance(raw, list) else {}
            if "api_key" in table and spec.api_key not in api.keys:
                raise self.fail(f"{spec.api_key!r} is not a key of [api.keys] (known: {', '.join(api.keys)})",
                                f"agents[{index}] ({spec.name}).api_key", self.where.agent(index, "api_key"))

    def resolve(self, value: str, key: str, line: int | None) -> Path:
        """A path from the file: `~` expanded, relative paths taken from the config file's folder."""
        expanded = os.path.expanduser(os.path.expandvars(value))
        if expanded.startswith("~"):  # pathlib raised RuntimeError here
            user = expanded[1:].split("/", 1)[0]
            raise self.fail(f"{value!r}: cannot expand ~{user} (no such user, or no home directory)", key, line)
        path = Path(expanded)
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    def agents(self, raw: Any) -> tuple[AgentSpec, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail("must be an array of tables: write each agent as [[agents]]", "agents",
                            self.where.top("agents"))
        specs: list[AgentSpec] = []
        seen: dict[str, int] = {}
        for index, table in enumerate(raw):
            spec = self.agent(index, table)
            if spec.name in seen:
                raise self.fail(
                    f"duplicate agent name {spec.name!r} (first defined as agents[{seen[spec.name]}])",
                    f"agents[{index}].name", self.where.agent(index, "name"),
                )
            seen[spec.name] = index
            specs.append(spec)
        return tuple(specs)

    def agent(self, index: int, table: Any) -> AgentSpec:
        label = f"agents[{index}]."

        def line_of(key: str | None) -> int | None:
            return self.where.agent(index, key)

        if not isinstance(table, dict):
            raise self.fail("must be a table", f"agents[{index}]", line_of(None))
        self.check_table(table, AGENT_KEYS, label, line_of)
        name = table.get("name")
        if name is None:
            raise self.fail("is required", f"{label}name", line_of(None))
        if not NAME_RE.fullmatch(name):
            raise self.fail(
                f"{name!r} is not a valid name: use 1-63 letters, digits, '_' or '-', starting with a letter or digit",
                f"{label}name", line_of("name"),
            )
        label = f"agents[{index}] ({name})."
        kind = table.get("kind", "command")
        if kind not in KIND_RULES:
            raise self.fail(f"unknown kind {kind!r} (known kinds: {', '.join(KIND_RULES)})",
                            f"{label}kind", line_of("kind"))
        for key in CLAUDE_ONLY_KEYS:
            if key in table and kind != "claude" and not (kind == "api" and key == "model"):
                raise self.fail(f"is for kind 'claude' only (this agent's kind is {kind!r})", f"{label}{key}",
                                line_of(key))
        for key in API_ONLY_KEYS:
            if key in table and kind != "api":
                raise self.fail(f"is for kind 'api' only (this agent's kind is {kind!r})", f"{label}{key}",
                                line_of(key))
        if kind == "api" and "model" not in table:
            raise self.fail("is required for kind 'api' (the model it asks, e.g. \"claude-sonnet-4-5\")",
                            f"{label}model", line_of(None))
        approve = None
        if "approve" in table:
            self.check_table(table["approve"], APPROVE_KEYS, f"{label}approve.",
                             lambda key: self.where.agent_table(index, "approve", key))
            approve = ApprovalPolicy(allow=tuple(table["approve"].get("allow", ())),
                                     deny=tuple(table["approve"].get("deny", ())),
                                     on_deny=table["approve"].get("on_deny", "ask"))
        env = table.get("env", {})
        secrets = table.get("secrets", {})
        for key, value in env.items():
            self.check_env_entry(f"{label}env.{key_text(key)}", key, value, line_of("env"))
        for key, value in secrets.items():
            key_label = f"{label}secrets.{key_text(key)}"
            self.check_env_entry(key_label, key, value, line_of("secrets"), _is_secret_reference)
            if key in env:
                raise self.fail("is set both in env and in secrets", key_label, line_of("secrets"))
        cwd_default = Path.home() if self.path == user_config_path() else self.path.parent
        cwd = self.resolve(table["cwd"], f"{label}cwd", line_of("cwd")) if "cwd" in table else cwd_default
        try:
            problem = None if cwd.is_dir() or not self.check_dirs else (
                "is not a directory" if cwd.exists() else "does not exist")
        except OSError as exc:  # e.g. a name too long: pathlib ignores only "no such file" errors
            problem = f"cannot be used: {exc.strerror}"
        if problem is not None:
            raise self.fail(f"directory {cwd} {problem}", f"{label}cwd", line_of("cwd"))
        spec = AgentSpec(
            name=name,
            kind=kind,
            command=table.get("command", ""),
            cwd=cwd,
            env=dict(env),
            secrets=dict(secrets),
            init=tuple(table.get("init", ())),
            cleanup=tuple(table.get("cleanup", ())),
            autostart=table.get("autostart", True),
            idle_after=float(table["idle_after"]) if "idle_after" in table else None,
            stop_timeout=float(table["stop_timeout"]) if "stop_timeout" in table else None,
            restart=table.get("restart"),
            restart_limit=table.get("restart_limit"),
            model=table.get("model"),
            permission_mode=table.get("permission_mode"),
            resume=table.get("resume", True),
            approve=approve,
            api_key=table.get("api_key", "default"),
            budget=float(table["budget"]) if "budget" in table else None,
            on_budget=table.get("on_budget", "warn"),
            share=table.get("share", 1),
            system=table.get("system"),
            max_tokens=table.get("max_tokens", 1024),
            temperature=float(table["temperature"]) if "temperature" in table else None,
            history_tokens=table.get("history_tokens", HISTORY_TOKENS),
        )
        kind_problem = KIND_RULES[kind].problem(spec)
        if kind_problem is not None:
            key, reason = kind_problem
            raise self.fail(reason, f"{label}{key}", line_of(key))
        return spec

    def check_env_entry(self, key_label: str, key: str, value: Any, line: int | None, check: Check = _is_text) -> None:
        if not is_env_name(key):
            raise self.fail("is not a valid environment variable name", key_label, line)
        if key in RESERVED_ENV:
            raise self.fail("is set by agentmux itself and cannot be configured", key_label, line)
        problem = check(value)
        if problem is None and len(f"{key}={value}".encode("utf-8", "surrogateescape")) > MAX_ARG:
            problem = f"is too long: NAME=value may be at most {MAX_ARG:,} bytes for a program to be started with it"
        if problem is not None:
            raise self.fail(problem, key_label, line)


def parse(path: Path, text: str, check_dirs: bool = True) -> Config:
    """Validate the text of a config file at `path`. Without `check_dirs`, an agent's working directory that
    does not exist (any more) is left for its start to refuse, so every other command still works."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(str(path), f"invalid TOML: {reason}", line=int(match.group(1)) if match else None) from None
    validator = _Validator(path, text, check_dirs)
    for key in document:
        if key not in ("agentmux", "agents", "logs", "api"):
            raise validator.fail("unknown top-level key (known: [agentmux], [[agents]], [logs], [api])",
                                 key_text(key), validator.where.top(key))
    agents = validator.agents(document.get("agents"))
    api = validator.api(document.get("api"))
    validator.api_keys_of_agents(api, document.get("agents"), agents)
    return Config(path=path, settings=validator.settings(document.get("agentmux")), agents=agents,
                  logs=validator.logs(document.get("logs")), api=api)


def parse_pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """The KEY=VALUE arguments of a repeatable option: each KEY a valid variable name, given once."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} {value!r}: write KEY=VALUE")
        if not is_env_name(key):
            raise UsageError(f"{option} {value!r}: {key!r} is not a valid environment variable name "
                             "(letters, digits and _, not starting with a digit)")
        if key in pairs:
            raise UsageError(f"{option} {key} is given twice: give each variable once")
        pairs[key] = rest
    return pairs



def load(explicit: str | os.PathLike[str] | None = None, must_exist: bool = True, check_dirs: bool = True
         ) -> Config:
    """Find and load the config; a missing default file is an empty fleet with default settings.

    A missing `--config` file is an error unless `must_exist` is False (`agentmux add` creates it). Without
    `check_dirs` a missing working directory is left for the agent's start to refuse (see `parse`).
    """
    path = find_config(explicit)
    if not path.exists():
        if explicit is not None and must_exist:
            raise ConfigError(str(path), "file does not exist (create it with `agentmux init`)")
        return Config(path=path, settings=Settings())
    return parse(path, _read(path), check_dirs)


def _read(path: Path) -> str:
    """The file's text with its line endings as they are (an edit writes them back the same)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None


