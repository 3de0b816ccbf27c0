"""`agentmux msg send|recv|ls`: messages between agents (coord/messages.py; README: Coordination)."""

from __future__ import annotations

import argparse
import json
import math
import time

from agentmux.actions import Actions
from agentmux.ansi import one_line, printable
from agentmux.cli.output import read_stdin, table
from agentmux.coord.messages import Message, Messages
from agentmux.coord.owners import caller
from agentmux.errors import AgentmuxError, UsageError

BODY_SHOWN = 60
"""Characters of a body `msg ls` shows."""


def messages_of(actions: Actions) -> Messages:
    return Messages(actions.fleet.store, actions.config.settings.state_dir)


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def show(message: Message) -> str:
    """A message as `msg recv` prints it: a heading line, then its body."""
    to = ", ".join(message.recipients)
    return (f"message {message.id} at {when(message.sent_at)} from {message.sender} to {to} "
            f"(thread {one_line(message.thread)}, {message.importance})\n{printable(message.body).rstrip(chr(10))}")


def cmd_msg(actions: Actions, args: argparse.Namespace) -> int:
    action = args.msg_command
    messages = messages_of(actions)
    if action == "send":
        sender = caller(args.as_name)
        fleet = actions.config.names()
        if not fleet:
            raise UsageError(f"the config {actions.config.path} has no agents to send to")
        to = [name.strip() for name in args.to.split(",") if name.strip()]
        body = args.text
        if body == "-":
            body = read_stdin()
            body = body[:-1] if body.endswith("\n") else body  # the newline `echo` ends a line with
        ttl = None if args.ttl == 0 else args.ttl
        message = messages.send(sender, to, body, thread=args.thread or "", importance=args.importance, ttl=ttl,
                                fleet=fleet)
        if args.json:
            print(json.dumps(message.to_json()))
        else:
            print(f"sent message {message.id} to {', '.join(message.recipients)} (thread {one_line(message.thread)})")
        return 0
    if action == "recv":
        recipient = caller(args.as_name)
        wait = None if args.wait is not None and math.isinf(args.wait) else args.wait
        got = messages.recv(recipient, wait=wait, limit=args.limit, thread=args.thread)
        if args.json:
            print(json.dumps([message.to_json() for message in got], indent=2))
        elif got:
            print("\n\n".join(show(message) for message in got))
        if not got:
            of = f" in thread {one_line(args.thread)}" if args.thread is not None else ""
            if wait is not None and wait > 0:
                raise AgentmuxError(f"no message for {recipient}{of} within {wait:g} s")
            raise AgentmuxError(f"no unread messages for {recipient}{of}")
        return 0
    if action == "ls":
        whose: str | None = None if args.all else caller(args.as_name)
        found = messages.ls(whose, unread=args.unread, thread=args.thread, limit=args.limit)
        if args.json:
            print(json.dumps([message.to_json() for message in found], indent=2))
            return 0
        if not found:
            print(f"no {'unread ' if args.unread else ''}messages for {whose or 'anyone'}")
            return 0
        rows = [["ID", "SENT", "FROM", "TO", "THREAD", "IMPORTANCE"]
                + ([] if whose is None else ["READ"]) + ["BODY"]]
        for message in found:
            body = one_line(message.body)
            body = body if len(body) <= BODY_SHOWN else body[:BODY_SHOWN - 3] + "..."
            read = [] if whose is None else [time.strftime("%H:%M:%S", time.localtime(message.read_at))
                                                  if message.read_at is not None else "unread"]
            rows.append([str(message.id), when(message.sent_at), message.sender, ",".join(message.recipients),
                         one_line(message.thread), message.importance, *read, body])
        print(table(rows))
        return 0
    raise UsageError(f"unknown msg action {action!r}")
