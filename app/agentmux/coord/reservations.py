"""File reservations: an agent says which files it is about to edit, so others keep off them, and a git
pre-commit hook refuses a commit that touches what another agent reserved exclusively.

A reservation is a path pattern (globs.py: `*`, `?`, `[...]`, `**`; a directory means everything under it) held
by an owner for a time (`ttl`), exclusive or shared, in one project: inside git the repository (its *common* git
dir, so every worktree of one repo is one project, and a file is the same file in each of them), patterns
relative to the worktree's top level; outside git the whole file system, patterns absolute. An exclusive
reservation keeps every other owner off the files it covers; a shared one only keeps exclusive ones off (several
agents reading a file, none rewriting it). A request is granted whole or not at all, in one IMMEDIATE
transaction that first removes reservations whose time or whose owner agent's run ended (owners.py). Nothing
waits for a reservation: a refusal says who holds what until when, and the agent works on something else.

The guard (`install_guard`) is a pre-commit hook running this agentmux: `agentmux reserve check --staged`.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmux.coord import globs
from agentmux.coord.owners import Refused, bound_run, check_name, dead
from agentmux.errors import AgentmuxError, UsageError
from agentmux.store import Store

DEFAULT_TTL = 3600.0
"""A reservation's length when none is given: an editing session; a lost agent's reservation frees itself."""
MAX_TTL = 7 * 24 * 3600.0
OUTSIDE_GIT = "/"
"""The project (and root) of paths outside any git repository."""
GUARD_MARK = "# agentmux reserve guard"
"""The line that says a pre-commit hook is agentmux's (uninstall removes only such a hook)."""
GUARD_REFUSED = 3
"""What `reserve check --hook` exits with when it refuses: no other failure of agentmux exits so, so the hook
tells a refusal (exit 1) from agentmux failing to run (a warning; the commit goes through)."""
BACKUP_SUFFIX = ".before-agentmux"


@dataclass(frozen=True)
class Reservation:
    id: int
    project: str
    root: str
    pattern: str
    owner: str
    exclusive: bool
    reason: str
    created_at: float
    expires_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Reservation:
        return cls(int(row["id"]), row["project"], row["root"], row["pattern"], row["owner"], bool(row["exclusive"]),
                   row["reason"], float(row["created_at"]), float(row["expires_at"]))

    @property
    def mode(self) -> str:
        return "exclusive" if self.exclusive else "shared"

    def to_json(self, now: float) -> dict[str, object]:
        return {"id": self.id, "project": self.project, "root": self.root, "pattern": self.pattern,
                "owner": self.owner, "mode": self.mode, "exclusive": self.exclusive, "reason": self.reason,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "remaining": round(max(0.0, self.expires_at - now), 3)}

    def describe(self, now: float) -> str:
        """`builder (exclusive, until 15:42, 38 min left: refactoring the parser)`."""
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.owner} ({self.mode}, until {until(self.expires_at, now)}, {left(self.expires_at, now)}{reason})"


def until(at: float, now: float) -> str:
    """The local time `at`, with its day when that is not today."""
    when = time.localtime(at)
    if time.strftime("%Y-%m-%d", when) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M", when)
    return time.strftime("%b %d %H:%M", when)


def left(at: float, now: float) -> str:
    """`45 s left`, `38 min left`, `5 h 12 min left`."""
    seconds = max(0, round(at - now))
    if seconds < 120:
        return f"{seconds} s left"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min left"
    return f"{minutes // 60} h {minutes % 60} min left"


def describe(conflicts: Sequence[tuple[str, Reservation]], now: float) -> list[str]:
    """`src/parser.py: reserved by builder (exclusive, until 15:42, 38 min left: refactoring the parser)`, each."""
    return [f"{what}: reserved by {reservation.describe(now)}" for what, reservation in conflicts]


class Conflict(Refused):
    """A reservation refused, or files touched, because others hold them (exit 1); `conflicts` pairs each
    requested pattern (or file) with a reservation in its way."""

    def __init__(self, conflicts: Sequence[tuple[str, Reservation]], now: float) -> None:
        self.conflicts = list(conflicts)
        super().__init__("nothing reserved: " + "; ".join(describe(self.conflicts, now)))


def check_ttl(ttl: float) -> float:
    if not 0 < ttl <= MAX_TTL:
        raise UsageError(f"--ttl {ttl:g}: a reservation lasts more than 0 and at most {MAX_TTL:.0f} seconds "
                         "(7 days)")
    return ttl


# --- where paths are ---------------------------------------------------------------------------------------

def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["git", *args], 127, b"", str(exc).encode())


def project_of(cwd: Path) -> tuple[str, str]:
    """(project, root) of a directory: inside a git worktree, the real path of the repository's common git dir
    and the worktree's top level; elsewhere "/" and "/"."""
    found = git(cwd, "rev-parse", "--git-common-dir", "--show-toplevel")
    lines = found.stdout.decode(errors="surrogateescape").splitlines()
    if found.returncode != 0 or len(lines) != 2:
        return OUTSIDE_GIT, OUTSIDE_GIT
    common, top = lines
    return os.path.realpath(os.path.join(cwd, common)), os.path.realpath(top)


def pattern_of(path: str, cwd: Path, root: str) -> str:
    """The pattern a path given in `cwd` stands for in a project with `root`: relative to the root (absolute
    outside git), `/` between segments; an existing directory (or a path ending in `/`) is everything under it;
    an existing file whose name holds wildcard characters is that file only. UsageError when outside the root."""
    if not path or "\0" in path:
        raise UsageError(f"not a path: {path!r}")
    full = path if os.path.isabs(path) else os.path.join(os.path.realpath(cwd), path)
    full = os.path.normpath(full)
    head, tail = os.path.split(full)
    full = os.path.join(os.path.realpath(head), tail) if tail else full  # the file itself may be a symlink
    if root == OUTSIDE_GIT:
        relative = full
    else:
        relative = os.path.relpath(full, root)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise UsageError(f"{path}: outside the project (the git worktree {root})")
    relative = relative.replace(os.sep, "/")
    if os.path.lexists(full) and globs.has_wildcard(relative):
        relative = globs.escape(relative)
    directory = path.endswith("/") or (not globs.has_wildcard(path) and os.path.isdir(full))
    if relative == ".":
        return globs.ANY
    if directory and not relative.endswith("/" + globs.ANY) and relative != globs.ANY:
        return relative.rstrip("/") + "/" + globs.ANY
    return relative


def staged_files(cwd: Path) -> list[str]:
    """The files a commit in the worktree at `cwd` would touch, relative to its top level: those staged (added,
    changed, deleted) and both sides of a rename (`--no-renames` lists a rename as its source deleted and its
    target added). Git's own environment (GIT_INDEX_FILE in a hook, for `commit -a` or `commit FILE`) is used."""
    found = git(cwd, "diff", "--cached", "--name-only", "--no-renames", "-z")
    if found.returncode != 0:
        raise AgentmuxError(f"--staged: git diff --cached failed in {cwd}: "
                            f"{found.stderr.decode(errors='replace').strip() or 'not a git worktree?'}")
    return sorted({name for name in found.stdout.decode(errors="surrogateescape").split("\0") if name})


# --- the reservations --------------------------------------------------------------------------------------

LIVE = f"expires_at > ? AND NOT {dead('owner', 'bound')}"
ENDED = f"(expires_at <= ? OR {dead('owner', 'bound')})"


class Reservations:
    """The file reservations of one store."""

    def __init__(self, store: Store, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock

    def reserve(self, owner: str, paths: Sequence[str], cwd: Path, *, exclusive: bool = False,
                ttl: float = DEFAULT_TTL, reason: str = "") -> list[Reservation]:
        """Reserve every path (a file, a directory, a glob; relative to `cwd`) for `owner`, or none: Conflict
        lists every requested pattern with each reservation of another owner in its way (exclusive requests
        give way to any reservation, shared ones to exclusive ones). The owner's own reservation of the same
        pattern is replaced (mode, ttl, reason, a new expiry)."""
        check_name("owner", owner)
        check_ttl(ttl)
        if not paths:
            raise UsageError("give the paths to reserve")
        project, root = project_of(cwd)
        patterns = list(dict.fromkeys(pattern_of(path, cwd, root) for path in paths))
        blocked: list[tuple[str, Reservation]] = []
        made: list[Reservation] = []
        with self.store.contended() as db:
            now = self.clock()
            db.execute(f"DELETE FROM coord_reservations WHERE project = ? AND {ENDED}", (project, now))
            others = [Reservation.from_row(row) for row in
                      db.execute("SELECT * FROM coord_reservations WHERE project = ? AND owner != ? ORDER BY id",
                                 (project, owner))]
            for pattern in patterns:
                blocked += [(pattern, other) for other in others
                            if (exclusive or other.exclusive) and globs.overlap(pattern, other.pattern)]
            if not blocked:
                bound = bound_run(db, owner)
                for pattern in patterns:
                    db.execute("DELETE FROM coord_reservations WHERE project = ? AND owner = ? AND pattern = ?",
                               (project, owner, pattern))
                    row = db.execute("INSERT INTO coord_reservations (project, root, pattern, owner, exclusive, "
                                     "reason, created_at, expires_at, bound) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                     "RETURNING *", (project, root, pattern, owner, int(exclusive), reason, now,
                                                     now + ttl, bound)).fetchone()
                    made.append(Reservation.from_row(row))
        if blocked:
            raise Conflict(blocked, now)
        return made

    def release(self, owner: str, paths: Sequence[str] = (), cwd: Path | None = None) -> list[Reservation]:
        """Give back the owner's reservations of `paths` (the patterns they stand for, as `reserve` makes them);
        no paths: all of the owner's (only in cwd's project when `cwd` is given). The live ones given back."""
        where, args = "owner = ?", [owner]
        if cwd is not None or paths:
            project, root = project_of(cwd or Path.cwd())
            where += " AND project = ?"
            args.append(project)
            if paths:
                wanted: set[str] = set()
                for path in paths:
                    pattern = pattern_of(path, cwd or Path.cwd(), root)
                    # a directory reserved while it existed is `dir/**`, whether or not it exists now
                    wanted |= {pattern} if pattern.endswith(globs.ANY) else {pattern, f"{pattern}/{globs.ANY}"}
                where += f" AND pattern IN ({', '.join('?' * len(wanted))})"
                args += sorted(wanted)
        with self.store.contended() as db:
            now = self.clock()
            rows = db.execute(f"SELECT *, {ENDED} AS ended FROM coord_reservations WHERE {where} ORDER BY id",
                              (now, *args)).fetchall()
            db.execute(f"DELETE FROM coord_reservations WHERE {where}", args)
        return [Reservation.from_row(row) for row in rows if not row["ended"]]

    def ls(self, *, cwd: Path | None = None, owner: str | None = None) -> list[Reservation]:
        """The live reservations (of one project, of one owner), by project, then pattern."""
        where = LIVE
        args: list[object] = [self.clock()]
        if cwd is not None:
            where += " AND project = ?"
            args.append(project_of(cwd)[0])
        if owner is not None:
            where += " AND owner = ?"
            args.append(owner)
        rows = self.store.db.execute(f"SELECT * FROM coord_reservations WHERE {where} ORDER BY project, pattern, id",
                                     args)
        return [Reservation.from_row(row) for row in rows]

    def conflicts(self, owner: str | None, files: Sequence[str], cwd: Path) -> list[tuple[str, Reservation]]:
        """The live exclusive reservations of others (of anyone when `owner` is None) covering any of `files`
        (relative to `cwd`; a directory: anything under it), each with the file as its project sees it."""
        project, root = project_of(cwd)
        rows = self.store.db.execute(f"SELECT * FROM coord_reservations WHERE project = ? AND exclusive AND "
                                     f"owner != ? AND {LIVE} ORDER BY id", (project, owner or "", self.clock()))
        held = [Reservation.from_row(row) for row in rows]
        found: list[tuple[str, Reservation]] = []
        for file in files:
            target = pattern_of(file, cwd, root)
            if target.endswith(globs.ANY):  # a directory
                found += [(target, other) for other in held if globs.overlap(target, other.pattern)]
            else:  # a file, taken literally (its name may hold `*` or `[`)
                name = file_name(file, cwd, root)
                found += [(name, other) for other in held if globs.matches(name, other.pattern)]
        return found

    def reap(self) -> int:
        """Remove the reservations whose time or whose owner agent's run ended; how many."""
        with self.store.contended() as db:
            return db.execute(f"DELETE FROM coord_reservations WHERE {ENDED}", (self.clock(),)).rowcount


def file_name(path: str, cwd: Path, root: str) -> str:
    """A file as its project names it (relative to the root, or absolute outside git), never a pattern."""
    full = os.path.normpath(path if os.path.isabs(path) else os.path.join(os.path.realpath(cwd), path))
    head, tail = os.path.split(full)
    full = os.path.join(os.path.realpath(head), tail)
    return full if root == OUTSIDE_GIT else os.path.relpath(full, root).replace(os.sep, "/")


# --- the guard ---------------------------------------------------------------------------------------------

def hook_path(cwd: Path) -> Path:
    """The pre-commit hook of the repository at `cwd` (git's hooks dir, core.hooksPath honoured)."""
    found = git(cwd, "rev-parse", "--git-path", "hooks")
    if found.returncode != 0:
        raise AgentmuxError(f"guard: {cwd} is not in a git repository")
    return Path(os.path.join(cwd, found.stdout.decode(errors="surrogateescape").strip())) / "pre-commit"


def hook_text(config: Path) -> str:
    """The hook: this agentmux (this Python, this package) checks the staged files against the reservations of
    the fleet of `config`; when agentmux cannot run (the config is gone, ...) it warns and lets the commit go."""
    package = Path(__file__).resolve().parent.parent.parent
    return f"""#!/bin/sh
{GUARD_MARK}: written by `agentmux reserve guard install`, removed by `agentmux reserve guard uninstall`.
# Refuses a commit touching files that another agent reserved exclusively (`agentmux reserve ls`).
config={shlex.quote(str(config))}
if [ ! -f "$config" ]; then
    echo "agentmux: pre-commit: the config $config is gone: reservations not checked" >&2
    exit 0
fi
PYTHONPATH={shlex.quote(str(package))}${{PYTHONPATH:+:$PYTHONPATH}} {shlex.quote(sys.executable)} -m agentmux \\
    --config "$config" reserve check --staged --hook
status=$?
if [ "$status" -eq {GUARD_REFUSED} ]; then
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "agentmux: pre-commit: could not check the reservations (exit $status): commit not checked" >&2
fi
exit 0
"""


def is_ours(hook: Path) -> bool:
    try:
        return GUARD_MARK in hook.read_text(errors="replace")
    except OSError:
        return False


def install_guard(cwd: Path, config: Path, force: bool = False) -> tuple[Path, Path | None]:
    """Write the pre-commit hook of the repository at `cwd`; (the hook, where a hook agentmux did not write
    was moved with `force`). Refused when such a hook is there and not `force`."""
    hook = hook_path(cwd)
    moved: Path | None = None
    if hook.exists() and not is_ours(hook):
        if not force:
            raise Refused(f"guard: {hook} is a pre-commit hook agentmux did not write; left alone (--force moves "
                          f"it to {hook.name}{BACKUP_SUFFIX} and installs agentmux's)")
        moved = hook.with_name(hook.name + BACKUP_SUFFIX)
        hook.replace(moved)
    try:
        hook.parent.mkdir(parents=True, exist_ok=True)
        partial = hook.with_name(f".pre-commit.agentmux.{os.getpid()}")
        partial.write_text(hook_text(config.resolve()))
        partial.chmod(0o755)
        partial.replace(hook)
    except OSError as exc:
        raise AgentmuxError(f"guard: cannot write {hook}: {exc.strerror or exc}") from None
    return hook, moved


def uninstall_guard(cwd: Path) -> tuple[Path, bool, Path | None]:
    """Remove agentmux's pre-commit hook of the repository at `cwd`; (the hook, whether one was removed, the
    hook put back that `install --force` had moved). Refused when the hook there is not agentmux's."""
    hook = hook_path(cwd)
    if not hook.exists():
        return hook, False, None
    if not is_ours(hook):
        raise Refused(f"guard: {hook} is a pre-commit hook agentmux did not write; left alone")
    hook.unlink()
    backup = hook.with_name(hook.name + BACKUP_SUFFIX)
    if backup.exists():
        backup.replace(hook)
        return hook, True, hook
    return hook, True, None
