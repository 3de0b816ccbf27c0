"""`agentmux reserve ...`: file reservations and the git pre-commit guard (coord/reservations.py; README:
Coordination).

The first word says the action (`release`, `ls`, `check`, `guard install|uninstall`), else every word is a path
to reserve; a file named like an action is given as `./release`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.cli.output import table
from agentmux.coord.owners import caller, check_name
from agentmux.coord.reservations import (
    DEFAULT_TTL,
    GUARD_REFUSED,
    OUTSIDE_GIT,
    Conflict,
    Reservation,
    Reservations,
    check_ttl,
    describe,
    install_guard,
    left,
    project_of,
    staged_files,
    uninstall_guard,
    until,
)
from agentmux.errors import UsageError

ACTIONS = ("release", "ls", "check", "guard")
OPTIONS = {"exclusive": "--exclusive", "ttl": "--ttl", "reason": "--reason", "all": "--all", "staged": "--staged",
           "force": "--force"}
ALLOWED = {"reserve": {"exclusive", "ttl", "reason"}, "release": set(), "ls": {"all"}, "check": {"staged"},
           "guard": {"force"}}


def reservations_of(actions: Actions) -> Reservations:
    return Reservations(actions.fleet.store, actions.config.settings.state_dir)


def check_options(action: str, args: argparse.Namespace) -> None:
    for dest, flag in OPTIONS.items():
        if getattr(args, dest, None) not in (None, False) and dest not in ALLOWED[action]:
            where = "reserve PATH..." if action == "reserve" else f"reserve {action}"
            raise UsageError(f"{flag} is not an option of `agentmux {where}`")


def cmd_reserve(actions: Actions, args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    action = words[0] if words and words[0] in ACTIONS else "reserve"
    check_options(action, args)
    cwd = Path.cwd()
    reservations = reservations_of(actions)
    if action == "reserve":
        if not words:
            raise UsageError("give the paths to reserve (or an action: release, ls, check, guard; see "
                             "`agentmux reserve --help`)")
        return reserve(reservations, caller(args.as_name), words, cwd, args)
    words = words[1:]
    if action == "release":
        return release(reservations, caller(args.as_name), words, cwd, args.json)
    if action == "ls":
        if words:
            raise UsageError(f"reserve ls takes no paths ({words[0]!r}); `reserve ls --all` lists every project's")
        return ls(reservations, None if args.all else cwd, args.json)
    if action == "check":
        return check(reservations, args, words, cwd)
    return guard(actions, words, cwd, bool(args.force), args.json)


def reserve(reservations: Reservations, owner: str, paths: list[str], cwd: Path, args: argparse.Namespace) -> int:
    ttl = check_ttl(args.ttl if args.ttl is not None else DEFAULT_TTL)
    try:
        made = reservations.reserve(owner, paths, cwd, exclusive=bool(args.exclusive), ttl=ttl,
                                    reason=args.reason or "")
    except Conflict as conflict:
        now = time.time()
        if args.json:
            print(json.dumps({"reserved": [], "conflicts": [{"pattern": what, "reservation": held.to_json(now)}
                                                            for what, held in conflict.conflicts]}, indent=2))
        print(f"agentmux: nothing reserved: {'; '.join(one_line(line) for line in describe(conflict.conflicts, now))}",
              file=sys.stderr)
        return 1
    now = time.time()
    if args.json:
        print(json.dumps({"reserved": [made_one.to_json(now) for made_one in made], "conflicts": []}, indent=2))
        return 0
    for one in made:
        print(f"reserved {one.pattern} for {one.owner} ({one.mode}, until {until(one.expires_at, now)}, "
              f"{left(one.expires_at, now)})")
    return 0


def release(reservations: Reservations, owner: str, paths: list[str], cwd: Path, as_json: bool) -> int:
    freed = reservations.release(owner, paths, cwd)
    now = time.time()
    if as_json:
        print(json.dumps([one.to_json(now) for one in freed], indent=2))
    else:
        for one in freed:
            print(f"released {one.pattern} ({one.mode})")
    if freed:
        return 0
    held = ", ".join(one.pattern for one in reservations.ls(cwd=cwd, owner=owner))
    what = f"none of {', '.join(paths)}" if paths else "nothing"
    print(f"agentmux: {owner} held {what} here{f' (it holds {held})' if held else ''}", file=sys.stderr)
    return 1


def ls(reservations: Reservations, cwd: Path | None, as_json: bool) -> int:
    found = reservations.ls(cwd=cwd)
    now = time.time()
    if as_json:
        print(json.dumps([one.to_json(now) for one in found], indent=2))
        return 0
    here = project_of(cwd) if cwd is not None else None
    if not found:
        print("no files reserved" + ("" if here is None else f" in {place(here[1])}"))
        return 0
    projects: dict[str, list[Reservation]] = {}
    for one in found:
        projects.setdefault(one.project, []).append(one)
    for index, (project, ones) in enumerate(projects.items()):
        root = here[1] if here is not None and here[0] == project else ones[-1].root
        print(("\n" if index else "") + f"reserved in {place(root)}:")
        rows = [["PATTERN", "OWNER", "MODE", "LEFT", "REASON"]]
        rows += [[one.pattern, one.owner, one.mode, left(one.expires_at, now).removesuffix(" left"),
                  one_line(one.reason) or "-"] for one in ones]
        print(table(rows))
    return 0


def place(root: str) -> str:
    return "files outside git (absolute paths)" if root == OUTSIDE_GIT else root


def check(reservations: Reservations, args: argparse.Namespace, files: list[str], cwd: Path) -> int:
    """Exit 1 (the hook: GUARD_REFUSED) listing the files that others reserve exclusively. Inside an agent its
    own reservations never count; outside one (a person committing) every agent's do."""
    if not files and not args.staged:
        raise UsageError("reserve check: give the files, or --staged for those staged in git")
    owner = caller(args.as_name) if args.as_name else os.environ.get("AGENTMUX_AGENT") or None
    if owner is not None:
        check_name("AGENTMUX_AGENT", owner)
    if args.staged:
        root = project_of(cwd)[1]
        if root == OUTSIDE_GIT:
            raise UsageError(f"reserve check --staged: {cwd} is not in a git worktree")
        files = files + [os.path.join(root, name) for name in staged_files(cwd)]
    found = reservations.conflicts(owner, files, cwd)
    now = time.time()
    if args.json:
        print(json.dumps([{"file": what, "reservation": held.to_json(now)} for what, held in found], indent=2))
    refused = GUARD_REFUSED if args.hook else 1
    if not found:
        return 0
    touched = len({what for what, _ in found})
    whose = f"agents other than {owner}" if owner else "agents"
    print(f"agentmux: {touched} file{'s' if touched != 1 else ''} touched {'is' if touched == 1 else 'are'} "
          f"reserved exclusively by {whose}:", file=sys.stderr)
    for line in describe(found, now):
        print(f"  {one_line(line)}", file=sys.stderr)
    if args.hook:
        print("(git commit --no-verify skips this check)", file=sys.stderr)
    return refused


def guard(actions: Actions, words: list[str], cwd: Path, force: bool, as_json: bool) -> int:
    if len(words) != 1 or words[0] not in ("install", "uninstall"):
        raise UsageError("reserve guard: say install or uninstall (agentmux reserve guard install [--force])")
    if words[0] == "install":
        hook, moved = install_guard(cwd, actions.config.path, force)
        if as_json:
            print(json.dumps({"hook": str(hook), "installed": True, "moved": str(moved) if moved else None}))
        else:
            if moved is not None:
                print(f"moved the pre-commit hook that was there to {moved}")
            print(f"installed {hook}: a commit touching files others reserve exclusively is refused")
        return 0
    if force:
        raise UsageError("--force is an option of `agentmux reserve guard install`")
    hook, removed, restored = uninstall_guard(cwd)
    if as_json:
        print(json.dumps({"hook": str(hook), "removed": removed, "restored": str(restored) if restored else None}))
    elif not removed:
        print(f"no pre-commit hook at {hook}: nothing to remove")
    else:
        print(f"removed {hook}" + (" (the hook that was there before is back)" if restored else ""))
    return 0
