"""`agentmux reserve ...` through the real command: outputs, exit codes (0 done, 1 refused, 2 usage), the action
words sharing the position with paths, options in any order."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_one_line
from tests.coord.conftest import Coord
from tests.coord.test_reservations import GIT_ENV, make_repo


def run(coord: Coord, cwd: Path, *args: str, agent: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real agentmux in `cwd`, as agent `agent` (AGENTMUX_AGENT) or as nobody."""
    environ = {**coord.env.environ, **GIT_ENV}
    if agent is not None:
        environ["AGENTMUX_AGENT"] = agent
    return subprocess.run([sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), *args],
                          capture_output=True, text=True, env=environ, cwd=cwd, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_reserve_prints_each_pattern_and_conflicts_exit_1(coord: Coord, repo: Path) -> None:
    done = run(coord, repo, "reserve", "src/parser.py", "docs", "--exclusive", "--reason", "refactoring the parser",
               agent="builder")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"reserved src/parser\.py for builder \(exclusive, until \d\d:\d\d, 60 min left\)", lines[0])
    assert lines[1].startswith("reserved docs/** for builder (exclusive")
    refused = run(coord, repo / "src", "reserve", "parser.py", "lexer.py", agent="tester")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert_one_line(refused.stderr)
    assert re.fullmatch(r"agentmux: nothing reserved: src/parser\.py: reserved by builder \(exclusive, until "
                        r"\d\d:\d\d, (59|60) min left: refactoring the parser\)\n", refused.stderr), refused.stderr
    ls = json.loads(run(coord, repo, "reserve", "ls", "--json").stdout)
    assert [(one["pattern"], one["owner"]) for one in ls] == [("docs/**", "builder"), ("src/parser.py", "builder")]


def test_json_of_reserve_and_of_its_conflicts(coord: Coord, repo: Path) -> None:
    done = run(coord, repo, "reserve", "--json", "src/*.py", "--ttl", "90", "--as", "builder", "--exclusive")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (made,) = out["reserved"]
    assert (made["pattern"], made["owner"], made["mode"], made["exclusive"], out["conflicts"]) == (
        "src/*.py", "builder", "exclusive", True, [])
    assert made["expires_at"] - made["created_at"] == 90
    assert made["root"] == str(repo) and made["project"] == str(repo / ".git")
    refused = run(coord, repo, "reserve", "--json", "src/parser.py", "--as", "tester")
    assert refused.returncode == 1
    out = json.loads(refused.stdout)
    assert out["reserved"] == []
    assert [(c["pattern"], c["reservation"]["owner"], c["reservation"]["pattern"]) for c in out["conflicts"]] == [
        ("src/parser.py", "builder", "src/*.py")]


def test_options_and_paths_in_any_order(coord: Coord, repo: Path) -> None:
    done = run(coord, repo, "reserve", "src/parser.py", "--exclusive", "src/lexer.py", "--ttl", "60", "docs",
               "--as", "builder")
    assert done.returncode == 0, done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["src/parser.py", "src/lexer.py", "docs/**"]
    assert all("exclusive" in line for line in done.stdout.splitlines())


def test_shared_reservations_live_together(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src", agent="reader1").returncode == 0
    done = run(coord, repo, "reserve", "src/parser.py", agent="reader2")
    assert done.returncode == 0, done.stderr
    assert "(shared," in done.stdout
    refused = run(coord, repo, "reserve", "--exclusive", "src/parser.py", agent="writer")
    assert refused.returncode == 1
    assert "reserved by reader1 (shared" in refused.stderr and "reserved by reader2 (shared" in refused.stderr


def test_ls_this_project_or_all(coord: Coord, repo: Path, tmp_path: Path) -> None:
    other = make_repo(tmp_path / "other")
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", "--reason", "big refactor",
               agent="builder").returncode == 0
    assert run(coord, other, "reserve", "docs", agent="writer").returncode == 0
    here = run(coord, repo / "src", "reserve", "ls")
    assert here.returncode == 0
    lines = here.stdout.splitlines()
    assert lines[0] == f"reserved in {repo}:"
    assert lines[1].split() == ["PATTERN", "OWNER", "MODE", "LEFT", "REASON"]
    assert lines[2].split() == ["src/parser.py", "builder", "exclusive", "60", "min", "big", "refactor"] or \
        lines[2].split() == ["src/parser.py", "builder", "exclusive", "59", "min", "big", "refactor"]
    assert len(lines) == 3
    everything = run(coord, repo, "reserve", "ls", "--all").stdout
    assert f"reserved in {repo}:" in everything and f"reserved in {other}:" in everything
    assert "docs/**" in everything and "writer" in everything
    assert len(json.loads(run(coord, repo, "reserve", "ls", "--all", "--json").stdout)) == 2
    empty = tmp_path / "empty"
    make_repo(empty)
    assert run(coord, empty, "reserve", "ls").stdout == f"no files reserved in {empty}\n"


def test_release_and_its_exit_codes(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/parser.py", "src/lexer.py", "docs", agent="builder").returncode == 0
    done = run(coord, repo, "reserve", "release", "src/parser.py", agent="builder")
    assert (done.returncode, done.stdout) == (0, "released src/parser.py (shared)\n")
    again = run(coord, repo, "reserve", "release", "src/parser.py", agent="builder")
    assert again.returncode == 1
    assert_one_line(again.stderr)
    assert "builder held none of src/parser.py here (it holds docs/**, src/lexer.py)" in again.stderr
    assert run(coord, repo, "reserve", "release", "docs", agent="tester").returncode == 1  # not its own
    everything = run(coord, repo, "reserve", "release", "--json", agent="builder")
    assert everything.returncode == 0
    assert sorted(one["pattern"] for one in json.loads(everything.stdout)) == ["docs/**", "src/lexer.py"]
    nothing = run(coord, repo, "reserve", "release", agent="builder")
    assert (nothing.returncode, nothing.stderr) == (1, "agentmux: builder held nothing here\n")


def test_a_file_named_like_an_action(coord: Coord, repo: Path) -> None:
    for name in ("release", "ls"):
        (repo / name).write_text("x")
        done = run(coord, repo, "reserve", f"./{name}", agent="builder")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"reserved {name} for builder")
    done = run(coord, repo, "reserve", "release", "./release", agent="builder")
    assert (done.returncode, done.stdout) == (0, "released release (shared)\n")
    assert "./release" in run(coord, repo, "reserve", "--help").stdout


def test_check(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/*.py", "--exclusive", "--reason", "mine", agent="builder").returncode == 0
    assert run(coord, repo, "reserve", "docs", agent="reader").returncode == 0  # shared: blocks no one
    free = run(coord, repo, "reserve", "check", "docs/guide.md", "README", agent="tester")
    assert (free.returncode, free.stdout, free.stderr) == (0, "", "")
    assert run(coord, repo, "reserve", "check", "src/parser.py", agent="builder").returncode == 0  # its own
    taken = run(coord, repo, "reserve", "check", "src/parser.py", "docs/guide.md", agent="tester")
    assert taken.returncode == 1
    lines = taken.stderr.splitlines()
    assert lines[0] == "agentmux: 1 file touched is reserved exclusively by agents other than tester:"
    assert re.fullmatch(r"  src/parser\.py: reserved by builder \(exclusive, until \d\d:\d\d, \d+ min left: mine\)",
                        lines[1])
    # outside an agent (a person): every agent's exclusive reservation counts
    person = run(coord, repo, "reserve", "check", "--json", "src/parser.py", "src/lexer.py")
    assert person.returncode == 1
    assert [(one["file"], one["reservation"]["owner"]) for one in json.loads(person.stdout)] == [
        ("src/parser.py", "builder"), ("src/lexer.py", "builder")]
    assert "2 files touched are reserved exclusively by agents:" in person.stderr


def test_check_staged_counts_both_names_of_a_rename(coord: Coord, repo: Path) -> None:
    assert run(coord, repo, "reserve", "src/parser.py", "--exclusive", agent="builder").returncode == 0
    assert run(coord, repo, "reserve", "check", "--staged", agent="tester").returncode == 0  # nothing staged
    subprocess.run(["git", "mv", "src/parser.py", "src/grammar.py"], cwd=repo, check=True)
    moved = run(coord, repo / "docs", "reserve", "check", "--staged", agent="tester")
    assert moved.returncode == 1
    assert "src/parser.py: reserved by builder" in moved.stderr
    assert "src/grammar.py" not in moved.stderr
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True)
    # a rename onto a reserved name
    assert run(coord, repo, "reserve", "release", agent="builder").returncode == 0
    assert run(coord, repo, "reserve", "src/grammar.py", "--exclusive", agent="builder").returncode == 0
    subprocess.run(["git", "mv", "src/lexer.py", "src/grammar.py"], cwd=repo, check=True)
    onto = run(coord, repo, "reserve", "check", "--staged", agent="tester")
    assert onto.returncode == 1
    assert "src/grammar.py: reserved by builder" in onto.stderr
    # a deleted file, and one only added
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True)
    subprocess.run(["git", "rm", "-q", "src/grammar.py"], cwd=repo, check=False)
    (repo / "src" / "grammar.py").write_text("new\n")
    subprocess.run(["git", "add", "src/grammar.py"], cwd=repo, check=True)
    assert run(coord, repo, "reserve", "check", "--staged", agent="tester").returncode == 1


def test_check_staged_before_the_first_commit(coord: Coord, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=fresh, check=True)
    (fresh / "a.py").write_text("x")
    subprocess.run(["git", "add", "a.py"], cwd=fresh, check=True)
    assert run(coord, fresh, "reserve", "a.py", "--exclusive", agent="builder").returncode == 0
    done = run(coord, fresh, "reserve", "check", "--staged", agent="tester")
    assert done.returncode == 1, done.stderr
    assert "a.py: reserved by builder" in done.stderr


@pytest.mark.parametrize("args", [
    ["reserve", "../outside", "--as", "a"], ["reserve", "src", "--ttl", "0", "--as", "a"],
    ["reserve", "src", "--ttl", "604801", "--as", "a"], ["reserve", "src", "--ttl", "-5", "--as", "a"],
    ["reserve", "src", "--ttl", "soon", "--as", "a"], ["reserve", "src"], ["reserve"],
    ["reserve", "src", "--as", "bad name"], ["reserve", "ls", "src"], ["reserve", "ls", "--exclusive"],
    ["reserve", "src", "--all", "--as", "a"], ["reserve", "release", "--ttl", "5", "--as", "a"],
    ["reserve", "check"], ["reserve", "check", "--force", "x"], ["reserve", "guard"], ["reserve", "guard", "wipe"],
    ["reserve", "guard", "uninstall", "--force"], ["reserve", "release"], ["reserve", "src", "--bogus", "--as", "a"],
])
def test_usage_errors_exit_2(coord: Coord, repo: Path, args: list[str]) -> None:
    done = run(coord, repo, *args)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert_one_line(done.stderr)
    assert "Traceback" not in done.stderr
    assert run(coord, repo, "reserve", "ls", "--all", "--json").stdout.strip() == "[]"


def test_bad_path_is_named_and_the_ttl_bounds(coord: Coord, repo: Path) -> None:
    outside = run(coord, repo, "reserve", "src", "../elsewhere/x", "--as", "a")
    assert "../elsewhere/x: outside the project" in outside.stderr
    ttl = run(coord, repo, "reserve", "src", "--ttl", "0", "--as", "a")
    assert "--ttl 0: a reservation lasts more than 0 and at most 604800 seconds" in ttl.stderr
    assert run(coord, repo, "reserve", "src", "--ttl", "604800", "--as", "a").returncode == 0


def test_outside_git(coord: Coord, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = run(coord, plain, "reserve", "notes.txt", "--exclusive", agent="builder")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"reserved {plain}/notes.txt for builder")
    listed = run(coord, plain, "reserve", "ls").stdout
    assert listed.startswith("reserved in files outside git (absolute paths):")
    assert run(coord, tmp_path, "reserve", "check", "plain/notes.txt", agent="tester").returncode == 1
    staged = run(coord, plain, "reserve", "check", "--staged", agent="tester")
    assert staged.returncode == 2 and "not in a git worktree" in staged.stderr
