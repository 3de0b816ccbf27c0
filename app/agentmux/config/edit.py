"""Editing the config file with tomlkit: `add` and `rm` change only the agent's own entry, in any valid
layout (blocks or an inline array), so comments and layout elsewhere survive; an edit that would read back
as anything but the old config plus or minus that agent is refused and the file left as it was. Also the
commented starter file `agentmux init` writes."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, Table, Whitespace

from agentmux.config.model import (
    AgentSpec,
    Config,
)
from agentmux.config.validate import (
    _read,
    key_text,
    parse,
)
from agentmux.errors import AgentmuxError, ConfigError, UsageError


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
        new_config = parse(path, new_text, check_dirs=False)
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
    old = parse(config.path, text, check_dirs=False)
    if spec.name in old.names():
        raise UsageError(f"an agent named {spec.name!r} already exists in {config.path}")
    new = replace(old, agents=(*old.agents, spec))
    document = _document(config.path, text.replace("\r\n", "\n") if _is_crlf(text) else text)
    new_text = _checked(config.path, text, _append(document, spec), new, f"add agent {spec.name!r}")
    _write_atomically(config.path, new_text)
    return new


def _removal(config: Config, name: str) -> tuple[str, Config]:
    text = _read(config.path) if config.path.exists() else ""
    old = parse(config.path, text, check_dirs=False)
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

# Logs: every line agents print, kept in a capped log file beside the store (`agentmux logs` reads it).
# [logs]
# max_lines = 2000000          # entries kept for all agents together (the oldest go first)
# max_mb = 512                 # size of the log file in MiB: it stops growing here
# max_lines_per_agent = 500000
# max_mb_per_agent = 128       # MiB of text kept per agent
# memory_lines = 2000          # entries per agent the TUI's live view keeps in memory
# settle = 1.5                 # seconds a line redrawn in place must stay unchanged before it is logged
# default_rules = true         # false: only the rules below give a line's severity (else info)
# [[logs.rules]]               # severity rules, checked before the defaults; the first match wins
# match = '^E\\d{4} '           # a Python regular expression ('...': no TOML escapes), searched in each line
# level = "error"              # error, warning, info or debug

# API routing: one rate limiter per key for every agent and process, and a usage ledger (`agentmux usage`).
# [api]
# upstream = "https://api.anthropic.com"
# [api.keys.default]           # agents use "default" unless they say api_key = "NAME"
# key = "env:ANTHROPIC_API_KEY"  # a secret reference, never the key itself
# requests_per_minute = 50
# input_tokens_per_minute = 40000
# output_tokens_per_minute = 8000

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

# Claude Code, its state read from its own hooks:
# [[agents]]
# name = "reviewer"
# kind = "claude"
# command = "claude"                    # the claude command line and any options of yours
# model = "sonnet"                      # --model
# permission_mode = "default"           # --permission-mode: default, acceptEdits, plan, auto, dontAsk, ...
# resume = true                         # a restart resumes the conversation (false: a fresh one each start)
# approve = { allow = ["Bash(git status)", "Bash(pytest *)"], deny = ["Bash(rm *)"], on_deny = "ask" }
#                                       # answers its permission questions by rule (deny wins; default: you answer)
# api_key = "default"                   # its key in [api.keys]
# budget = 5.0                          # USD its API requests may cost (an estimate); default: none
# on_budget = "warn"                    # a spent budget: warn or stop
# share = 1                             # its weight among agents waiting on one key

# The Messages API, asked directly (`agentmux api-agent`); the conversation is kept in the store:
# [[agents]]
# name = "asker"
# kind = "api"
# model = "claude-sonnet-4-5"           # required for kind api
# system = "You are terse."             # the system prompt
# max_tokens = 1024                     # the most tokens of one reply
# temperature = 0.2                     # 0 to 1 (default: the API's)
# history_tokens = 100000              # the conversation sent is trimmed to this
# secrets = { ANTHROPIC_API_KEY = "env:ANTHROPIC_API_KEY" }
'''


def write_starter(path: Path, force: bool = False) -> None:
    """Write the commented starter file; refuses to overwrite unless forced."""
    if path.exists() and not force:
        raise AgentmuxError(f"{path} already exists (use --force to overwrite it)")
    _write_atomically(path, STARTER)

def agent_from_table(config: Config, table: dict[str, Any]) -> AgentSpec:
    """Validate one new agent exactly as its block in the config file will be validated.

    Errors carry the key without the `agents[N]` prefix, ready for a form or a command line.
    """
    try:
        return parse(config.path, render_agent_block(table)).agents[0]
    except ConfigError as exc:
        key = (exc.key or "").split(".", 1)[-1] if exc.key and "." in exc.key else exc.key
        raise ConfigError(exc.file, exc.reason, key=key) from None


def new_agent(config: Config, table: dict[str, Any]) -> AgentSpec:
    """A new agent from its table (the CLI's `add` arguments, the TUI's form), checked exactly as its entry in
    the file will be; a problem is one UsageError naming the key (no file line: the input was not a file)."""
    try:
        return agent_from_table(config, table)
    except ConfigError as exc:
        raise UsageError(f"agent {table.get('name')!r}: {exc.key}: {exc.reason}" if exc.key else exc.reason
                         ) from None
