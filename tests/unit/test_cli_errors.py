"""The CLI's contract for mistakes: usage errors exit 2 in one line, failed operations exit 1 naming why.

No test here starts a tmux server: every command either fails before touching tmux or only asks the
test's private socket (under the env fixture's own TMUX_TMPDIR) whether a server runs.
"""

from __future__ import annotations

import json
import shutil

import pytest

from agentmux import __version__
from agentmux import config as config_module
from tests.conftest import Env, assert_one_line

USAGE_ERRORS = [
    pytest.param(("frobnicate",), "invalid choice", id="unknown-subcommand"),
    pytest.param(("restart",), "required", id="restart-without-name"),
    pytest.param(("rm",), "required", id="rm-without-name"),
    pytest.param(("add",), "required", id="add-without-name"),
    pytest.param(("attach",), "required", id="attach-without-name"),
    pytest.param(("send",), "required", id="send-without-anything"),
    pytest.param(("send", "worker"), "send needs NAME and TEXT", id="send-with-only-a-name"),
    pytest.param(("ls", "--bogus"), "unrecognized arguments", id="unknown-option"),
    pytest.param(("serve", "--interval", "soon"), "invalid float value", id="bad-option-value"),
]


@pytest.mark.parametrize(("args", "fragment"), USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(env: Env, args: tuple[str, ...], fragment: str) -> None:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "true"\n')
    result = env.cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert result.stderr.startswith("agentmux: ")
    assert fragment in result.stderr
    env.assert_no_tmux_server()


@pytest.mark.parametrize("args", [("up", "nosuch"), ("restart", "nosuch"), ("rm", "nosuch"), ("down", "nosuch")],
                         ids=lambda args: "-".join(args))
def test_operating_on_an_unknown_agent_exits_2_naming_it(env: Env, args: tuple[str, ...]) -> None:
    path = env.write_config('[[agents]]\nname = "worker"\ncommand = "true"\n')
    before = path.read_text()
    result = env.cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert "'nosuch'" in result.stderr
    assert path.read_text() == before
    env.assert_no_tmux_server()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_lists_the_commands(env: Env, flag: str) -> None:
    result = env.cli(flag)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: agentmux")
    for command in ("init", "up", "down", "restart", "add", "rm", "ls", "send", "attach", "serve", "doctor"):
        assert command in result.stdout


def test_subcommand_help_exits_0(env: Env) -> None:
    result = env.cli("add", "--help")
    assert result.returncode == 0, result.stderr
    assert "--command" in result.stdout and "--env" in result.stdout


def test_version_exits_0(env: Env) -> None:
    result = env.cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"agentmux {__version__}"


def test_init_writes_the_starter_and_refuses_to_overwrite_without_force(env: Env) -> None:
    first = env.cli("init")
    assert first.returncode == 0, first.stderr
    assert str(env.config_path) in first.stdout
    assert env.config_path.read_text() == config_module.STARTER

    env.config_path.write_text(config_module.STARTER + "\n# my own notes\n")
    again = env.cli("init")
    assert again.returncode == 1
    assert "Traceback" not in again.stderr
    assert_one_line(again.stderr)
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert env.config_path.read_text().endswith("# my own notes\n"), "the user's file must be left alone"

    forced = env.cli("init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert env.config_path.read_text() == config_module.STARTER


def test_init_creates_missing_folders(env: Env) -> None:
    target = env.root / "deep" / "er" / "fleet.toml"
    result = env.cli("--config", str(target), "init")  # the last --config wins
    assert result.returncode == 0, result.stderr
    assert target.read_text() == config_module.STARTER


def test_ls_json_on_an_empty_config_prints_an_empty_list(env: Env) -> None:
    env.write_config()
    result = env.cli("ls", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert result.stdout.strip() == "[]"
    env.assert_no_tmux_server()


def test_ls_on_an_empty_config_says_how_to_add_one(env: Env) -> None:
    env.write_config()
    result = env.cli("ls")
    assert result.returncode == 0, result.stderr
    assert "no agents" in result.stdout and "agentmux add" in result.stdout


def test_up_with_no_agents_says_so_and_starts_nothing(env: Env) -> None:
    env.write_config()
    result = env.cli("up")
    assert result.returncode == 0, result.stderr
    assert "no agents to start" in result.stdout
    env.assert_no_tmux_server()


def test_doctor_checks_and_starts_no_tmux_server(env: Env) -> None:
    env.write_config()
    result = env.cli("doctor")
    assert "Traceback" not in result.stderr
    ok_lines = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert any("config" in line for line in ok_lines), result.stdout
    assert any("store" in line and "journal wal" in line for line in ok_lines), result.stdout
    if shutil.which("tmux"):
        assert result.returncode == 0, result.stdout
        assert any("tmux found" in line for line in ok_lines), result.stdout
        assert any("no tmux server running" in line for line in ok_lines), result.stdout
        assert "all checks passed" in result.stdout
    else:
        assert result.returncode == 1
    env.assert_no_tmux_server()


def test_doctor_reports_an_invalid_config_with_exit_1(env: Env) -> None:
    env.write_config('[[agents]]\nname = "a"\ncommand = "true"\nautostart = "yes"\n')
    result = env.cli("doctor")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert any(line.startswith("FAIL") and "autostart" in line for line in result.stdout.splitlines())
