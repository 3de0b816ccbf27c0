"""The configuration file: found, read with tomllib, validated with precise errors, edited with tomlkit.

Errors name the file, the line where it can be found, the key and the reason, so a user can fix a typo
without guessing. Edits (`add`, `rm`) change only the agent's own entry, in any valid layout (blocks or an
inline array), so comments and layout elsewhere survive; an edit that would read back as anything but the
old config plus or minus that agent is refused and the file left as it was.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, Table, Whitespace

from agentmux.errors import AgentmuxError, ConfigError, UnknownAgent, UsageError
from agentmux.paths import default_state_dir, find_config, user_config_path

# Matched with fullmatch only: `match` with `$` also accepts a trailing newline ("demo\n" made a tmux
# session that `down` and `rm` never found).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_REF_RE = re.compile(r"(env|file):(.+)", re.DOTALL)
SOCKET_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
RESERVED_ENV = ("AGENTMUX_AGENT", "AGENTMUX_HOME", "AGENTMUX_SOCKET", "AGENTMUX_CONFIG", "TMUX", "TMUX_PANE")
MAX_SECONDS = 86400
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
        for key in ("idle_after", "stop_timeout", "restart", "restart_limit"):
            if getattr(self, key) is not None:
                table[key] = getattr(self, key)
        return table


@dataclass(frozen=True)
class Config:
    """A loaded configuration: where it came from, the settings and the agents in file order."""

    path: Path
    settings: Settings
    agents: tuple[AgentSpec, ...] = ()

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

    def idle_after(self, spec: AgentSpec) -> float:
        return spec.idle_after if spec.idle_after is not None else self.settings.idle_after

    def stop_timeout(self, spec: AgentSpec) -> float:
        return spec.stop_timeout if spec.stop_timeout is not None else self.settings.stop_timeout

    def restart(self, spec: AgentSpec) -> str:
        return spec.restart if spec.restart is not None else self.settings.restart

    def restart_limit(self, spec: AgentSpec) -> int:
        return spec.restart_limit if spec.restart_limit is not None else self.settings.restart_limit


# --- validation ------------------------------------------------------------------------------------------

Check = Callable[[Any], str | None]


def _is_str(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, not {_type_name(value)}"


def _is_text(value: Any) -> str | None:
    """A string tmux can carry to a program: anything but NUL."""
    return _is_str(value) or (NUL_IN_TEXT if "\0" in value else None)


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


def _is_int_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number, not {_type_name(value)}"
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


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


def _is_table(value: Any) -> str | None:
    return None if isinstance(value, dict) else f"must be a table, not {_type_name(value)}"


def is_env_name(text: str) -> bool:
    """A name a variable of the environment can have (letters, digits and _, not starting with a digit)."""
    return ENV_NAME_RE.fullmatch(text) is not None


def key_text(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted with escapes, so a message stays one line."""
    return key if BARE_KEY_RE.fullmatch(key) else tomlkit.key(key).as_string()


def one_line(text: str) -> str:
    """The text with control characters (newlines too) written as escapes, so a message stays one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


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
}


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

    def top(self, key: str) -> int | None:
        key_re = re.compile(rf"^\s*\[*\s*{re.escape(key)}\b")
        for i, line in enumerate(self.lines):
            if key_re.match(line):
                return i + 1
        return None


class _Validator:
    """Turns a parsed TOML document into a Config, raising ConfigError at the first problem."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.file = str(path)
        self.where = _Locator(text)

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
                "must be 1-64 letters, digits, '.', '_' or '-'", "agentmux.socket", self.where.settings("socket")
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
        from agentmux.agents.kinds import get_kind, kind_names

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
        if kind not in kind_names():
            raise self.fail(f"unknown kind {kind!r} (known kinds: {', '.join(kind_names())})",
                            f"{label}kind", line_of("kind"))
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
            problem = None if cwd.is_dir() else "is not a directory" if cwd.exists() else "does not exist"
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
        )
        kind_problem = get_kind(kind).validate(spec)
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
        if problem is not None:
            raise self.fail(problem, key_label, line)


def parse(path: Path, text: str) -> Config:
    """Validate the text of a config file at `path`."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(str(path), f"invalid TOML: {reason}", line=int(match.group(1)) if match else None) from None
    validator = _Validator(path, text)
    for key in document:
        if key not in ("agentmux", "agents"):
            raise validator.fail("unknown top-level key (known: [agentmux], [[agents]])", key_text(key),
                                 validator.where.top(key))
    return Config(path=path, settings=validator.settings(document.get("agentmux")),
                  agents=validator.agents(document.get("agents")))


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


def agent_from_table(config: Config, table: dict[str, Any]) -> AgentSpec:
    """Validate one new agent exactly as its block in the config file will be validated.

    Errors carry the key without the `agents[N]` prefix, ready for a form or a command line.
    """
    try:
        return parse(config.path, render_agent_block(table)).agents[0]
    except ConfigError as exc:
        key = (exc.key or "").split(".", 1)[-1] if exc.key and "." in exc.key else exc.key
        raise ConfigError(exc.file, exc.reason, key=key) from None


def load(explicit: str | os.PathLike[str] | None = None, must_exist: bool = True) -> Config:
    """Find and load the config; a missing default file is an empty fleet with default settings.

    A missing `--config` file is an error unless `must_exist` is False (`agentmux add` creates it).
    """
    path = find_config(explicit)
    if not path.exists():
        if explicit is not None and must_exist:
            raise ConfigError(str(path), "file does not exist (create it with `agentmux init`)")
        return Config(path=path, settings=Settings())
    return parse(path, _read(path))


def _read(path: Path) -> str:
    """The file's text with its line endings as they are (an edit writes them back the same)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None


# --- writing ---------------------------------------------------------------------------------------------

def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step, so a reader sees the old text or the new, never a part. The file keeps
    its mode, and a symlink stays a symlink (the file it points to is the one replaced)."""
    target = Path(os.path.realpath(path))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AgentmuxError(f"cannot write {path}: {exc.strerror or exc}") from None


def _toml_value(value: Any) -> str:
    """A value as one line of TOML; tables inline, as `{ KEY = "value" }`."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{key_text(key)} = {_toml_value(item)}" for key, item in value.items()) + " }"
    return str(tomlkit.item(value).as_string())


def render_agent_block(table: dict[str, Any]) -> str:
    """One `[[agents]]` block with one `key = value` line each."""
    return "[[agents]]\n" + "".join(f"{key_text(key)} = {_toml_value(value)}\n" for key, value in table.items())


def _document(path: Path, text: str) -> tomlkit.TOMLDocument:
    """The file as tomlkit holds it, refused when tomlkit would not write it back exactly as it is."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise AgentmuxError(f"{path}: cannot edit this file ({exc}); the file is unchanged") from None
    if document.as_string() != text:  # e.g. [[agents]] blocks with another table between them
        raise AgentmuxError(f"{path}: cannot edit this file without changing its layout (are its [[agents]] "
                            "blocks apart?); the file is unchanged: edit it by hand")
    return document


def _after(document: tomlkit.TOMLDocument, item: Any) -> Table | None:
    """The table that follows `item` in the document, if any."""
    body = [value for _, value in document.body]
    index = next((i for i, value in enumerate(body) if value is item), len(body))
    return next((value for value in body[index + 1:] if isinstance(value, Table)), None)


def _trailing_text(table: Table) -> str:
    """The comments and blank lines that end a table (inside its last sub-table when it ends with one):
    in the file they stand before whatever follows, so they belong to that, not to this table."""
    trailing: list[str] = []
    for key, item in reversed(table.value.body):
        if key is None and isinstance(item, Comment | Whitespace):
            trailing.append(item.as_string())
        elif isinstance(item, Table) and not trailing:
            return _trailing_text(item)
        else:
            break
    return "".join(reversed(trailing))


def _append(document: tomlkit.TOMLDocument, spec: AgentSpec) -> str:
    """The text with the agent appended: a `[[agents]]` block to an array of tables (or a new one), an
    inline table to an inline array."""
    agents = document.get("agents")
    if isinstance(agents, Array):
        agents.append(tomlkit.parse(f"agent = {_toml_value(spec.to_toml())}")["agent"])
        return document.as_string()
    block = tomlkit.parse(render_agent_block(spec.to_toml()))["agents"]
    if not isinstance(agents, AoT):
        document.append("agents", block)
        return document.as_string()
    table = block[0]
    tail = agents[-1].as_string()
    table.trivia.indent = "" if tail.endswith("\n\n") else "\n" if tail.endswith("\n") else "\n\n"
    if _after(document, agents) is not None:
        table.add(tomlkit.nl())  # the blank line before the table that follows
    agents.append(table)
    return document.as_string()


def _text_before(document: tomlkit.TOMLDocument, table: Table) -> str:
    """The document's text before the table (before its leading blank lines, too)."""
    indent = table.trivia.indent
    table.trivia.indent = "\0" + indent  # NUL cannot occur in a TOML file
    text = document.as_string()
    table.trivia.indent = indent
    return text[: text.index("\0")]


def _remove(document: tomlkit.TOMLDocument, index: int) -> str:
    """The text without the agent at `index`.

    Comments after its last key stand before whatever follows and stay where they were; so do comments
    above it (tomlkit gives them to the block before). Blank lines close up: what was before the block and
    what followed it are as far apart as they were from the block, and the file ends with one newline.
    """
    agents = document["agents"]
    if isinstance(agents, Array):
        del agents[index]
        return document.as_string()
    before = _text_before(document, agents[index])
    trailing = _trailing_text(agents[index])
    has_comments = any(line.lstrip().startswith("#") for line in trailing.splitlines())
    del agents[index]
    following = agents[index] if index < len(agents) else _after(document, agents)
    if not agents:
        del document["agents"]  # an empty array of tables would be written as `agents = []`
    separated = not before or before.endswith("\n\n")
    if has_comments:
        trailing = trailing.lstrip("\n") if separated else trailing
    else:
        trailing = "\n" if following is not None and not separated and trailing.startswith("\n") else ""
    if following is None:  # the end of the file: no blank lines left over at it
        text = document.as_string() + trailing
        end = text.rstrip("\n")
        return end + "\n" if end else ""
    following.trivia.indent = trailing + following.trivia.indent
    return document.as_string()


def _is_crlf(text: str) -> bool:
    """Whether every line of the text ends in CRLF: edited as LF, written back as CRLF."""
    return "\r\n" in text and text.count("\r\n") == text.count("\n")


def _checked(path: Path, text: str, new_text: str, expected: Config, what: str) -> str:
    """The edited text, refused unless it reads back as exactly the expected config."""
    if _is_crlf(text):
        new_text = new_text.replace("\n", "\r\n")
    try:
        new_config = parse(path, new_text)
    except ConfigError:
        new_config = None
    if new_config != expected:
        raise AgentmuxError(f"{path}: cannot {what} without changing the rest of the file; the file is unchanged: "
                            "edit it by hand")
    return new_text


def add_agent(config: Config, spec: AgentSpec) -> Config:
    """Append an agent to the config file (created when missing), keeping every comment and the layout, and
    return the new config."""
    text = _read(config.path) if config.path.exists() else ""
    old = parse(config.path, text)
    if spec.name in old.names():
        raise UsageError(f"an agent named {spec.name!r} already exists in {config.path}")
    new = replace(old, agents=(*old.agents, spec))
    document = _document(config.path, text.replace("\r\n", "\n") if _is_crlf(text) else text)
    new_text = _checked(config.path, text, _append(document, spec), new, f"add agent {spec.name!r}")
    _write_atomically(config.path, new_text)
    return new


def _removal(config: Config, name: str) -> tuple[str, Config]:
    text = _read(config.path) if config.path.exists() else ""
    old = parse(config.path, text)
    index = old.names().index(old.agent(name).name)
    new = replace(old, agents=tuple(spec for spec in old.agents if spec.name != name))
    document = _document(config.path, text.replace("\r\n", "\n") if _is_crlf(text) else text)
    return _checked(config.path, text, _remove(document, index), new, f"remove agent {name!r}"), new


def check_removal(config: Config, name: str) -> None:
    """Raise the error `remove_agent` would, without writing: `rm` asks before it stops the agent."""
    _removal(config, name)


def remove_agent(config: Config, name: str) -> Config:
    """Delete an agent from the config file, keeping every other line as it was, and return the new config."""
    new_text, new = _removal(config, name)
    _write_atomically(config.path, new_text)
    return new


STARTER = '''\
# agentmux configuration. Reference: README.md, section "Configuration".
# agentmux looks for ./agentmux.toml, then $XDG_CONFIG_HOME/agentmux/config.toml; --config FILE wins.

[agentmux]
# socket = "agentmux"          # tmux socket name (tmux -L); one private tmux server and one store per socket
# state_dir = "~/.local/state/agentmux"   # where the store (SQLite) and run files live
# tmux_config = "~/.tmux.conf" # config file for agentmux's tmux server (default: tmux's own default)
# width = 200                  # size of each agent's terminal
# height = 50
# history_limit = 10000        # scrollback lines kept per agent
# idle_after = 3.0             # seconds without output before a busy agent counts as idle
# stop_timeout = 10.0          # seconds a graceful stop may take before the agent is killed
# redispatch = "retry"         # a task whose dispatch a crash cut off: "retry" (send again) or "fail"
# pass_env = []                # names of further variables of the environment agentmux starts in that its
#                              # tmux server and agents may inherit, e.g. ["SSH_AUTH_SOCK"]
# restart = "no"               # an agent that exits: "no", "on-failure" (restart if it failed) or "always"
# restart_limit = 5            # restarts in a row before agentmux gives up on the agent (0 to 1000)

# A simulated coding agent: shows what agentmux does without an API key.
[[agents]]
name = "demo"
kind = "demo"

# Any terminal program can be an agent:
# [[agents]]
# name = "api-tests"
# kind = "command"                      # "command" runs `command` in a shell
# command = "npm test -- --watch"
# cwd = "~/src/api"                     # relative paths are taken from this file's folder
# env = { NODE_ENV = "test" }           # set in this agent's tmux session only
# secrets = { API_TOKEN = "env:MY_API_TOKEN" }   # env:VARIABLE or file:PATH, resolved at start, never stored
# init = ["git pull --ff-only"]         # run in the agent's session before its command
# cleanup = ["rm -f .lock"]             # run after the agent stops or is removed
# autostart = true                      # started by a plain `agentmux up`
# idle_after = 3.0                      # per-agent values of the [agentmux] settings of the same name
# stop_timeout = 10.0
# restart = "on-failure"
# restart_limit = 5
'''


def write_starter(path: Path, force: bool = False) -> None:
    """Write the commented starter file; refuses to overwrite unless forced."""
    if path.exists() and not force:
        raise AgentmuxError(f"{path} already exists (use --force to overwrite it)")
    _write_atomically(path, STARTER)


# --- following the file ----------------------------------------------------------------------------------

FOLLOW_EVERY = 1.0
"""Seconds between looks at the config file by a long-running process."""


@dataclass(frozen=True)
class ConfigChange:
    """What a look at the config file found: a new config to use, or why the file on disk is not used."""

    config: Config | None = None
    problem: str | None = None


class ConfigFollower:
    """Reads the config file again when it changed on disk, for processes that outlive an edit (`serve`,
    the TUI): an agent added or removed by another `agentmux` command, or by hand, is known at once.

    A file that no longer loads is reported once per edit and the last good config stays in use, so a
    half-written edit never stops a running supervisor. The socket and the state directory cannot change
    under a running process (its tmux server and store are open): such an edit is reported, not used.
    """

    def __init__(self, config: Config, every: float = FOLLOW_EVERY) -> None:
        self.config = config
        self.every = every
        self._seen = self._signature()
        self._looked_at = 0.0

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            stat = self.config.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def check(self, now: float) -> ConfigChange | None:
        """A change to act on (at most one look per `every` seconds), or None when nothing changed."""
        if now - self._looked_at < self.every:
            return None
        self._looked_at = now
        signature = self._signature()
        if signature == self._seen:
            return None
        self._seen = signature
        try:
            config = load(self.config.path) if signature is not None else Config(self.config.path, Settings())
        except ConfigError as exc:
            return ConfigChange(problem=f"{exc}; still using the config read before")
        old = self.config.settings
        for key in ("socket", "state_dir", "pass_env"):  # the tmux server and store are open with these
            if getattr(config.settings, key) != getattr(old, key):
                return ConfigChange(problem=f"{self.config.path}: {key} changed; it is used after a restart")
        self.config = config
        return ConfigChange(config=config)
