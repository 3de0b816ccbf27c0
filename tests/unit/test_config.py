"""The config file: found where README (Configuration) says, validated with file/line/key/reason, edited
without losing comments.

Every invalid config is checked twice: as a `ConfigError` from the library and through the real CLI
(exit code 2, one line on stderr, never a traceback).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentmux import config
from agentmux.config import STARTER, AgentSpec, LogRule, LogSettings, Settings
from agentmux.errors import AgentmuxError, ConfigError
from agentmux.paths import user_config_path
from tests.conftest import Env

# --- helpers ---------------------------------------------------------------------------------------------


def header(env: Env, socket: str | None = None) -> str:
    """The same [agentmux] table `env.write_config` writes (private socket and state dir)."""
    return (f'[agentmux]\nsocket = "{socket or env.socket}"\nstate_dir = "{env.state_dir}"\n'
            f'tmux_config = "/dev/null"\nwidth = 100\nheight = 30\n')


def lines_with(path: Path, needle: str) -> list[int]:
    """1-based numbers of the lines of `path` that contain `needle`."""
    return [number for number, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]


def assert_one_line(text: str) -> None:
    assert text.strip(), "expected a message"
    assert "\n" not in text.strip(), f"expected one line, got:\n{text}"


@dataclass(frozen=True)
class Case:
    id: str
    reason: str  # a fragment of the reason a user reads
    key: str | None = None  # a fragment of the key named, None when no key applies
    line_needle: str | None = None  # the expected line is the one holding this text
    nth: int = 0  # which of the lines holding line_needle (for repeated text)
    settings: str = ""
    agents: str = ""
    before: str = ""  # text written before the [agentmux] table (top-level keys)
    socket: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # (key, TOML value) replacing a line of the [agentmux] header

    def write(self, env: Env) -> Path:
        overrides, lines = dict(self.overrides), []
        for line in header(env, self.socket).splitlines():
            key = line.split(" = ", 1)[0]
            lines.append(f"{key} = {overrides[key]}" if key in overrides else line)
        text = self.before + "\n".join(lines) + "\n" + self.settings + "\n" + self.agents
        env.config_path.write_text(text)
        return env.config_path

    def expected_line(self, path: Path) -> int | None:
        if self.line_needle is None:
            return None
        return lines_with(path, self.line_needle)[self.nth]


CASES = [
    Case("claude-key-on-another-kind", "is for kind 'claude' only", "model", "model =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nmodel = "sonnet"\n'),
    Case("bad-permission-mode", "must be one of 'default'", "permission_mode", "permission_mode =",
         agents='[[agents]]\nname = "a"\nkind = "claude"\npermission_mode = "yolo"\n'),
    Case("resume-not-bool", "must be true or false", "resume", "resume =",
         agents='[[agents]]\nname = "a"\nkind = "claude"\nresume = "no"\n'),
    Case("bad-approval-rule", "item 2: 'Bash(' is not a rule", "approve.deny", "deny =",
         agents='[[agents]]\nname = "a"\nkind = "claude"\n\n[agents.approve]\nallow = ["Read"]\n'
                'deny = ["Bash(rm *)", "Bash("]\n'),
    Case("bad-on-deny", "must be one of 'ask', 'refuse', 'fail'", "approve.on_deny", "approve =",
         agents='[[agents]]\nname = "a"\nkind = "claude"\napprove = { on_deny = "explode" }\n'),
    Case("unknown-approve-key", "unknown key", "approve.alow", "alow =",
         agents='[[agents]]\nname = "a"\nkind = "claude"\n[agents.approve]\nalow = ["Read"]\n'),
    Case("bad-toml-syntax", "invalid TOML", None, "command =",
         agents='[[agents]]\nname = "a"\ncommand =\ncwd = "."\n'),
    Case("unknown-top-level-key", "unknown top-level key", "colour", "colour =",
         before='colour = "red"\n'),
    Case("unknown-top-level-table", "unknown top-level key", "extras", "[extras]",
         agents='[extras]\nx = 1\n'),
    Case("unknown-key-in-agentmux", "unknown key", "agentmux.widht", "widht =", settings="widht = 120\n"),
    Case("unknown-key-in-agent", "unknown key", "comand", "comand =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncomand = "true"\n'),
    Case("autostart-not-bool", "must be true or false", "autostart", "autostart =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nautostart = "yes"\n'),
    Case("env-value-not-string", "must be a string", "env.A", "env =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nenv = { A = 1 }\n'),
    Case("init-not-list", "must be a list of strings", "init", "init =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ninit = "x"\n'),
    Case("history-limit-not-int", "must be a whole number", "agentmux.history_limit", "history_limit =",
         settings='history_limit = "lots"\n'),
    Case("duplicate-agent-name", "duplicate agent name 'a'", "name", 'name = "a"', nth=1,
         agents='[[agents]]\nname = "a"\ncommand = "true"\n\n[[agents]]\nname = "a"\ncommand = "false"\n'),
    Case("cwd-missing", "does not exist", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "no-such-dir"\n'),
    Case("cwd-is-a-file", "is not a directory", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "agentmux.toml"\n'),
    Case("unknown-kind", "unknown kind 'robot'", "kind", "kind =",
         agents='[[agents]]\nname = "a"\nkind = "robot"\ncommand = "true"\n'),
    Case("command-missing", "is required for kind 'command'", "command", "[[agents]]",
         agents='[[agents]]\nname = "a"\nkind = "command"\n'),
    Case("invalid-name", "is not a valid name", "name", "name =",
         agents='[[agents]]\nname = "bad name!"\ncommand = "true"\n'),
    Case("bad-secret-reference", "is not a secret reference", "secrets.TOKEN", "secrets =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nsecrets = { TOKEN = "vault:x" }\n'),
    Case("reserved-env-var", "set by agentmux itself", "env.AGENTMUX_AGENT", "env =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nenv = { AGENTMUX_AGENT = "me" }\n'),
    Case("socket-name-invalid", "must be 1-64 letters", "agentmux.socket", "socket =", socket="bad/socket name"),
    # Full-string validation: `match` with `$` let each of these through with a trailing newline.
    Case("name-ending-in-newline", "is not a valid name", "name", "name =",
         agents='[[agents]]\nname = "a\\n"\ncommand = "true"\n'),
    Case("env-key-ending-in-newline", "is not a valid environment variable name", 'env."A\\n"', "env =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nenv = { "A\\n" = "x" }\n'),
    Case("secret-key-ending-in-newline", "is not a valid environment variable name", 'secrets."T\\n"', "secrets =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nsecrets = { "T\\n" = "env:X" }\n'),
    Case("socket-ending-in-newline", "must be 1-64 letters", "agentmux.socket", "socket =", socket="s\\n"),
    Case("socket-dot-dot", "not starting with '.'", "agentmux.socket", "socket =", socket=".."),
    Case("socket-hidden", "not starting with '.'", "agentmux.socket", "socket =", socket=".fleet"),
    Case("secret-env-reference-ending-in-newline", "is not a valid environment variable name", "secrets.T",
         "secrets =", agents='[[agents]]\nname = "a"\ncommand = "true"\nsecrets = { T = "env:X\\n" }\n'),
    Case("secret-env-reference-with-a-space", "'MY VAR' is not a valid environment variable name", "secrets.T",
         "secrets =", agents='[[agents]]\nname = "a"\ncommand = "true"\nsecrets = { T = "env:MY VAR" }\n'),
    # Values agentmux cannot use: empty paths, endless or absurd durations, NUL (the one character tmux
    # cannot pass on), paths the system refuses.
    Case("state-dir-empty", "must not be empty", "agentmux.state_dir", "state_dir =",
         overrides=(("state_dir", '""'),)),
    Case("tmux-config-empty", "must not be empty", "agentmux.tmux_config", "tmux_config =",
         overrides=(("tmux_config", '""'),)),
    Case("tmux-config-name-too-long", "cannot use file", "agentmux.tmux_config", "tmux_config =",
         overrides=(("tmux_config", '"' + "x" * 5000 + '"'),)),
    Case("idle-after-inf", "must be more than 0 and at most 86400 seconds (a day), not inf",
         "agentmux.idle_after", "idle_after =", settings="idle_after = inf\n"),
    Case("stop-timeout-nan", "must be more than 0 and at most 86400 seconds (a day), not nan",
         "agentmux.stop_timeout", "stop_timeout =", settings="stop_timeout = nan\n"),
    Case("agent-idle-after-absurd", "at most 86400 seconds (a day), not 1000000000.0", "idle_after",
         "idle_after =", agents='[[agents]]\nname = "a"\ncommand = "true"\nidle_after = 1e9\n'),
    Case("agent-stop-timeout-zero", "must be more than 0", "stop_timeout", "stop_timeout =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nstop_timeout = 0\n'),
    Case("agent-stop-timeout-minus-inf", "not -inf", "stop_timeout", "stop_timeout =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nstop_timeout = -inf\n'),
    Case("env-value-with-nul", "holds a NUL character (\\0), which tmux cannot pass to a program", "env.A",
         "env =", agents='[[agents]]\nname = "a"\ncommand = "true"\nenv = { A = "x\\u0000y" }\n'),
    Case("env-value-too-long", "is 140,000 bytes: a program cannot be started with more than 131,071", "env.BIG",
         "env =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nenv = { BIG = "' + "v" * 140_000 + '" }\n'),
    Case("command-too-long", "is 140,000 bytes: a program cannot be started with more than 131,071", "command",
         "command =", agents='[[agents]]\nname = "a"\ncommand = "' + "c" * 140_000 + '"\n'),
    Case("command-with-nul", "holds a NUL character (\\0), which tmux cannot pass", "command", "command =",
         agents='[[agents]]\nname = "a"\ncommand = "echo \\u0000"\n'),
    Case("init-with-nul", "item 2 holds a NUL character", "init", "init =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ninit = ["true", "\\u0000"]\n'),
    Case("cleanup-with-nul", "item 1 holds a NUL character", "cleanup", "cleanup =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncleanup = ["rm \\u0000"]\n'),
    Case("cwd-with-nul", "holds a NUL character (\\0), which no path can hold", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "/tmp/\\u0000"\n'),
    Case("cwd-empty", "must not be empty", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = ""\n'),
    Case("cwd-name-too-long", "cannot be used: File name too long", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "' + "x" * 5000 + '"\n'),
    Case("cwd-with-a-newline-is-shown-escaped", "directory /no\\nsuch does not exist", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "/no\\nsuch"\n'),
    Case("state-dir-of-an-unknown-user", "'~nosuchuser0/x': cannot expand ~nosuchuser0 (no such user",
         "agentmux.state_dir", "state_dir =", overrides=(("state_dir", '"~nosuchuser0/x"'),)),
    Case("cwd-of-an-unknown-user", "cannot expand ~nosuchuser0", "cwd", "cwd =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "~nosuchuser0"\n'),
    Case("secret-file-path-with-nul", "holds a NUL character (\\0), which no path can hold", "secrets.T",
         "secrets =", agents='[[agents]]\nname = "a"\ncommand = "true"\nsecrets = { T = "file:/x\\u0000" }\n'),
    Case("demo-option-the-demo-agent-refuses",
         "the demo agent refuses these options: argument --speed: not a number: 'fast'",
         "(d).command", "command =", agents='[[agents]]\nname = "d"\nkind = "demo"\ncommand = "--speed fast"\n'),
    # pass_env, restart, restart_limit.
    Case("pass-env-not-a-list", "must be a list of strings", "agentmux.pass_env", "pass_env =",
         settings='pass_env = "SSH_AUTH_SOCK"\n'),
    Case("pass-env-invalid-name", "item 2 'SSH AUTH' is not a valid environment variable name",
         "agentmux.pass_env", "pass_env =", settings='pass_env = ["LANG", "SSH AUTH"]\n'),
    Case("pass-env-name-ending-in-newline", "item 1 'LANG\\n' is not a valid environment variable name",
         "agentmux.pass_env", "pass_env =", settings='pass_env = ["LANG\\n"]\n'),
    Case("pass-env-reserved-name", "item 1 'TMUX' is set by agentmux itself", "agentmux.pass_env", "pass_env =",
         settings='pass_env = ["TMUX"]\n'),
    Case("pass-env-twice", "lists 'LANG' twice", "agentmux.pass_env", "pass_env =",
         settings='pass_env = ["LANG", "LANG"]\n'),
    Case("restart-unknown", "must be one of 'no', 'on-failure', 'always', not 'sometimes'", "agentmux.restart",
         "restart =", settings='restart = "sometimes"\n'),
    Case("restart-limit-too-high", "must be between 0 and 1000", "agentmux.restart_limit", "restart_limit =",
         settings="restart_limit = 1001\n"),
    Case("agent-restart-unknown", "must be one of 'no', 'on-failure', 'always', not a boolean", "restart", "restart =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nrestart = true\n'),
    Case("agent-restart-limit-negative", "must be between 0 and 1000", "restart_limit", "restart_limit =",
         agents='[[agents]]\nname = "a"\ncommand = "true"\nrestart_limit = -1\n'),
    Case("agent-restart-limit-not-whole", "must be a whole number, not a number", "restart_limit",
         "restart_limit =", agents='[[agents]]\nname = "a"\ncommand = "true"\nrestart_limit = 2.5\n'),
    Case("unknown-key-with-a-newline", "unknown key", '"x\\ny"', '"x\\ny" = 1',
         agents='[[agents]]\nname = "a"\ncommand = "true"\n"x\\ny" = 1\nenv = {}\n'),
    # [logs]: sizes, counts, settle, severity rules (each one's line, key and reason).
    Case("logs-unknown-key", "unknown key (known keys: max_lines, max_mb, max_lines_per_agent, max_mb_per_agent, "
         "memory_lines, settle, rules, default_rules)", "logs.max_line", "max_line =",
         agents='[logs]\nmax_line = 5\n'),
    Case("logs-not-a-table", "must be a table: write it as [logs]", "logs", "logs = 3", before="logs = 3\n"),
    Case("logs-max-lines-zero", "must be between 1 and 1000000000", "logs.max_lines", "max_lines =",
         agents='[logs]\nmax_lines = 0\n'),
    Case("logs-max-lines-not-whole", "must be a whole number, not a number", "logs.max_lines", "max_lines =",
         agents='[logs]\nmax_lines = 1.5\n'),
    Case("logs-max-lines-per-agent-negative", "must be between 1 and", "logs.max_lines_per_agent",
         "max_lines_per_agent =", agents='[logs]\nmax_lines = 10\nmax_lines_per_agent = -3\n'),
    Case("logs-max-mb-zero", "must be a number of MiB more than 0 and at most 1048576 (1 TiB), not 0",
         "logs.max_mb", "max_mb =", agents='[logs]\nmax_mb = 0\n'),
    Case("logs-max-mb-text", "must be a number of MiB, not a string", "logs.max_mb", "max_mb =",
         agents='[logs]\nmax_mb = "512MB"\n'),
    Case("logs-max-mb-per-agent-inf", "not inf", "logs.max_mb_per_agent", "max_mb_per_agent =",
         agents='[logs]\nmax_mb_per_agent = inf\n'),
    Case("logs-memory-lines-too-many", "must be between 1 and 100000", "logs.memory_lines", "memory_lines =",
         agents='[logs]\nmemory_lines = 1000000\n'),
    Case("logs-settle-too-long", "must be more than 0 and at most 60 seconds, not 61", "logs.settle", "settle =",
         agents='[logs]\nsettle = 61\n'),
    Case("logs-settle-nan", "not nan", "logs.settle", "settle =", agents='[logs]\nsettle = nan\n'),
    Case("logs-default-rules-not-bool", "must be true or false", "logs.default_rules", "default_rules =",
         agents='[logs]\ndefault_rules = "no"\n'),
    Case("logs-rules-not-an-array", "must be an array of tables: write each rule as [[logs.rules]]", "logs.rules",
         "rules =", agents='[logs]\nrules = "ERROR"\n'),
    Case("logs-rules-one-table", "must be an array of tables", "logs.rules", "[logs.rules]",
         agents='[logs.rules]\nmatch = "x"\nlevel = "error"\n'),
    Case("logs-rule-bad-regex", "'(unclosed' is not a regular expression: missing ), unterminated subpattern",
         "logs.rules[0].match", "match =", agents='[[logs.rules]]\nmatch = "(unclosed"\nlevel = "error"\n'),
    Case("logs-second-rule-bad-level", "must be one of 'error', 'warning', 'info', 'debug', not 'loud'",
         "logs.rules[1].level", 'level = "loud"',
         agents='[logs]\nmax_lines = 10\n\n[[logs.rules]]\nmatch = "a"\nlevel = "error"\n\n'
                '[[logs.rules]]\nmatch = "b"\nlevel = "loud"\n'),
    Case("logs-rule-unknown-key", "unknown key (known keys: match, level)", "logs.rules[0].matches", "matches =",
         agents='[[logs.rules]]\nmatches = "x"\nlevel = "error"\n'),
    Case("logs-rule-without-level", "is required (a rule is { match = \"RE\", level = \"error|warning|info|debug\" })",
         "logs.rules[0].level", "[[logs.rules]]", agents='[[logs.rules]]\nmatch = "x"\n'),
    Case("logs-inline-rule-bad-level", "not 'fatal'", "logs.rules[0].level", "rules =",
         agents='[logs]\nrules = [{ match = "a", level = "fatal" }]\n'),
    Case("logs-inline-rule-not-a-table", "must be a table { match = \"RE\"", "logs.rules[0]", "rules =",
         agents='[logs]\nrules = ["ERROR"]\n'),
    Case("logs-rule-match-not-text", "must be a string, not an integer", "logs.rules[0].match", "match =",
         agents='[[logs.rules]]\nmatch = 3\nlevel = "error"\n'),
]


# --- invalid configs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_config_is_one_clear_config_error(env: Env, case: Case) -> None:
    path = case.write(env)
    line = case.expected_line(path)

    with pytest.raises(ConfigError) as loaded:
        config.load(path)
    error = loaded.value
    assert error.file == str(path)
    assert error.line == line
    assert case.reason in error.reason
    if case.key is None:
        assert error.key is None
    else:
        assert error.key is not None and case.key in error.key
    message = str(error)
    assert_one_line(message)
    assert message.startswith(f"{path}:{line}: " if line is not None else f"{path}: ")

    with pytest.raises(ConfigError) as parsed:
        config.parse(path, path.read_text())
    assert str(parsed.value) == message


WHERE_IT_RUNS = {"cwd-missing", "cwd-is-a-file", "cwd-with-a-newline-is-shown-escaped"}
"""A working directory that is not there is the agent's start's to refuse, not every command's (a directory
removed after the agent started must not stop `ls` and `down`): doctor and the start say it."""


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_config_via_cli_exits_2_with_file_line_key_reason(env: Env, case: Case) -> None:
    path = case.write(env)
    line = case.expected_line(path)

    result = env.cli("doctor" if case.id in WHERE_IT_RUNS else "ls")
    if case.id in WHERE_IT_RUNS:
        assert result.returncode == 1 and case.reason in result.stdout, result.stdout
        started = env.cli("up", "a", "--no-serve")
        assert started.returncode == 1 and "working directory" in started.stderr, started.stderr
        assert_one_line(started.stderr)
        return

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert result.stdout == ""
    assert (f"{path}:{line}:" if line is not None else f"{path}:") in result.stderr
    if case.key is not None:
        assert case.key in result.stderr
    assert case.reason in result.stderr


def test_cwd_errors_name_the_resolved_directory(env: Env) -> None:
    path = Case("x", "", agents='[[agents]]\nname = "a"\ncommand = "true"\ncwd = "sub/missing"\n').write(env)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert str(env.root / "sub" / "missing") in error.value.reason


def test_explicit_config_that_does_not_exist(env: Env) -> None:
    missing = env.root / "nope.toml"
    with pytest.raises(ConfigError) as error:
        config.load(missing)
    assert error.value.file == str(missing)
    assert "does not exist" in error.value.reason

    result = env.cli("ls")  # env.config_path was never written
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert str(env.config_path) in result.stderr and "does not exist" in result.stderr


# --- finding the config ----------------------------------------------------------------------------------


def test_missing_default_config_is_an_empty_fleet_with_defaults(env: Env) -> None:
    loaded = config.load()
    assert loaded.path == user_config_path()
    assert loaded.path == env.root / "config" / "agentmux" / "config.toml"
    assert not loaded.exists
    assert loaded.agents == ()
    assert loaded.settings == Settings()
    assert loaded.settings.socket == "agentmux"
    assert loaded.settings.state_dir == env.root / "xdg-state" / "agentmux"


def test_missing_default_config_via_cli_lists_nothing(env: Env) -> None:
    result = subprocess.run([sys.executable, "-m", "agentmux", "ls", "--json"], capture_output=True, text=True,
                            env=env.environ, cwd=env.root, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def agent_file(path: Path, name: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[[agents]]\nname = "{name}"\ncommand = "true"\n')
    return path


def test_local_file_wins_over_user_file_and_explicit_wins_over_both(env: Env) -> None:
    user = agent_file(user_config_path(), "from-user")
    assert config.load().names() == ["from-user"]
    assert config.load().path == user

    local = agent_file(env.root / "agentmux.toml", "from-local")
    assert config.load().names() == ["from-local"]
    assert config.load().path == local

    explicit = agent_file(env.root / "elsewhere" / "mine.toml", "from-explicit")
    assert config.load(explicit).names() == ["from-explicit"]
    assert config.load(str(explicit)).path == explicit


def test_relative_cwd_resolves_against_the_config_files_folder(env: Env, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project = env.root / "project"
    (project / "src").mkdir(parents=True)
    (env.root / "shared").mkdir()
    path = project / "agentmux.toml"
    path.write_text(
        '[[agents]]\nname = "rel"\ncommand = "true"\ncwd = "src"\n\n'
        '[[agents]]\nname = "up"\ncommand = "true"\ncwd = "../shared"\n\n'
        '[[agents]]\nname = "default"\ncommand = "true"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the process's cwd must not matter

    loaded = config.load(path)
    assert loaded.agent("rel").cwd == project / "src"
    assert loaded.agent("up").cwd == env.root / "shared"
    assert loaded.agent("default").cwd == project


def test_agents_in_user_config_default_to_home(env: Env) -> None:
    agent_file(user_config_path(), "homebody")
    assert config.load().agent("homebody").cwd == Path.home() == env.root / "home"


def test_a_codex_agent_needs_no_command_and_keeps_the_one_given(env: Env) -> None:
    path = env.write_config('[[agents]]\nname = "cx"\nkind = "codex"\n\n'
                            '[[agents]]\nname = "cx2"\nkind = "codex"\ncommand = "codex -m o3"\n')
    loaded = config.load(path)
    assert [(a.name, a.kind, a.command) for a in loaded.agents] == [("cx", "codex", ""),
                                                                    ("cx2", "codex", "codex -m o3")]


# --- the starter file ------------------------------------------------------------------------------------


def test_starter_parses_and_validates(env: Env) -> None:
    path = env.root / "agentmux.toml"
    loaded = config.parse(path, STARTER)
    assert loaded.names() == ["demo"]
    assert loaded.agent("demo").kind == "demo"
    assert loaded.settings == Settings()


def test_cli_init_writes_a_starter_that_loads(env: Env) -> None:
    result = env.cli("init")
    assert result.returncode == 0, result.stderr
    assert env.config_path.read_text() == STARTER
    assert config.load(env.config_path).names() == ["demo"]


def test_pass_env_and_restart_settings_and_their_per_agent_values(env: Env) -> None:
    path = Case("x", "", settings='pass_env = ["SSH_AUTH_SOCK", "LANG"]\nrestart = "on-failure"\n'
                'restart_limit = 3\n', agents='[[agents]]\nname = "plain"\ncommand = "true"\n\n'
                '[[agents]]\nname = "own"\ncommand = "true"\nrestart = "always"\nrestart_limit = 0\n').write(env)
    loaded = config.load(path)
    assert loaded.settings.pass_env == ("SSH_AUTH_SOCK", "LANG")
    plain, own = loaded.agent("plain"), loaded.agent("own")
    assert (plain.restart, plain.restart_limit) == (None, None)
    assert (loaded.restart(plain), loaded.restart_limit(plain)) == ("on-failure", 3)
    assert (own.restart, own.restart_limit) == ("always", 0)
    assert (loaded.restart(own), loaded.restart_limit(own)) == ("always", 0)
    assert own.to_toml()["restart"] == "always" and own.to_toml()["restart_limit"] == 0
    assert "restart" not in plain.to_toml() and "restart_limit" not in plain.to_toml()


def test_the_defaults_of_pass_env_and_restart(env: Env) -> None:
    defaults = Settings()
    assert (defaults.pass_env, defaults.restart, defaults.restart_limit) == ((), "no", 5)


def test_an_agent_added_with_a_restart_policy_reads_back_the_same(env: Env) -> None:
    path = env.write_config()
    spec = AgentSpec(name="r", command="true", cwd=env.root, restart="on-failure", restart_limit=7)
    config.add_agent(config.load(path), spec)
    assert config.load(path).agent("r") == spec
    assert 'restart = "on-failure"\nrestart_limit = 7\n' in path.read_text()


def test_every_key_is_in_the_starter_and_in_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme[readme.index("## Configuration"):readme.index("## CLI")]
    for key in [*config.SETTINGS_KEYS, *config.AGENT_KEYS, *(key for key in config.LOGS_KEYS if key != "rules")]:
        assert f"# {key} = " in STARTER, f"{key} is not in the starter file"
        assert f"\n{key} = " in example, f"{key} is not in README's configuration example"
    assert "# [[logs.rules]]" in STARTER and "\n[[logs.rules]]" in example


def uncommented_logs_table(text: str) -> str:
    """The starter with its commented `[logs]` example (from `# [logs]` to the next blank line) written out."""
    lines, inside = [], False
    for line in text.splitlines():
        inside = line == "# [logs]" or (inside and line != "")
        lines.append(line[2:] if inside else line)
    return "\n".join(lines) + "\n"


def test_the_starters_logs_example_loads_as_its_comments_say(env: Env) -> None:
    loaded = config.parse(env.config_path, uncommented_logs_table(STARTER))
    assert loaded.names() == ["demo"]
    assert loaded.logs == LogSettings(rules=(LogRule(match="^E\\d{4} ", level="error"),))


# --- [logs] ----------------------------------------------------------------------------------------------


def test_logs_settings_and_rules_in_file_order(env: Env) -> None:
    env.write_config(settings="", agents='[logs]\nmax_lines = 1000\nmax_mb = 2.5\nmax_lines_per_agent = 100\n'
                     'max_mb_per_agent = 1\nmemory_lines = 50\nsettle = 0.5\ndefault_rules = false\n\n'
                     '[[logs.rules]]\nmatch = "^E\\\\d+"\nlevel = "error"\n\n'
                     "[[logs.rules]]\nmatch = '(?i)deprecated'\nlevel = \"warning\"\n\n"
                     '[[agents]]\nname = "a"\ncommand = "true"\n')
    logs = env.load().logs
    assert logs == LogSettings(max_lines=1000, max_mb=2.5, max_lines_per_agent=100, max_mb_per_agent=1.0,
                               memory_lines=50, settle=0.5, default_rules=False,
                               rules=(LogRule("^E\\d+", "error"), LogRule("(?i)deprecated", "warning")))
    assert isinstance(logs.max_mb_per_agent, float) and logs.max_bytes == int(2.5 * 1024 * 1024)
    assert env.load().names() == ["a"]


def test_logs_rules_inline_are_the_same_as_tables(env: Env) -> None:
    env.write_config(agents='[logs]\nrules = [{ match = "x", level = "debug" }, { level = "info", match = "y" }]\n')
    assert env.load().logs.rules == (LogRule("x", "debug"), LogRule("y", "info"))


def test_no_logs_table_is_the_defaults(env: Env) -> None:
    env.write_config('[[agents]]\nname = "a"\ncommand = "true"\n')
    assert env.load().logs == LogSettings() and LogSettings().default_rules is True


def test_add_and_rm_keep_the_logs_table(env: Env) -> None:
    """An agent added to (and removed from) a file with [logs] and its rules, before or after the agents."""
    logs = '[logs]\nmax_lines = 77\n\n[[logs.rules]]\nmatch = "boom"\nlevel = "error"\n'
    agent = '[[agents]]\nname = "a"\ncommand = "true"\n'
    for text in (logs + "\n" + agent, agent + "\n" + logs):
        path = env.write_config(text)
        before = path.read_text()
        updated = config.add_agent(config.load(path), AgentSpec(name="b", command="true", cwd=Path("/tmp")))
        reloaded = config.load(path)
        assert reloaded == updated and reloaded.names() == ["a", "b"]
        assert reloaded.logs.max_lines == 77 and reloaded.logs.rules == (LogRule("boom", "error"),)
        config.remove_agent(reloaded, "b")
        assert path.read_text() == before


# --- editing ---------------------------------------------------------------------------------------------


def test_add_agent_appends_a_block_and_keeps_the_starters_comments(env: Env) -> None:
    path = env.root / "agentmux.toml"
    config.write_starter(path)
    # A short cwd, as a user's usually is ("~/src/api" is /home/alice/src/api).
    spec = AgentSpec(name="api", command="npm test", cwd=Path("/tmp"), env={"NODE_ENV": "test"})

    updated = config.add_agent(config.load(path), spec)

    assert updated.names() == ["demo", "api"]
    text = path.read_text()
    assert text.startswith(STARTER), "the starter's lines (and comments) must stay as they were"
    reloaded = config.load(path)
    assert reloaded.names() == ["demo", "api"]
    assert reloaded.agent("api") == spec


def test_add_agent_twice_to_a_file_with_settings(env: Env) -> None:
    path = env.write_config()
    loaded = config.load(path)
    loaded = config.add_agent(loaded, AgentSpec(name="one", command="true", cwd=Path("/tmp")))
    loaded = config.add_agent(loaded, AgentSpec(name="two", command="true", cwd=Path("/tmp"), autostart=False))
    reloaded = config.load(path)
    assert reloaded.names() == ["one", "two"]
    assert reloaded.settings.socket == env.socket
    assert reloaded.agent("two").autostart is False


def test_add_agent_refuses_a_duplicate_name(env: Env) -> None:
    path = env.write_config('[[agents]]\nname = "x"\ncommand = "true"\n')
    before = path.read_text()
    with pytest.raises(AgentmuxError, match="already exists"):
        config.add_agent(config.load(path), AgentSpec(name="x", command="false", cwd=env.root))
    assert path.read_text() == before


COMMENTED = '''\
# my fleet
[agentmux]
socket = "fleet"   # keep this socket

# the first agent
[[agents]]
name = "a"
command = "true"  # runs true

# b is the builder
[[agents]]
name = "b"
command = "make"
init = [
    "git pull",
]

# c is the checker
[[agents]]
name = "c"
command = "check"

# trailing notes about the fleet
'''


def test_remove_agent_removes_only_that_block_and_keeps_comments(env: Env) -> None:
    path = env.root / "agentmux.toml"
    path.write_text(COMMENTED)

    updated = config.remove_agent(config.load(path), "b")

    assert updated.names() == ["a", "c"]
    text = path.read_text()
    assert 'command = "make"' not in text and "git pull" not in text
    for kept in ("# my fleet", 'socket = "fleet"   # keep this socket', "# the first agent",
                 'command = "true"  # runs true', "# c is the checker", 'command = "check"',
                 "# trailing notes about the fleet"):
        assert kept in text, f"{kept!r} was lost:\n{text}"
    assert config.load(path).names() == ["a", "c"]


def test_remove_the_starters_demo_agent_keeps_the_commented_examples(env: Env) -> None:
    path = env.root / "agentmux.toml"
    config.write_starter(path)
    path.write_text(path.read_text() + '\n[[agents]]\nname = "mine"\ncommand = "true"\n')

    config.remove_agent(config.load(path), "demo")

    text = path.read_text()
    assert 'kind = "demo"' not in text
    for kept in ("# Any terminal program can be an agent:", '# command = "npm test -- --watch"',
                 '# stop_timeout = 10.0', '# socket = "agentmux"'):
        assert kept in text, f"{kept!r} was lost:\n{text}"
    assert config.load(path).names() == ["mine"]


SUBTABLES = '''\
[[agents]]
name = "a"
command = "true"

[[agents]]
name = "b"
command = "deploy"

[agents.env]
STAGE = "prod"

[agents.secrets]
API_KEY = "env:B_API_KEY"

[[agents]]
name = "c"
command = "check"
'''


def test_remove_agent_with_env_and_secrets_tables_leaves_the_others_unchanged(env: Env) -> None:
    """b's env and secrets written as [agents.env]/[agents.secrets] tables must go with b, never to a."""
    path = env.root / "agentmux.toml"
    path.write_text(SUBTABLES)
    before = config.load(path)
    assert before.agent("b").secrets == {"API_KEY": "env:B_API_KEY"}

    updated = config.remove_agent(before, "b")

    reloaded = config.load(path)
    assert reloaded.names() == updated.names() == ["a", "c"]
    assert reloaded.agent("a") == before.agent("a")
    assert reloaded.agent("a").secrets == {} and reloaded.agent("a").env == {}
    assert reloaded.agent("c") == before.agent("c")
    assert "B_API_KEY" not in path.read_text()


def test_add_then_remove_an_agent_with_env_restores_the_file(env: Env) -> None:
    path = env.root / "agentmux.toml"
    config.write_starter(path)
    spec = AgentSpec(name="api", command="npm test", cwd=env.root, env={"NODE_ENV": "test"},
                     secrets={"TOKEN": "env:API_TOKEN"})

    config.remove_agent(config.add_agent(config.load(path), spec), "api")

    reloaded = config.load(path)
    assert reloaded.names() == ["demo"]
    assert reloaded.agent("demo").env == {} and reloaded.agent("demo").secrets == {}
    assert path.read_text().rstrip("\n") == STARTER.rstrip("\n")


def test_remove_an_unknown_agent_is_refused_and_changes_nothing(env: Env) -> None:
    path = env.root / "agentmux.toml"
    path.write_text(COMMENTED)
    with pytest.raises(AgentmuxError, match="nosuch"):
        config.remove_agent(config.load(path), "nosuch")
    assert path.read_text() == COMMENTED


# --- editing through the CLI -----------------------------------------------------------------------------


def test_cli_add_duplicate_name_exits_2(env: Env) -> None:
    env.write_config()
    first = env.cli("add", "x", "--command", "true")
    assert first.returncode == 0, first.stderr
    after_first = env.config_path.read_text()

    second = env.cli("add", "x", "--command", "true")

    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert_one_line(second.stderr)
    assert "'x'" in second.stderr and "already exists" in second.stderr
    assert env.config_path.read_text() == after_first
    assert config.load(env.config_path).names() == ["x"]


def test_cli_add_with_a_short_cwd_then_ls_lists_it(env: Env) -> None:
    env.write_config()
    added = env.cli("add", "web", "--command", "true", "--cwd", "/tmp")
    assert added.returncode == 0, added.stderr
    assert "Traceback" not in added.stderr

    listed = env.cli("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["web"]
    assert config.load(env.config_path).agent("web").cwd == Path("/tmp")


def test_cli_add_with_env_missing_equals_exits_2(env: Env) -> None:
    path = env.write_config()
    before = path.read_text()
    result = env.cli("add", "x", "--command", "true", "--env", "NOEQUALS")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert "--env" in result.stderr and "NOEQUALS" in result.stderr
    assert path.read_text() == before


@pytest.mark.parametrize(("arguments", "expected"), [
    (["--env", "K=1", "--env", "K=2"], "--env K is given twice"),
    (["--secret", "T=env:A", "--secret", "T=env:B"], "--secret T is given twice"),
    (["--env", "T=1", "--secret", "T=env:A"], "T is given both as --env and as --secret"),
    (["--env", "K\n=1"], "--env 'K\\n=1': 'K\\n' is not a valid environment variable name"),
    (["--secret", "T\n=env:A"], "--secret 'T\\n=env:A': 'T\\n' is not a valid environment variable name"),
    (["--env", "NODE ENV=test"], "'NODE ENV' is not a valid environment variable name"),
], ids=["env-twice", "secret-twice", "env-and-secret", "env-key-newline", "secret-key-newline", "env-key-space"])
def test_cli_add_with_bad_env_or_secret_arguments_exits_2_naming_them(
        env: Env, arguments: list[str], expected: str) -> None:
    path = env.write_config()
    before = path.read_text()
    result = env.cli("add", "x", "--command", "true", *arguments)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert expected in result.stderr
    assert path.read_text() == before


def test_cli_add_with_reserved_env_exits_2_naming_the_key(env: Env) -> None:
    path = env.write_config()
    before = path.read_text()
    result = env.cli("add", "x", "--command", "true", "--env", "AGENTMUX_AGENT=y")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert "AGENTMUX_AGENT" in result.stderr and "set by agentmux itself" in result.stderr
    assert path.read_text() == before


# --- following the file ----------------------------------------------------------------------------------


def test_a_follower_reads_the_file_again_only_when_it_changed(env: Env) -> None:
    from agentmux.config import ConfigFollower

    env.write_config('[[agents]]\nname = "one"\ncommand = "true"\n')
    follower = ConfigFollower(env.load(), every=1.0)
    assert follower.check(10.0) is None, "nothing changed"
    env.write_config('[[agents]]\nname = "one"\ncommand = "true"\n\n[[agents]]\nname = "two"\ncommand = "true"\n')
    assert follower.check(10.5) is None, "looked less than a second ago"
    change = follower.check(11.0)
    assert change is not None and change.config is not None and change.config.names() == ["one", "two"]
    assert follower.check(12.0) is None


def test_a_follower_keeps_the_last_good_config_and_says_why_once(env: Env) -> None:
    from agentmux.config import ConfigFollower

    env.write_config('[[agents]]\nname = "one"\ncommand = "true"\n')
    follower = ConfigFollower(env.load(), every=0.0)
    env.config_path.write_text(env.config_path.read_text() + "[[agents]]\nname = \n")
    change = follower.check(1.0)
    assert change is not None and change.config is None
    assert change.problem is not None and str(env.config_path) in change.problem
    assert "still using the config read before" in change.problem
    assert follower.check(2.0) is None, "said once per edit"
    assert follower.config.names() == ["one"]


def test_a_follower_does_not_move_a_running_process_to_another_socket(env: Env) -> None:
    from agentmux.config import ConfigFollower

    env.write_config()
    follower = ConfigFollower(env.load(), every=0.0)
    env.config_path.write_text(env.config_path.read_text().replace(env.socket, "elsewhere"))
    change = follower.check(1.0)
    assert change is not None and change.config is None and change.problem is not None
    assert "socket changed; it is used after a restart" in change.problem
    assert follower.config.settings.socket == env.socket


def test_init_commands_and_command_too_long_together_are_refused_before_the_start(env: Env) -> None:
    """Each fits, together they pass the limit of one argument: the agent died at once, saying nothing."""
    chunk = "echo " + "x" * 60_000
    env.write_config(f'[[agents]]\nname = "a"\ncommand = "true"\ninit = ["{chunk}", "{chunk}", "{chunk}"]\n')
    result = env.cli("up", "a", "--no-serve")
    assert result.returncode == 1 and "more than a program can be started with" in result.stderr


def test_claude_settings_and_their_defaults(env: Env) -> None:
    env.write_config('[[agents]]\nname = "a"\nkind = "claude"\n\n[[agents]]\nname = "b"\nkind = "claude"\n'
                     'model = "opus"\npermission_mode = "acceptEdits"\nresume = false\n'
                     '[agents.approve]\nallow = ["Bash(ls *)"]\ndeny = ["Bash(rm *)"]\non_deny = "fail"\n')
    a, b = env.load().agents
    assert (a.model, a.permission_mode, a.resume, a.approve) == (None, None, True, None)
    assert (b.model, b.permission_mode, b.resume) == ("opus", "acceptEdits", False)
    assert b.approve is not None and (b.approve.allow, b.approve.deny, b.approve.on_deny) == (
        ("Bash(ls *)",), ("Bash(rm *)",), "fail")
    assert b.to_toml()["approve"] == {"allow": ["Bash(ls *)"], "deny": ["Bash(rm *)"], "on_deny": "fail"}
