"""The pre-commit guard end to end with real git: `agentmux reserve guard install`, commits refused or let through
by what others reserve, worktrees sharing one hook, core.hooksPath, a hook that is not agentmux's, the config gone,
uninstall."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from agentmux.coord.reservations import BACKUP_SUFFIX, GUARD_MARK
from tests.coord.conftest import Coord
from tests.coord.test_reservations import GIT_ENV, make_repo
from tests.coord.test_reserve_cli import run

NO_VERIFY_HINT = "(git commit --no-verify skips this check)"


def commit(coord: Coord, cwd: Path, *args: str, agent: str | None = None,
           message: str = "change") -> subprocess.CompletedProcess[str]:
    """`git commit -m MESSAGE ARGS...` in `cwd`, in the environment of agent `agent` (or of a person)."""
    environ = {**coord.env.environ, **GIT_ENV}
    environ.pop("AGENTMUX_AGENT", None)
    if agent is not None:
        environ["AGENTMUX_AGENT"] = agent
    return subprocess.run(["git", "commit", "-q", "-m", message, *args], cwd=cwd, capture_output=True, text=True,
                          env=environ, timeout=120)


def edit(repo: Path, name: str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.read_text() + "more\n" if path.exists() else "new\n")
    subprocess.run(["git", "add", name], cwd=repo, check=True)


def head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(coord: Coord, tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo")
    done = run(coord, path, "reserve", "guard", "install")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"installed {path}/.git/hooks/pre-commit: a commit touching files others reserve "
                           "exclusively is refused\n")
    return path


def test_a_commit_touching_anothers_exclusive_reservation_is_refused(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", "--reason", "refactoring the parser",
               agent="builder").returncode == 0
    before = head(repo)
    edit(repo, "src/parser.py")
    edit(repo, "docs/guide.md")
    refused = commit(coord, repo, agent="tester")
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.splitlines()
    assert lines[0] == "agentmux: 1 file touched is reserved exclusively by agents other than tester:"
    assert re.fullmatch(r"  src/parser\.py: reserved by builder \(exclusive, until \d\d:\d\d, (59|60) min left: "
                        r"refactoring the parser\)", lines[1]), lines
    assert lines[-1] == NO_VERIFY_HINT
    assert head(repo) == before
    # a person (no AGENTMUX_AGENT) is kept off too
    person = commit(coord, repo)
    assert person.returncode == 1 and "reserved by builder" in person.stderr
    # the owner's own commit passes
    own = commit(coord, repo, agent="builder")
    assert own.returncode == 0, own.stderr
    assert head(repo) != before


def test_no_verify_skips_it(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/lexer.py")
    assert commit(coord, repo, agent="tester").returncode == 1
    assert commit(coord, repo, "--no-verify", agent="tester").returncode == 0


def test_shared_reservations_and_files_not_reserved_pass(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src", agent="reader").returncode == 0
    assert run(coord, repo, "reserve", "docs/*.txt", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/parser.py")
    edit(repo, "docs/guide.md")
    done = commit(coord, repo, agent="tester")
    assert (done.returncode, done.stderr) == (0, "")


def test_what_commit_a_and_commit_file_touch_counts(coord: Coord, repo: Path) -> None:
    """The hook reads git's own index for the commit (GIT_INDEX_FILE), not only what was staged before."""
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    (repo / "src" / "parser.py").write_text("changed, not staged\n")
    assert commit(coord, repo, "-a", agent="tester").returncode == 1
    assert commit(coord, repo, "src/parser.py", agent="tester").returncode == 1
    edit(repo, "docs/guide.md")
    done = commit(coord, repo, "docs/guide.md", agent="tester")  # only that file: the guard lets it go
    assert done.returncode == 0, done.stderr


def test_a_rename_of_a_reserved_file_is_refused(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    subprocess.run(["git", "mv", "src/parser.py", "src/grammar.py"], cwd=repo, check=True)
    refused = commit(coord, repo, agent="tester")
    assert refused.returncode == 1
    assert "src/parser.py: reserved by builder" in refused.stderr


def test_an_ended_reservation_no_longer_blocks(coord: Coord, repo: Path) -> None:
    coord.store.mark_started("builder", "command", "builder", None, None, 1000.0)
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/parser.py")
    assert commit(coord, repo, agent="tester").returncode == 1
    from agentmux.state import AgentState

    coord.store.set_state("builder", AgentState.EXITED, "exit 0")
    done = commit(coord, repo, agent="tester")
    assert done.returncode == 0, done.stderr


def test_every_worktree_of_the_repo_is_guarded(coord: Coord, repo: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    subprocess.run(["git", "worktree", "add", "-q", "-b", "feature", str(second)], cwd=repo, check=True,
                   env={**os.environ, **GIT_ENV})
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    edit(second, "src/parser.py")
    refused = commit(coord, second, agent="tester")
    assert refused.returncode == 1
    assert "src/parser.py: reserved by builder" in refused.stderr
    # the builder, in the other worktree, commits it
    assert commit(coord, second, agent="builder").returncode == 0


def test_core_hooks_path_is_honoured(coord: Coord, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "hooked")
    subprocess.run(["git", "config", "core.hooksPath", "githooks"], cwd=repo, check=True)
    done = run(coord, repo / "src", "reserve", "guard", "install")
    assert done.returncode == 0, done.stderr
    hook = repo / "githooks" / "pre-commit"  # relative to the worktree's top, where git runs hooks
    assert hook.exists() and GUARD_MARK in hook.read_text()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/parser.py")
    assert commit(coord, repo, agent="tester").returncode == 1


def test_a_hook_agentmux_did_not_write_is_left_alone(coord: Coord, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "theirs")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho their hook >&2\nexit 0\n")
    hook.chmod(0o755)
    refused = run(coord, repo, "reserve", "guard", "install")
    assert refused.returncode == 1
    assert f"guard: {hook} is a pre-commit hook agentmux did not write; left alone (--force moves it" in \
        refused.stderr
    assert hook.read_text().startswith("#!/bin/sh\necho their hook")
    assert run(coord, repo, "reserve", "guard", "uninstall").returncode == 1
    assert hook.read_text().startswith("#!/bin/sh\necho their hook")
    forced = run(coord, repo, "reserve", "guard", "install", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"moved the pre-commit hook that was there to {hook}{BACKUP_SUFFIX}" in forced.stdout
    assert GUARD_MARK in hook.read_text()
    # installing again over its own hook needs no --force
    assert run(coord, repo, "reserve", "guard", "install").returncode == 0
    removed = run(coord, repo, "reserve", "guard", "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert "the hook that was there before is back" in removed.stdout
    assert hook.read_text().startswith("#!/bin/sh\necho their hook")


def test_uninstall(coord: Coord, repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert hook.exists()
    done = run(coord, repo, "reserve", "guard", "uninstall")
    assert (done.returncode, done.stdout) == (0, f"removed {hook}\n")
    assert not hook.exists()
    again = run(coord, repo, "reserve", "guard", "uninstall")
    assert (again.returncode, again.stdout) == (0, f"no pre-commit hook at {hook}: nothing to remove\n")
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/parser.py")
    assert commit(coord, repo, agent="tester").returncode == 0
    outside = run(coord, repo.parent, "reserve", "guard", "install")
    assert outside.returncode == 1 and "is not in a git repository" in outside.stderr


def test_without_the_store_the_commit_goes_through_with_a_warning(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    edit(repo, "src/parser.py")
    coord.env.config_path.rename(coord.env.config_path.with_suffix(".gone"))
    done = commit(coord, repo, agent="tester")
    assert done.returncode == 0, done.stderr
    assert f"agentmux: pre-commit: the config {coord.env.config_path} is gone: reservations not checked" in \
        done.stderr
    # a config that no longer loads: agentmux fails, the hook warns and lets the commit go
    coord.env.config_path.write_text("this is not toml [\n")
    edit(repo, "src/parser.py")
    broken = commit(coord, repo, agent="tester")
    assert broken.returncode == 0, broken.stderr
    assert "agentmux: pre-commit: could not check the reservations (exit 2): commit not checked" in broken.stderr
