"""File reservations through the API (coord/reservations.py) on a real store, real git repositories and worktrees
in temp dirs, and real processes racing; the glob overlap (coord/globs.py) checked against brute force."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmux.coord import globs
from agentmux.coord.reservations import DEFAULT_TTL, MAX_TTL, Conflict, Reservations, pattern_of, project_of
from agentmux.errors import UsageError
from agentmux.state import AgentState
from tests.coord.conftest import Coord

GIT_ENV = {"GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "tester@example.com", "GIT_COMMITTER_NAME": "Tester",
           "GIT_COMMITTER_EMAIL": "tester@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={**os.environ, **GIT_ENV})
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_repo(path: Path, files: tuple[str, ...] = ("src/parser.py", "src/lexer.py", "docs/guide.md")) -> Path:
    """A git repository with one commit holding `files`."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(f"{name}\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "start")
    return path


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def res(coord: Coord, clock: Clock) -> Reservations:
    return Reservations(coord.store, coord.state_dir, clock)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


# --- who keeps whom off ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("first", "second", "refused"), [
    (True, True, True), (True, False, True), (False, True, True), (False, False, False)])
def test_exclusive_and_shared(res: Reservations, repo: Path, first: bool, second: bool, refused: bool) -> None:
    res.reserve("builder", ["src/parser.py"], repo, exclusive=first)
    if refused:
        with pytest.raises(Conflict) as caught:
            res.reserve("tester", ["src/parser.py"], repo, exclusive=second)
        assert [(what, held.owner) for what, held in caught.value.conflicts] == [("src/parser.py", "builder")]
        assert caught.value.exit_code == 1
    else:
        res.reserve("tester", ["src/parser.py"], repo, exclusive=second)
    assert len(res.ls(cwd=repo)) == (1 if refused else 2)


def test_the_message_says_who_what_until_when_and_why(res: Reservations, repo: Path, clock: Clock) -> None:
    res.reserve("builder", ["src/parser.py"], repo, exclusive=True, ttl=38 * 60 + 10, reason="refactoring the parser")
    with pytest.raises(Conflict) as caught:
        res.reserve("tester", ["src/parser.py"], repo)
    assert re.fullmatch(r"nothing reserved: src/parser\.py: reserved by builder \(exclusive, until \d\d:\d\d, "
                        r"38 min left: refactoring the parser\)", str(caught.value)), str(caught.value)


def test_globs_against_files(res: Reservations, repo: Path) -> None:
    res.reserve("builder", ["src/*.py"], repo, exclusive=True)
    for taken in ("src/parser.py", "src/new.py", "**/parser.py", "src/p*", "src/**", "**"):
        with pytest.raises(Conflict):
            res.reserve("tester", [taken], repo)
    for free in ("src/parser.txt", "src/sub/parser.py", "docs/*.py", "lib/**/parser.py"):
        res.reserve("tester", [free], repo, exclusive=True)
    assert {r.pattern for r in res.ls(owner="tester")} == {"src/parser.txt", "src/sub/parser.py", "docs/*.py",
                                                           "lib/**/parser.py"}


def test_a_directory_is_everything_under_it(res: Reservations, repo: Path) -> None:
    (made,) = res.reserve("builder", ["src"], repo, exclusive=True)
    assert made.pattern == "src/**"
    (repo / "src" / "deep" / "er").mkdir(parents=True)
    for taken in ("src/parser.py", "src/deep/er/new.py", "src/deep"):
        with pytest.raises(Conflict):
            res.reserve("tester", [taken], repo)
    res.reserve("tester", ["docs", "srcs.py"], repo, exclusive=True)
    # a directory that does not exist yet is one when written with a trailing /
    assert [r.pattern for r in res.reserve("tester", ["build/"], repo)] == ["build/**"]
    # the worktree's top level itself: everything
    assert pattern_of(".", repo / "docs" / "..", str(repo)) == pattern_of(str(repo), Path("/"), str(repo)) == "**"


def test_paths_are_relative_to_the_worktree_top_wherever_given(res: Reservations, repo: Path) -> None:
    (made,) = res.reserve("builder", ["parser.py"], repo / "src", exclusive=True)
    assert made.pattern == "src/parser.py"
    assert made.root == str(repo)
    assert made.project == str(repo / ".git")
    (other,) = res.reserve("builder", [str(repo / "docs" / "guide.md")], repo / "src")
    assert other.pattern == "docs/guide.md"
    with pytest.raises(Conflict):
        res.reserve("tester", ["../src/./parser.py"], repo / "docs")


def test_a_file_whose_name_holds_wildcards_is_that_file(res: Reservations, repo: Path) -> None:
    (repo / "a[1].txt").write_text("x")
    (repo / "a1.txt").write_text("x")
    (made,) = res.reserve("builder", ["a[1].txt"], repo, exclusive=True)
    assert globs.matches("a[1].txt", made.pattern) and not globs.matches("a1.txt", made.pattern)
    res.reserve("tester", ["a1.txt"], repo, exclusive=True)
    assert [(what, r.owner) for what, r in res.conflicts("tester", ["a[1].txt", "a1.txt"], repo)] == [
        ("a[1].txt", "builder")]


def test_all_or_nothing(res: Reservations, repo: Path) -> None:
    res.reserve("builder", ["src/parser.py"], repo, exclusive=True)
    res.reserve("reviewer", ["src/lexer.py"], repo)
    with pytest.raises(Conflict) as caught:
        res.reserve("tester", ["docs/guide.md", "src/parser.py", "src/*"], repo, exclusive=True)
    pairs = sorted((what, held.owner) for what, held in caught.value.conflicts)
    assert pairs == [("src/*", "builder"), ("src/*", "reviewer"), ("src/parser.py", "builder")]
    assert "docs/guide.md" not in str(caught.value)
    assert res.ls(owner="tester") == []  # docs/guide.md, free, was not reserved either


def test_the_same_owner_again_replaces_its_reservation(res: Reservations, repo: Path, clock: Clock) -> None:
    (first,) = res.reserve("builder", ["src/parser.py"], repo, ttl=100)
    clock.now += 50
    (second,) = res.reserve("builder", ["src/parser.py"], repo, exclusive=True, ttl=200, reason="now for real")
    (only,) = res.ls(cwd=repo)
    assert only == second
    assert (only.exclusive, only.reason, only.expires_at) == (True, "now for real", first.created_at + 250)
    # its own reservations never keep it off: an overlapping one of its own is another reservation
    res.reserve("builder", ["src/*"], repo, exclusive=True)
    assert len(res.ls(owner="builder")) == 2
    # and the same pattern twice in one request is one reservation
    assert len(res.reserve("tester", ["docs/guide.md", "./docs/guide.md"], repo)) == 1


def test_ttl_expiry(res: Reservations, repo: Path, clock: Clock) -> None:
    (made,) = res.reserve("builder", ["src/parser.py"], repo, exclusive=True, ttl=10)
    assert made.expires_at == clock.now + 10
    assert made.to_json(clock.now)["remaining"] == 10
    clock.now += 9.9
    assert res.conflicts("tester", ["src/parser.py"], repo)
    clock.now += 0.1
    assert res.conflicts("tester", ["src/parser.py"], repo) == []
    assert res.ls() == []
    assert res.reap() == 1
    assert res.reap() == 0
    res.reserve("builder", ["src/parser.py"], repo, ttl=10)
    clock.now += 10
    res.reserve("tester", ["src/parser.py"], repo, exclusive=True)  # the ended one was removed first
    assert [r.owner for r in res.ls()] == ["tester"]


def test_the_default_ttl_and_its_bounds(res: Reservations, repo: Path, clock: Clock) -> None:
    (made,) = res.reserve("builder", ["a"], repo)
    assert made.expires_at - made.created_at == DEFAULT_TTL == 3600
    res.reserve("builder", ["b"], repo, ttl=MAX_TTL)
    for bad in (0, -1, MAX_TTL + 1):
        with pytest.raises(UsageError, match="--ttl"):
            res.reserve("builder", ["c"], repo, ttl=bad)


def test_bad_paths_and_names(res: Reservations, repo: Path) -> None:
    with pytest.raises(UsageError, match=r"\.\./x: outside the project"):
        res.reserve("builder", ["src/parser.py", "../x"], repo)
    with pytest.raises(UsageError, match="outside the project"):
        res.reserve("builder", ["/etc/passwd"], repo)
    with pytest.raises(UsageError, match="not a path"):
        res.reserve("builder", [""], repo)
    with pytest.raises(UsageError):
        res.reserve("no spaces", ["a"], repo)
    with pytest.raises(UsageError):
        res.reserve("builder", [], repo)
    assert res.ls() == []


def test_release(res: Reservations, repo: Path, tmp_path: Path) -> None:
    res.reserve("builder", ["src/parser.py", "src/lexer.py", "docs"], repo, exclusive=True)
    elsewhere = make_repo(tmp_path / "elsewhere")
    res.reserve("builder", ["src/parser.py"], elsewhere, exclusive=True)
    res.reserve("tester", ["README"], repo)
    assert [r.pattern for r in res.release("builder", ["parser.py"], repo / "src")] == ["src/parser.py"]
    assert res.release("builder", ["src/parser.py"], repo) == []  # not any more
    assert res.release("builder", ["README"], repo) == []  # not its own
    # a directory reserved as dir/** is released by its name, even once it is gone
    subprocess.run(["rm", "-rf", str(repo / "docs")], check=True)
    assert [r.pattern for r in res.release("builder", ["docs"], repo)] == ["docs/**"]
    res.reserve("tester", ["src/parser.py"], repo, exclusive=True)
    # no paths, a cwd: all of the owner's in that project; the other project's stay
    assert [r.pattern for r in res.release("builder", cwd=repo)] == ["src/lexer.py"]
    assert [(r.owner, r.root) for r in res.ls(owner="builder")] == [("builder", str(elsewhere))]
    assert len(res.release("builder")) == 1  # every project's
    assert res.ls(owner="builder") == []
    assert {r.pattern for r in res.ls(owner="tester")} == {"README", "src/parser.py"}


def test_release_leaves_out_those_that_ended(res: Reservations, repo: Path, clock: Clock) -> None:
    res.reserve("builder", ["a", "b"], repo, ttl=10)
    res.reserve("builder", ["c"], repo, ttl=100)
    clock.now += 20
    assert [r.pattern for r in res.release("builder", cwd=repo)] == ["c"]
    assert res.store.db.execute("SELECT count(*) FROM coord_reservations").fetchone()[0] == 0


def test_an_agent_that_exits_frees_its_reservations(coord: Coord, res: Reservations, repo: Path,
                                                    clock: Clock) -> None:
    coord.store.mark_started("builder", "command", "builder", None, None, clock.now - 5)
    res.reserve("builder", ["src/parser.py"], repo, exclusive=True)
    res.reserve("person", ["docs/guide.md"], repo, exclusive=True)  # no agent of that name: holds until its ttl
    row = coord.store.db.execute("SELECT bound FROM coord_reservations WHERE owner = 'builder'").fetchone()
    assert row[0] == clock.now - 5
    with pytest.raises(Conflict):
        res.reserve("tester", ["src/parser.py"], repo)
    coord.store.set_state("builder", AgentState.EXITED, "exit 0", clock.now)
    assert res.conflicts(None, ["src/parser.py"], repo) == []
    assert [r.owner for r in res.ls()] == ["person"]
    res.reserve("tester", ["src/parser.py"], repo, exclusive=True)
    assert {r.owner for r in res.ls()} == {"person", "tester"}


def test_a_restarted_agent_does_not_keep_what_its_last_run_reserved(coord: Coord, res: Reservations, repo: Path,
                                                                    clock: Clock) -> None:
    coord.store.mark_started("builder", "command", "builder", None, None, clock.now - 5)
    res.reserve("builder", ["src/parser.py"], repo, exclusive=True)
    coord.store.mark_started("builder", "command", "builder", None, None, clock.now, restarts=1)
    assert res.conflicts(None, ["src/parser.py"], repo) == []
    assert res.reap() == 1


def test_conflicts(res: Reservations, repo: Path) -> None:
    res.reserve("builder", ["src/*.py"], repo, exclusive=True)
    res.reserve("reviewer", ["docs/**"], repo)  # shared: keeps nobody's commit off
    assert res.conflicts("builder", ["src/parser.py"], repo) == []  # its own
    found = res.conflicts("tester", ["src/parser.py", "docs/guide.md", "README"], repo)
    assert [(what, r.owner) for what, r in found] == [("src/parser.py", "builder")]
    assert [what for what, _ in res.conflicts(None, ["parser.py"], repo / "src")] == ["src/parser.py"]
    assert [what for what, _ in res.conflicts(None, ["src"], repo)] == ["src/**"]  # a directory: what is under it


def test_worktrees_of_one_repository_are_one_project(res: Reservations, repo: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(second))
    assert project_of(second) == (str(repo / ".git"), str(second))
    assert project_of(repo / "src") == (str(repo / ".git"), str(repo))
    res.reserve("builder", ["src/parser.py"], second, exclusive=True)
    with pytest.raises(Conflict) as caught:
        res.reserve("tester", ["parser.py"], repo / "src")
    assert caught.value.conflicts[0][1].root == str(second)
    assert [r.owner for r in res.ls(cwd=repo)] == ["builder"]
    assert res.conflicts("tester", ["src/parser.py"], repo)
    # another repository is another project
    other = make_repo(tmp_path / "other")
    res.reserve("tester", ["src/parser.py"], other, exclusive=True)
    assert res.ls(cwd=other)[0].owner == "tester"


def test_outside_git_paths_are_absolute(res: Reservations, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "dir").mkdir(parents=True)
    assert project_of(plain) == ("/", "/")
    made = res.reserve("builder", ["notes.txt", "dir", "*.log"], plain, exclusive=True)
    assert [r.pattern for r in made] == [f"{plain}/notes.txt", f"{plain}/dir/**", f"{plain}/*.log"]
    assert {(r.project, r.root) for r in made} == {("/", "/")}
    with pytest.raises(Conflict):
        res.reserve("tester", [str(plain / "dir" / "x")], tmp_path)
    assert [what for what, _ in res.conflicts(None, ["plain/a.log"], tmp_path)] == [f"{plain}/a.log"]


def test_racing_processes_one_wins(coord: Coord, repo: Path) -> None:
    code = """
        import time
        from agentmux.coord.reservations import Conflict, Reservations
        from agentmux.store import Store
        owner, start = sys.argv[1], float(sys.argv[2])
        store = Store(STORE)
        res = Reservations(store, STATE)
        time.sleep(max(0.0, start - time.time()))
        try:
            res.reserve(owner, ["src/parser.py", "src/lexer.py"], Path(sys.argv[3]), exclusive=True)
            print("won")
        except Conflict as exc:
            print("lost", [held.owner for _, held in exc.conflicts])
    """
    start = time.time() + 1.0
    children = [coord.spawn(code, f"agent{index}", str(start), str(repo)) for index in range(6)]
    outputs = [child.communicate(timeout=60) for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    won = [out for out, _ in outputs if out.startswith("won")]
    assert len(won) == 1, outputs
    owners = {r.owner for r in Reservations(coord.store, coord.state_dir).ls()}
    assert len(owners) == 1
    assert all(out.startswith("lost") and repr(sorted(owners)[0]) in out for out, _ in outputs if out not in won)


# --- the overlap, against brute force ----------------------------------------------------------------------

TOKENS = ["a", "b", "*", "?", "[ab]", "[!a]", "[b]"]
segment = st.one_of(st.just("**"), st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3).map("".join))
pattern = st.lists(segment, min_size=1, max_size=3).map("/".join)
NAMES = ["".join(letters) for size in (1, 2, 3) for letters in itertools.product("ab", repeat=size)]
PATHS = ["/".join(parts) for depth in (1, 2, 3) for parts in itertools.product(NAMES, repeat=depth)]


def reference(pattern: str) -> re.Pattern[str]:
    """The pattern as a regular expression, written independently of globs.py."""
    parts = []
    for seg in pattern.split("/"):
        if seg == "**":
            parts.append("(?:[^/]+/)*")
            continue
        text = seg.replace("[!", "[^/").replace("*", "[^/]*").replace("?", "[^/]")
        parts.append(text + "/")
    return re.compile("".join(parts))


@settings(max_examples=100, deadline=None)
@given(pattern)
def test_matches_agrees_with_a_regular_expression(pat: str) -> None:
    expected = reference(pat)
    for path in PATHS:
        assert globs.matches(path, pat) == bool(expected.fullmatch(path + "/")), (path, pat)


@settings(max_examples=300, deadline=None)
@given(pattern, pattern)
def test_overlap_never_misses_a_path_matching_both(one: str, other: str) -> None:
    both = next((path for path in PATHS if globs.matches(path, one) and globs.matches(path, other)), None)
    if both is not None:
        assert globs.overlap(one, other), f"{one!r} and {other!r} both match {both!r}"
    assert globs.overlap(one, other) == globs.overlap(other, one)


@st.composite
def path_and_two_covers(draw: st.DrawFn) -> tuple[str, str, str]:
    """A path with long names, and two patterns each made from it by generalising its parts."""
    names = draw(st.lists(st.text("abc.", min_size=1, max_size=8), min_size=1, max_size=5))

    def cover() -> str:
        parts: list[str] = []
        index = 0
        while index < len(names):
            how = draw(st.sampled_from(["keep", "star", "prefix", "suffix", "any", "qmark", "class"]))
            name = names[index]
            if how == "any":  # ** over the next few names (or none)
                index += draw(st.integers(0, len(names) - index))
                parts.append("**")
                continue
            cut = draw(st.integers(0, len(name)))
            parts.append({"keep": name, "star": "*", "prefix": name[:cut] + "*", "suffix": "*" + name[cut:],
                          "qmark": name[:cut] + "?" * len(name[cut:]),
                          "class": name[:cut] + (f"[{name[cut]}x]" + name[cut + 1:] if cut < len(name) else "")}[how])
            index += 1
        return "/".join(parts)

    return "/".join(names), cover(), cover()


@settings(max_examples=500, deadline=None)
@given(path_and_two_covers())
def test_overlap_of_two_patterns_matching_one_path(case: tuple[str, str, str]) -> None:
    path, one, other = case
    assert globs.matches(path, one) and globs.matches(path, other)
    assert globs.overlap(one, other), (path, one, other)


@given(st.lists(st.text("ab.", min_size=1, max_size=4), min_size=1, max_size=3).map("/".join), pattern)
def test_a_literal_path_overlaps_exactly_the_patterns_it_matches(path: str, pat: str) -> None:
    assert globs.overlap(path, pat) == globs.matches(path, pat)


def test_overlap_examples() -> None:
    yes = [("src/**", "src/a/b/c.py"), ("**/*.py", "src/x.py"), ("a*b", "ab*"), ("*.py", "test_*"),
           ("**", "x"), ("a/**/b", "a/b"), ("a/**/b", "**/c/b"), ("[ab]x", "?x"), ("a?", "*b")]
    no = [("src/*.py", "src/a/b.py"), ("*.py", "*.txt"), ("a/b", "a/c"), ("a/**/b", "a/c"), ("x*", "y*"),
          ("src/**", "lib/**"), ("a", "a/b")]
    for one, other in yes:
        assert globs.overlap(one, other) and globs.overlap(other, one), (one, other)
    for one, other in no:
        assert not globs.overlap(one, other) and not globs.overlap(other, one), (one, other)
