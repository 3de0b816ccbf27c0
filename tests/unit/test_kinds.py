"""Agent kinds: the start script a pane runs (executed for real with /bin/sh, no tmux) and kind validation."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agentmux.agents.detectors import detect_command, detect_demo
from agentmux.agents.kinds import KINDS, AgentKind, DemoKind, kind_of
from agentmux.config import AgentSpec
from agentmux.config.kinds import KIND_RULES

APP_DIR = Path(__file__).parents[2] / "app"
TIMEOUT = 30

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="start scripts are POSIX sh")


def _default_sigint() -> None:
    """Give the script the Ctrl-C disposition a tmux pane has, even if pytest runs with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def run_script(
    cwd: Path, command: str, init: tuple[str, ...] = (), kind: str = "command", stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run the start script of an agent exactly as its pane would: `/bin/sh -c SCRIPT` in the agent's cwd."""
    spec = AgentSpec(name="tester", kind=kind, command=command, cwd=cwd, init=init)
    script = kind_of(kind).start_script(spec)
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APP_DIR), environ.get("PYTHONPATH")]))
    environ["PYTHONIOENCODING"] = "utf-8"
    environ.pop("GREETING", None)
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd=cwd, env=environ, input=stdin, capture_output=True, text=True,
        encoding="utf-8", timeout=TIMEOUT, preexec_fn=_default_sigint,
    )


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- init commands ---------------------------------------------------------------------------------------


def test_init_commands_run_in_order_before_the_program(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        "sh -c 'echo program >> log.txt'",
        init=("echo first > log.txt", "echo second >> log.txt", "echo third >> log.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "log.txt").read_text().splitlines() == ["first", "second", "third", "program"]


def test_each_init_command_is_announced(tmp_path: Path) -> None:
    result = run_script(tmp_path, "true", init=("true", "echo hello"))
    assert "[agentmux] init: true" in result.stdout
    assert "[agentmux] init: echo hello" in result.stdout
    assert "hello" in lines(result.stdout)


@pytest.mark.parametrize("program", ["sh -c 'printf \"%s\\n\" \"$GREETING\" > here.txt'",
                                     "printf '%s\\n' \"$GREETING\" > here.txt; true"])
def test_export_and_cd_in_init_carry_over_to_the_program(tmp_path: Path, program: str) -> None:
    result = run_script(tmp_path, program, init=("export GREETING='hello there'", "mkdir work", "cd work"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "work" / "here.txt").read_text() == "hello there\n"
    assert not (tmp_path / "here.txt").exists()


def test_dot_sourcing_a_file_in_init_carries_over(tmp_path: Path) -> None:
    (tmp_path / "activate").write_text("export VENV_ACTIVE=yes\nPATH=\"$PWD/bin:$PATH\"\n")
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "mytool"
    tool.write_text('#!/bin/sh\necho "mytool sees VENV_ACTIVE=$VENV_ACTIVE"\n')
    tool.chmod(0o755)
    result = run_script(tmp_path, "mytool", init=(". ./activate",))
    assert result.returncode == 0, result.stderr
    assert "mytool sees VENV_ACTIVE=yes" in lines(result.stdout)


def test_a_failing_init_stops_the_start_with_its_status_and_says_so(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        "touch program-ran",
        init=("echo ok > first.txt", "sh -c 'exit 3'", "touch later-init-ran"),
    )
    assert result.returncode == 3
    assert "[agentmux] init command failed with status 3: sh -c 'exit 3'" in lines(result.stdout)
    assert (tmp_path / "first.txt").exists()
    assert not (tmp_path / "later-init-ran").exists()
    assert not (tmp_path / "program-ran").exists()


def test_a_missing_init_program_fails_the_start_with_status_127(tmp_path: Path) -> None:
    result = run_script(tmp_path, "touch program-ran", init=("no-such-command-agentmux-xyz --flag",))
    assert result.returncode == 127
    assert "[agentmux] init command failed with status 127: no-such-command-agentmux-xyz --flag" in result.stdout
    assert not (tmp_path / "program-ran").exists()


def test_a_failing_cd_in_init_stops_the_start(tmp_path: Path) -> None:
    result = run_script(tmp_path, "touch program-ran", init=("cd does-not-exist",))
    assert result.returncode != 0
    assert f"[agentmux] init command failed with status {result.returncode}: cd does-not-exist" in result.stdout
    assert not (tmp_path / "program-ran").exists()


def test_an_init_ending_in_a_comment_still_checks_its_status(tmp_path: Path) -> None:
    result = run_script(tmp_path, "touch program-ran", init=("false  # this fails",))
    assert result.returncode == 1
    assert "[agentmux] init command failed with status 1: false  # this fails" in result.stdout
    assert not (tmp_path / "program-ran").exists()


# --- the program ---------------------------------------------------------------------------------------


def test_a_simple_programs_exit_status_is_the_scripts(tmp_path: Path) -> None:
    assert run_script(tmp_path, "sh -c 'exit 7'").returncode == 7
    assert run_script(tmp_path, "true").returncode == 0


def test_a_simple_program_killed_by_a_signal_kills_the_script_with_that_signal(tmp_path: Path) -> None:
    result = run_script(tmp_path, "sh -c 'kill -TERM $$'", init=("true",))
    assert result.returncode == -signal.SIGTERM


def test_a_simple_program_does_not_inherit_the_shells_ctrl_c_trap(tmp_path: Path) -> None:
    # Ctrl-C is how agents are asked to stop: the program must die of it, not run a leftover no-op handler.
    result = run_script(tmp_path, "sh -c 'kill -INT $$'")
    assert result.returncode == -signal.SIGINT


@pytest.mark.parametrize(
    ("program", "status"),
    [
        ("true && sh -c 'exit 4'", 4),
        ("echo a > a.txt; sh -c 'exit 5'", 5),
        ("false || sh -c 'exit 6'", 6),
        ("echo a | sh -c 'read x; exit 9'", 9),
        ("FOO=bar sh -c 'exit 8'", 8),
        ("true && true", 0),
    ],
)
def test_a_compound_program_runs_and_its_status_is_the_scripts(tmp_path: Path, program: str, status: int) -> None:
    assert run_script(tmp_path, program).returncode == status


def test_a_compound_program_runs_every_part(tmp_path: Path) -> None:
    result = run_script(tmp_path, "echo one > a.txt && echo two > b.txt; echo three")
    assert result.returncode == 0
    assert (tmp_path / "a.txt").read_text() == "one\n"
    assert (tmp_path / "b.txt").read_text() == "two\n"
    assert "three" in lines(result.stdout)


def test_the_shell_of_a_compound_program_survives_the_ctrl_c_meant_for_the_program(tmp_path: Path) -> None:
    result = run_script(tmp_path, "kill -INT $$; echo survived")
    assert result.returncode == 0
    assert "survived" in lines(result.stdout)


def test_quotes_dollars_and_unicode_survive(tmp_path: Path) -> None:
    text = "it's \"quoted\" $HOME ${X} `cmd` — ✓ ünïcödé 日本"
    init = (f"printf '%s\\n' {shlex.quote(text)} > init.txt", f"export MSG={shlex.quote(text)}")
    result = run_script(tmp_path, "sh -c 'printf \"%s\\n\" \"$MSG\"'", init=init)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "init.txt").read_text(encoding="utf-8") == text + "\n"
    assert text in lines(result.stdout)
    assert f"[agentmux] init: export MSG={shlex.quote(text)}" in result.stdout


def test_a_simple_program_with_quotes_and_unicode_arguments(tmp_path: Path) -> None:
    result = run_script(tmp_path, "printf '%s|%s\\n' 'a b  c' \"$HOME-✓\"")
    assert result.returncode == 0, result.stderr
    assert f"a b  c|{os.environ['HOME']}-✓" in lines(result.stdout)


def test_a_failing_init_with_quotes_is_reported_verbatim(tmp_path: Path) -> None:
    init = "sh -c 'echo \"$0 ✓\" >/dev/null; exit 2' 'x y'"
    result = run_script(tmp_path, "touch program-ran", init=(init,))
    assert result.returncode == 2
    assert f"[agentmux] init command failed with status 2: {init}" in lines(result.stdout)


# --- kinds -----------------------------------------------------------------------------------------------


def test_every_kind_of_the_config_schema_has_a_runtime_kind_and_no_other() -> None:
    assert list(KINDS) == list(KIND_RULES)
    assert kind_of("command").detect is detect_command
    assert kind_of("demo").detect is detect_demo
    assert isinstance(kind_of("demo"), DemoKind)


def test_an_unknown_kind_runs_as_a_plain_command() -> None:
    assert kind_of("nope") is KINDS["command"]


@pytest.mark.parametrize("command", ["", "   ", "\n\t"])
def test_the_command_kind_requires_a_command(tmp_path: Path, command: str) -> None:
    problem = KIND_RULES["command"].problem(AgentSpec(name="a", kind="command", command=command, cwd=tmp_path))
    assert problem is not None
    key, reason = problem
    assert key == "command"
    assert "required" in reason and "command" in reason


def test_the_command_kind_accepts_a_command(tmp_path: Path) -> None:
    assert KIND_RULES["command"].problem(AgentSpec(name="a", command="npm test", cwd=tmp_path)) is None


def test_the_demo_kind_needs_no_command(tmp_path: Path) -> None:
    assert KIND_RULES["demo"].problem(AgentSpec(name="a", kind="demo", cwd=tmp_path)) is None


@pytest.mark.parametrize(("command", "reason"), [
    ("--speed -1", "the demo agent refuses these options: argument --speed: must be a finite number >= 0: '-1'"),
    ("--ask-rate 2", "argument --ask-rate: must be between 0 and 1: '2'"),
    ("--seed x", "argument --seed: invalid int value: 'x'"),
    ("--speed", "argument --speed: expected one argument"),
    ("--bogus 1", "unrecognized arguments: --bogus 1"),
    ("--help", "-h/--help prints the options instead of starting the agent"),
    ("--speed 'unclosed", "cannot be split into demo options: No closing quotation"),
], ids=["negative-speed", "rate-above-1", "seed-not-int", "missing-value", "unknown-option", "help", "bad-quote"])
def test_the_demo_kind_refuses_options_the_demo_agent_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, reason: str) -> None:
    """Checked with the demo's own parser, which must neither print its usage nor exit."""
    problem = KIND_RULES["demo"].problem(AgentSpec(name="a", kind="demo", command=command, cwd=tmp_path))
    assert problem is not None
    assert problem[0] == "command" and reason in problem[1]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("command", ["", "--speed 0 --seed 1", "--speed 0.5 --autopilot 2 # fast, no questions",
                                     "--trace '/tmp/a b.trace' --ask-rate 0 --fail-rate 1", "--name other"])
def test_the_demo_kind_accepts_options_the_demo_agent_takes(tmp_path: Path, command: str) -> None:
    assert KIND_RULES["demo"].problem(AgentSpec(name="a", kind="demo", command=command, cwd=tmp_path)) is None


def test_the_demo_program_runs_the_demo_module_with_its_name_and_extra_options(tmp_path: Path) -> None:
    kind: AgentKind = kind_of("demo")
    plain = shlex.split(kind.program(AgentSpec(name="alpha", kind="demo", cwd=tmp_path)))
    assert plain == [sys.executable, "-m", "agentmux.demo", "--name", "alpha"]
    spec = AgentSpec(name="alpha", kind="demo", command="--speed 0.5 --seed 3", cwd=tmp_path)
    assert shlex.split(kind.program(spec)) == [
        sys.executable, "-m", "agentmux.demo", "--name", "alpha", "--speed", "0.5", "--seed", "3",
    ]


def test_the_demo_start_script_runs_the_demo_agent(tmp_path: Path) -> None:
    result = run_script(tmp_path, "--speed 0 --seed 1", kind="demo", stdin="echo héllo ✓\nexit\n")
    assert result.returncode == 0, result.stderr
    assert "demo agent tester ready" in result.stdout
    assert "héllo ✓" in result.stdout
    assert result.stdout.rstrip().endswith("bye")


def test_the_demo_start_script_runs_init_first(tmp_path: Path) -> None:
    result = run_script(tmp_path, "--speed 0", kind="demo", init=("sh -c 'exit 5'",), stdin="exit\n")
    assert result.returncode == 5
    assert "demo agent" not in result.stdout


def test_a_task_succeeds_or_fails_by_what_each_kind_printed() -> None:
    demo, shell = kind_of("demo"), kind_of("shell")
    assert demo.outcome(["● Reading src/app.py", "✓ done: fix it"]) == (True, "done")
    assert demo.outcome(["● Reading src/app.py", "✗ error: merge conflict"]) == (False, "✗ error: merge conflict")
    assert demo.outcome(["● Waiting 30s", "^C cancelled"])[0] is False, "an interrupted task did not succeed"
    assert shell.outcome(["one", "[0] $ "]) == (True, "exit status 0")
    assert shell.outcome(["ls: cannot access", "[2] $ "]) == (False, "exit status 2")
    assert shell.outcome(["no prompt"])[0] is False


def test_a_claude_agent_starts_with_its_model_permission_mode_settings_and_session(tmp_path: Path) -> None:
    from agentmux.config.model import ApprovalPolicy

    claude = KINDS["claude"]
    spec = AgentSpec(name="cc", kind="claude", command="/opt/claude --verbose", model="opus 4",
                     permission_mode="acceptEdits", approve=ApprovalPolicy(allow=("Read",)))
    program = claude.program(spec)
    assert program.startswith("exec /opt/claude --verbose --model 'opus 4' --permission-mode acceptEdits "
                              '--settings "$AGENTMUX_HOME"/claude/cc/settings.json'), program
    claude.prepare(spec, tmp_path)
    folder = tmp_path / "claude" / "cc"
    settings = json.loads((folder / "settings.json").read_text())
    asks = settings["hooks"]["PermissionRequest"][0]["hooks"][0]
    assert asks["timeout"] > 3600 and asks["command"].endswith(" PermissionRequest")  # it waits for the user
    assert json.loads((folder / "policy.json").read_text()) == {"allow": ["Read"], "deny": [], "on_deny": "ask",
                                                                "cwd": str(spec.cwd)}
    assert (folder / "session-args").read_text().split()[0] == "--session-id"
    claude.prepare(replace(spec, approve=None), tmp_path)
    assert not (folder / "policy.json").exists()  # no policy: the user answers


def test_a_claude_agent_resumes_its_session_unless_told_to_start_fresh(tmp_path: Path) -> None:
    claude = KINDS["claude"]
    folder = tmp_path / "claude" / "cc"
    folder.mkdir(parents=True)
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("{}\n")
    session = "0b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
    (folder / "session").write_text(json.dumps({"session_id": session, "transcript_path": str(transcript)}))
    claude.prepare(AgentSpec(name="cc", kind="claude"), tmp_path)
    assert (folder / "session-args").read_text().split() == ["--resume", session]
    claude.prepare(AgentSpec(name="cc", kind="claude", resume=False), tmp_path)
    fresh = (folder / "session-args").read_text().split()
    assert fresh[0] == "--session-id" and fresh[1] != session
    transcript.unlink()  # its transcript gone: a new session
    claude.prepare(AgentSpec(name="cc", kind="claude"), tmp_path)
    assert (folder / "session-args").read_text().split()[0] == "--session-id"
