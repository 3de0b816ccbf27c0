"""`agentmux queue ...`: the per-agent command queues."""

from __future__ import annotations

import argparse
import json
import time

from agentmux import ansi
from agentmux.actions import Actions
from agentmux.agents.lifecycle import Fleet
from agentmux.cli.output import ago, read_stdin, table
from agentmux.queue import Task, TaskState


def agents_down(fleet: Fleet) -> dict[str, str]:
    """Why each agent that is not running is down (`builder is error: exited with status 1`), by name."""
    return {status.name: f"{status.name} is {status.state.value}: {status.reason}"
            for status in fleet.status() if not status.takes_tasks}

def cmd_queue(actions: Actions, args: argparse.Namespace) -> int:
    fleet, queue = actions.fleet, actions.queue
    action = args.queue_command

    def line(task: Task) -> str:
        waits = f" after {','.join(map(str, task.after))} ({task.run_when})" if task.after else ""
        return f"task {task.id} for {task.agent}: {task.state.value}{waits}"

    if action == "add":
        text = read_stdin() if args.text == "-" else args.text
        task = actions.queue_add(args.name, text, priority=args.priority, after=args.after, when=args.when,
                                 if_output=args.if_output, timeout=args.timeout, retries=args.retries)
        print(json.dumps(task.as_json(), indent=2) if args.json else line(task))
        return 0
    if action == "ls":
        tasks = queue.tasks(actions.known(args.name) if args.name else None)
        ended = sorted((t for t in tasks if t.state.ended), key=lambda t: t.finished_at or t.updated_at)
        tasks = [t for t in tasks if not t.state.ended] + (ended if args.all else ended[-20:])
        if args.json:
            print(json.dumps([t.as_json() for t in tasks], indent=2))
            return 0
        if not tasks:
            print("no tasks (add one with `agentmux queue add NAME TEXT`)")
            return 0
        now = time.time()
        paused = queue.paused_agents()
        down = agents_down(fleet)
        rows = [["ID", "AGENT", "STATE", "PRI", "AFTER", "TRIES", "AGE", "TEXT", "DETAIL"]]
        for t in tasks:
            after = ",".join(map(str, t.after)) + (f" {t.run_when}" if t.after else "") or "-"
            text = ansi.one_line(t.text.replace("\n", " "))
            detail = ansi.one_line(t.reason) + (" (queue paused)" if t.agent in paused and not t.state.ended else "")
            if t.state in (TaskState.QUEUED, TaskState.READY) and t.agent in down:
                detail = "; ".join(part for part in (detail, f"waits: {down[t.agent]}") if part)
            rows.append([str(t.id), t.agent, t.state.value, str(t.priority), after, str(t.attempts),
                         ago(t.created_at, now), text[:40] + ("…" if len(text) > 40 else ""), detail])
        print(table(rows))
        return 0
    if action == "show":
        task = queue.get(args.id)
        if args.json:
            history = [{"at": event.at, "message": event.message} for event in queue.events(task.id)]
            print(json.dumps({**task.as_json(), "history": history}, indent=2))
            return 0
        print(line(task))
        print(f"priority {task.priority} · attempts {task.attempts} (retries allowed {task.retries})"
              + (f" · timeout {task.timeout:g}s" if task.timeout else "")
              + (f" · if output matches {task.if_output!r}" if task.if_output else ""))
        if task.reason:
            print(f"reason: {ansi.one_line(task.reason)}")
        print(f"text: {ansi.printable(task.text)}")
        events = queue.events(task.id)
        if events:
            print("history:")
            for event in events:
                print(f"  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(event.at))}  {event.message}")
        print("result:" + ("\n" + ansi.printable(task.result) if task.result else
                           " (nothing printed)" if task.state.ended else " (none yet)"))
        return 0
    if action in ("cancel", "retry"):
        task = actions.cancel(args.id) if action == "cancel" else actions.retry(args.id)
        print(line(task))
        return 0
    if action == "after":
        print(line(actions.add_dependency(args.id, args.dep)))
        return 0
    if action == "prio":
        task = actions.set_priority(args.id, args.priority)
        print(f"{line(task)}, priority {task.priority}")
        return 0
    name = args.name
    if action == "pause":
        actions.pause(name)
        print(f"{name}: queue paused (nothing is sent to it until `agentmux queue resume {name}`)")
    else:
        actions.resume(name)
        print(f"{name}: queue resumed")
    return 0
