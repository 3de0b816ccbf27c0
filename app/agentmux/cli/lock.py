"""`agentmux lock ...`: locks with leases and fencing tokens (coord/locks.py; README: Coordination)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from agentmux.actions import Actions
from agentmux.cli.output import table
from agentmux.coord.locks import Hold, Locks, describe
from agentmux.coord.owners import Refused, caller
from agentmux.errors import AgentmuxError, UsageError
from agentmux.store import Store


def locks_of(actions: Actions) -> Locks:
    return Locks(actions.fleet.store, actions.config.settings.state_dir)


def say_hold(hold: Hold, as_json: bool, verb: str) -> None:
    now = time.time()
    if as_json:
        print(json.dumps(hold.to_json(now)))
    else:
        print(hold.token)
        print(f"{verb} lock {hold.lock} for {hold.owner} ({hold.mode}, token {hold.token}, lease "
              f"{hold.ttl:g} s)", file=sys.stderr)


def cmd_lock(actions: Actions, args: argparse.Namespace) -> int:
    action = args.lock_command
    locks = locks_of(actions)
    if action == "ls":
        owner = caller(args.as_name) if args.mine else None
        found = locks.ls(owner)
        now = time.time()
        if args.json:
            print(json.dumps([info.to_json(now) for info in found], indent=2))
            return 0
        if not found:
            print("no locks held or waited for")
            return 0
        rows = [["LOCK", "HOLDER", "MODE", "TOKEN", "LEASE LEFT", "WAITING"]]
        for info in found:
            waiting = ", ".join(f"{w.owner}{' (shared)' if w.shared else ''}" for w in info.waiters) or "-"
            for index, hold in enumerate(info.holds or (None,)):
                rows.append([info.name if index == 0 else "", hold.owner if hold else "-", hold.mode if hold else "-",
                             str(hold.token) if hold else "-",
                             f"{max(0.0, hold.expires_at - now):.0f} s" if hold else "-",
                             waiting if index == 0 else ""])
        print(table(rows))
        return 0
    if action == "check":
        hold = locks.check(args.name, args.token)
        if args.json:
            print(json.dumps(hold.to_json(time.time()) if hold else None))
        if hold is None:
            holders = locks.holders(args.name)
            held = f"; held by {describe(holders, time.time())}" if holders else ""
            print(f"agentmux: token {args.token} does not hold lock {args.name}{held}", file=sys.stderr)
            return 1
        if not args.json:
            print(f"token {args.token} holds lock {args.name} ({hold.owner}, {hold.mode}, "
                  f"{max(0.0, hold.expires_at - time.time()):.0f} s left)")
        return 0
    owner = caller(args.as_name)
    if action == "acquire":
        hold = locks.acquire(args.name, owner, ttl=args.ttl, shared=args.shared, wait=args.timeout,
                             on_wait=lambda holds: print(f"waiting for lock {args.name} (held by "
                                                         f"{describe(holds, time.time()) or 'nobody; others first'})",
                                                         file=sys.stderr))
        say_hold(hold, args.json, "holding")
        return 0
    if action == "release":
        hold = locks.release(args.name, owner)
        if args.json:
            print(json.dumps(hold.to_json(time.time())))
        else:
            print(f"released lock {args.name} (token {hold.token})")
        return 0
    if action == "renew":
        hold = locks.renew(args.name, owner, args.ttl)
        if args.json:
            print(json.dumps(hold.to_json(time.time())))
        else:
            print(f"renewed lock {args.name}: {hold.ttl:g} s from now (token {hold.token})")
        return 0
    if action == "run":
        return run_holding(actions, locks, owner, args)
    raise UsageError(f"unknown lock action {action!r}")


def run_holding(actions: Actions, locks: Locks, owner: str, args: argparse.Namespace) -> int:
    """`lock run NAME -- COMMAND...`: hold the lock while COMMAND runs; the lease is renewed every third of it
    (by a connection of its own); when a renewal fails the command is stopped, and this exits 1."""
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("lock run: give the command after -- (agentmux lock run NAME -- make test)")
    hold = locks.acquire(args.name, owner, ttl=args.ttl, shared=args.shared, wait=args.timeout)
    env = dict(os.environ, AGENTMUX_LOCK=args.name, AGENTMUX_LOCK_TOKEN=str(hold.token))
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        locks.release(args.name, owner)
        raise AgentmuxError(f"lock run: cannot run {argv[0]}: {exc.strerror or exc}") from None
    stop = threading.Event()
    lost: list[str] = []

    def keep() -> None:
        store = Store(actions.fleet.store.path)
        mine = Locks(store, locks.state_dir)
        try:
            while not stop.wait(hold.ttl / 3):
                try:
                    mine.renew(args.name, owner, hold.ttl)
                except (Refused, OSError) as exc:
                    lost.append(str(exc))
                    child.send_signal(signal.SIGTERM)
                    return
        finally:
            store.close()

    keeper = threading.Thread(target=keep, name="lock-renew", daemon=True)
    keeper.start()
    try:
        while True:
            try:
                status = child.wait()
                break
            except KeyboardInterrupt:  # the child has its own Ctrl-C (same process group): wait for it
                continue
    finally:
        stop.set()
        keeper.join()
        if not lost:
            try:
                locks.release(args.name, owner)
            except Refused as exc:
                lost.append(str(exc))
    if lost:
        print(f"agentmux: lock run: the lock was lost while the command ran: {lost[0]}", file=sys.stderr)
        return 1
    return status if status >= 0 else 128 - status
