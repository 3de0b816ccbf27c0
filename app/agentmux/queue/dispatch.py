"""The dispatcher: sends each agent its next ready task when the agent is ready for input, and follows the
task to its end. It runs in the one process holding the supervisor lease, after each look at the fleet.

Ready for input means: at its prompt, with the cursor right after it and nothing typed (kinds with a known
prompt: demo, shell), or idle, that is quiet for `idle_after` (any other program). A task is never typed
into an agent that is busy, waiting for an answer or not running: it waits.

Following a task: when it is claimed, the agent's output position is stored as a line number (tmux's
history size plus the cursor row); the task runs until the agent has printed past that line and is ready
for input again (or has ended, or the task's timeout passed). Its result is what the agent printed from
that line on, read from tmux's scrollback; the kind decides success (exit status in the shell's prompt,
the demo's error marker; any other program succeeds when it goes idle).

Every step is a committed transaction in the store before the next one happens, so a supervisor killed at
any moment leaves a state the next one can continue from (see `Queue.recover`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agentmux import ansi
from agentmux.agents import prompts
from agentmux.agents.delivery import check_line_lengths
from agentmux.agents.detectors import hook_question
from agentmux.agents.kinds import AgentKind, kind_of
from agentmux.agents.observer import AgentStatus, Observer
from agentmux.agents.turns import SETTLE
from agentmux.errors import AgentmuxError
from agentmux.queue.model import Queue, Task, TaskState
from agentmux.state import AgentState
from agentmux.tmux.backend import PANE_IS_DEAD_RE, CaptureRequest, PaneInfo

if TYPE_CHECKING:
    from agentmux.agents.lifecycle import Fleet

RESTARTED = "the agent was stopped and started again while working on it"
ENDED_AGENT = frozenset({AgentState.EXITED, AgentState.ERROR, AgentState.STOPPED})


@dataclass(frozen=True)
class Look:
    """A fresh look at an agent's pane: where the cursor is and whether it sits at the agent's prompt."""

    pane: PaneInfo
    ready: bool


class Dispatcher:
    """Dispatches and follows every agent's queue; `tick` after each observation of the fleet."""

    def __init__(self, fleet: Fleet, holder: str | None = None, policy: str = "retry",
                 clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.queue = Queue(fleet.store)
        self.holder = holder
        self.policy = policy
        self.clock = clock
        self.recovered = False
        self.wanted: frozenset[str] = frozenset()
        """Agents with a task out or ready: their screens are needed at every look."""
        self.wrote = False
        """Whether the last tick changed the queue (the TUI then re-reads it)."""
        self.on_event: Callable[[str], None] | None = None
        self._history: dict[str, int] = {}
        self._panes: dict[str, PaneInfo] = {}
        self._submitting: dict[str, tuple[int, prompts.Submission]] = {}
        """Claude agents' prompts on their way in, by agent: (task id, its submission)."""

    # --- one tick ----------------------------------------------------------------------------------------

    def tick(self, observer: Observer, statuses: list[AgentStatus]) -> None:
        now = self.clock()
        self.wrote = False
        self._panes = observer.panes
        if not self.recovered:
            for task in self.queue.recover(self.policy, now):
                self._say(f"task {task.id} for {task.agent}: {task.reason}")
                self.wrote = True
            self.recovered = True
        work = self.queue.agents_with_work(now)
        self.wanted = frozenset(work)
        by_name = {status.name: status for status in statuses}
        for agent, has_task_out in work.items():
            status = by_name.get(agent)
            if status is None:
                continue  # not configured and never started: its tasks wait
            kind = kind_of(status.kind)
            pane = observer.panes.get(agent)
            if has_task_out:
                out = self.queue.active(agent)
                if out is not None and not self._follow(out, kind, status, pane, observer, now):
                    continue
            self._dispatch(agent, kind, status, pane, observer, now)
        for agent in list(self._history):
            if agent not in work:
                del self._history[agent]

    # --- sending -----------------------------------------------------------------------------------------

    def _dispatch(self, agent: str, kind: AgentKind, status: AgentStatus, pane: PaneInfo | None,
                  observer: Observer, now: float) -> None:
        if pane is None or pane.dead or not self._seems_ready(kind, status, observer):
            return
        task = self.queue.next_ready(agent, now)
        if task is None:
            return
        look = self._look(pane, kind)
        if look is None or not look.ready:
            return
        mark = look.pane.history_size + look.pane.cursor_y
        if not self.queue.mark_dispatched(task.id, mark, self.clock(), holder=self.holder):
            return  # cancelled in between, or this process no longer holds the lease
        self.wrote = True
        self._history[agent] = look.pane.history_size
        try:
            kind.check_task(task.text)  # again: a text queued by an older agentmux, or by hand in the store
            delivery = kind.delivery(task.text)
            line = delivery.line(str(self._script_path(task.id)))
            if self.fleet.tmux.reads_lines(look.pane):
                check_line_lengths(line, f"{agent}'s program")
            if delivery.script is not None:
                self._write_script(task.id, delivery.script)
            if kind.hooked:  # sent only when Claude Code took it, followed look by look (`_follow`)
                self._submitting[agent] = (task.id, prompts.Submission(self.fleet, agent, pane.pane_id, line))
                return
            self.fleet.tmux.send_text(pane.pane_id, line)
        except AgentmuxError as exc:
            self._not_typed(task, exc)
            return
        self._sent(task)

    def _sent(self, task: Task) -> None:
        self.queue.mark_sent(task.id, self.clock())
        self.wrote = True
        self._say(f"task {task.id} sent to {task.agent} (attempt {task.attempts + 1})")

    def _not_typed(self, task: Task, exc: AgentmuxError) -> None:
        self.queue.finish(task.id, False, "", f"could not type it into {task.agent}: {exc}", self.clock())
        self.wrote = True
        self._say(f"task {task.id} for {task.agent}: could not be typed: {exc}")

    def _submit(self, task: Task, pane: PaneInfo | None) -> bool:
        """Advance the prompt of a claude agent's task on its way in; True when it failed (the task ended)."""
        submitting = self._submitting.get(task.agent)
        if submitting is None or submitting[0] != task.id:
            return False  # claimed by an earlier supervisor and cut off: recovery decides at lease time
        if pane is None or pane.dead:
            del self._submitting[task.agent]
            self._not_typed(task, AgentmuxError("its session ended while the prompt was typed"))
            return True
        try:
            taken = submitting[1].step()
        except AgentmuxError as exc:
            del self._submitting[task.agent]
            self._not_typed(task, exc)
            return True
        if taken:
            del self._submitting[task.agent]
            self._sent(task)
        return False

    def _seems_ready(self, kind: AgentKind, status: AgentStatus, observer: Observer) -> bool:
        """From the last look (cheap): is the agent at its prompt, or idle? Confirmed by `_look` before acting."""
        if not status.takes_tasks or status.state == AgentState.WAITING:
            return False  # an api agent in error, its program running on, takes the next task at its prompt
        if kind.prompt is not None:
            last = ansi.plain(status.screen).rstrip().rpartition("\n")[2].rstrip()
            return kind.prompt.fullmatch(last) is not None
        return status.state == AgentState.IDLE and observer.steady(status.name)

    def _look(self, pane: PaneInfo, kind: AgentKind) -> Look | None:
        """A fresh reading of the pane (one round trip for its cursor, one for the rows from the cursor down)."""
        info = self.fleet.tmux.pane_info(pane.pane_id)
        if info is None or info.dead:
            return None
        if kind.prompt is None:
            return Look(info, True)
        request = CaptureRequest(info.pane_id, start=info.cursor_y, end="-", escapes=False)
        rows = self.fleet.tmux.capture([request]).get(info.pane_id)
        if rows is None:
            return None
        lines = rows.split("\n")
        cursor_line, below = lines[0], lines[1:]
        before, after = cursor_line[:info.cursor_x], cursor_line[info.cursor_x:]
        ready = (kind.prompt.fullmatch(before.rstrip()) is not None and not after.strip()
                 and not any(line.strip() for line in below))
        return Look(info, ready)

    # --- following ---------------------------------------------------------------------------------------

    def _follow(self, task: Task, kind: AgentKind, status: AgentStatus, pane: PaneInfo | None,
                observer: Observer, now: float) -> bool:
        """Follow a task that is out; True when it has ended (the agent may take the next one)."""
        sent_at = task.sent_at
        if sent_at is None:
            return self._submit(task, pane)
        if pane is None:
            return self._end(task, False, [], "the agent's tmux session vanished while it worked on it", now)
        if pane.dead:
            how = (f"was killed by signal {pane.dead_signal}" if pane.dead_signal
                   else f"exited with status {pane.dead_status}")
            return self._end(task, pane.dead_status == 0 and not pane.dead_signal, self._output(task, pane, kind),
                             f"the agent {how} while working on it", now)
        if (kind.hooked and status.state != AgentState.STOPPED  # error: a failed turn, read from it
                and observer.heard_from(task.agent, status.started_at)):  # else its screen, as any program's
            if self._restarted(task, status):
                return self._end(task, False, [], RESTARTED, now)
            return self._follow_turn(task, sent_at, now)
        if status.state == AgentState.ERROR and status.process_alive and status.since >= sent_at:
            # the program runs on and says its turn failed (a codex agent's screen): so did the task. An error
            # from before the task was sent is the one it was sent after (an api agent's): its screen moves on
            return self._end(task, False, self._output(task, pane, kind), status.reason, now)
        if status.state in ENDED_AGENT:
            return False  # a stop is under way: the pane's end decides
        task = self._follow_trims(task, pane)
        if self._restarted(task, status):
            return self._end(task, False, [], RESTARTED, now)
        if kind.prompt is not None and self._seems_ready(kind, status, observer):
            task = self._find_typed_line(task, pane, kind)  # back at its prompt: the result is read from there
        progressed = task.output_mark is None or pane.history_size + pane.cursor_y > task.output_mark
        if task.state == TaskState.DISPATCHED and (progressed or status.state == AgentState.BUSY):
            self.queue.mark_running(task.id, now)
            self.wrote = True
        if task.timeout is not None and now - sent_at > task.timeout and not self._restarted(task):
            interrupted = ""
            if not self._seems_ready(kind, status, observer):  # still at it (or asking): stop it
                self.fleet.tmux.send_keys(pane.pane_id, *kind.interrupt_keys)
                interrupted = f"; interrupted with {' '.join(kind.interrupt_keys)}"
            return self._end(task, False, self._output(task, pane, kind),
                             f"timed out after {task.timeout:g}s{interrupted}", now)
        if not self._finished(task, kind, status, observer, progressed):
            return False
        look = self._look(pane, kind)
        if look is None or not look.ready:
            return False
        if self._restarted(task):
            return self._end(task, False, [], RESTARTED, now)
        output = self._output(task, look.pane, kind)
        ok, reason = kind.outcome(output)
        if output and kind.prompt is not None and kind.prompt.fullmatch(output[-1].rstrip()):
            output = output[:-1]  # the prompt the agent came back to is not part of the result
        return self._end(task, ok, output, reason, now)

    def _follow_turn(self, task: Task, sent_at: float, now: float) -> bool:
        """A claude agent's task: running from its UserPromptSubmit, ended by its Stop (the result is the turn's
        reply, read from the transcript by agents/turns.py) or StopFailure (failed, with what Claude Code said),
        from its hook events since it was sent."""
        # from before it was typed: Claude Code confirms the prompt while `submit` still waits (before sent_at)
        turn = self.fleet.store.turn_after(task.agent, task.dispatched_at or sent_at)
        if task.state == TaskState.DISPATCHED and turn.submitted:
            self.queue.mark_running(task.id, now)
            self.wrote = True
        if turn.ended is None:
            if task.timeout is not None and now - sent_at > task.timeout:
                pane = self._panes.get(task.agent)
                if pane is not None:
                    self.fleet.tmux.send_keys(pane.pane_id, "Escape")  # Claude Code's interrupt
                return self._end(task, False, [], f"timed out after {task.timeout:g}s; interrupted with Escape", now)
            return False
        recorded = self.fleet.store.turn_ended_by(turn.ended.id)
        if recorded is None and now - turn.ended.at < SETTLE + 1.0:
            return False  # its transcript is still being read (agents/turns.py)
        try:
            payload = json.loads(turn.ended.payload)
        except ValueError:
            payload = {}
        said = recorded.reply if recorded is not None else str(payload.get("last_assistant_message") or "")
        if turn.ended.event == "StopFailure":
            return self._end(task, False, [said] if said else [], f"the turn failed: {' '.join(said.split())[:200]}",
                             now)
        lines = said.split("\n") if said else []
        if turn.refused is not None:
            refused = f"the approval policy {turn.refused.detail}: {hook_question(turn.refused)}"
            return self._end(task, False, lines, refused, now)
        return self._end(task, True, lines, "the turn ended (Stop)", now)

    def _finished(self, task: Task, kind: AgentKind, status: AgentStatus, observer: Observer,
                  progressed: bool) -> bool:
        """Has the agent printed past the task's line and come back, ready for input?"""
        if not self._seems_ready(kind, status, observer):
            return False
        if kind.prompt is not None:
            return progressed
        # Quiet-judged programs: idle must come from quiet after the task's own output, not from before it.
        sent_at = task.sent_at or 0.0
        return (progressed or task.started_at is not None) and (status.last_output_at or 0.0) >= sent_at

    def _restarted(self, task: Task, status: AgentStatus | None = None) -> bool:
        """Was the agent started again after the task went out? Its screen is then another program's.
        Without the last look's `status`, the agent's row is read from the store (the observer's copy may be
        a second old): done only before acting on the pane (reading a result, interrupting)."""
        if status is not None:
            started_at = status.started_at
        else:
            record = self.fleet.store.agent(task.agent)
            started_at = record.started_at if record is not None else None
        return started_at is not None and task.dispatched_at is not None and started_at > task.dispatched_at

    def _follow_trims(self, task: Task, pane: PaneInfo) -> Task:
        """tmux drops the oldest tenth of a full history at once: move the task's mark with its line."""
        last = self._history.get(task.agent)
        self._history[task.agent] = pane.history_size
        if last is None or pane.history_size >= last or task.output_mark is None:
            return task
        chunk = max(1, self.fleet.config.settings.history_limit // 10)
        trimmed = math.ceil((last - pane.history_size) / chunk) * chunk
        self.queue.move_mark(task.id, trimmed)
        return replace(task, output_mark=task.output_mark - trimmed)

    def _find_typed_line(self, task: Task, pane: PaneInfo, kind: AgentKind) -> Task:
        """Check that the task's mark is still on the line its text was typed on, and find that line again
        when not: a burst of output can make tmux trim a full history and grow it back past the size of the
        last look, a trim `_follow_trims` cannot see. Trims come in tenths of the history limit, so the line
        can only be whole tenths higher up. One round trip when nothing was missed."""
        if task.output_mark is None:
            return task
        typed = self._typed(task, kind)[:40]
        limit = self.fleet.config.settings.history_limit
        chunk = max(1, limit // 10)
        # a trim leaves nine tenths of the limit: below that, none was missed (and the text may just not be
        # echoed yet; looking higher up could then find the same command typed a tenth earlier)
        most = 10 if pane.history_size >= limit - chunk else 0
        for tenths in range(most + 1):
            row = task.output_mark - tenths * chunk - pane.history_size
            if row > pane.cursor_y:
                continue  # below what the pane holds: the history was trimmed at least this much
            if row < -pane.history_size:
                break  # trimmed away: the result keeps what is left
            line = self.fleet.tmux.capture([CaptureRequest(pane.pane_id, start=row, end=row, escapes=False)])
            if typed in line.get(pane.pane_id, ""):
                if tenths:
                    self.queue.move_mark(task.id, tenths * chunk)
                    task = replace(task, output_mark=task.output_mark - tenths * chunk)
                return task
        return task

    def _typed(self, task: Task, kind: AgentKind) -> str:
        """The (first line of the) line typed into the agent for the task."""
        return kind.delivery(task.text).line(str(self._script_path(task.id))).split("\n")[0].strip()

    def _output(self, task: Task, pane: PaneInfo, kind: AgentKind) -> list[str]:
        """What the agent printed after the line the task was typed on, up to the cursor (lines joined where
        the terminal wrapped them); the oldest part is gone when the scrollback no longer holds it."""
        mark = self.queue.get(task.id).output_mark
        if mark is None:
            return []
        start = mark - pane.history_size
        kept = start >= -pane.history_size  # the task's own line is still in the scrollback
        if start > pane.cursor_y:
            return []
        request = CaptureRequest(pane.pane_id, start=max(start, -pane.history_size), end=pane.cursor_y,
                                 escapes=False, join=True)
        text = self.fleet.tmux.capture([request]).get(pane.pane_id, "")
        lines = [line.rstrip() for line in text.split("\n") if not PANE_IS_DEAD_RE.match(line)]
        if kept and lines:  # the line the task was typed on: its prompt and the task's own text
            # A typed line that fills its last row exactly leaves that row marked as wrapped (the line editor
            # moved the cursor on by wrapping), so tmux joins the first line of output to it: kept apart.
            typed = self._typed(task, kind)
            at = lines[0].find(typed) if typed else -1
            joined = lines[0][at + len(typed):] if at >= 0 else ""
            lines = ([joined] if joined.strip() else []) + lines[1:]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def _script_path(self, task_id: int) -> Path:
        return self.fleet.config.settings.state_dir / "run" / "tasks" / f"task-{task_id}.sh"

    def _write_script(self, task_id: int, text: str) -> None:
        """The file a shell agent reads a task from (private: the directory is 0700, the file 0600)."""
        path = self._script_path(task_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text + "\n")

    def _end(self, task: Task, ok: bool, output: list[str], reason: str, now: float) -> bool:
        """Record the outcome, with the agent's own secrets masked in what is kept (result and reason)."""
        mask = self.fleet.redactor(task.agent, self._panes.get(task.agent))
        ended = self.queue.finish(task.id, ok, mask("\n".join(output)), mask(reason), now)
        self._script_path(task.id).unlink(missing_ok=True)
        self.wrote = True
        self._say(f"task {task.id} for {task.agent}: {ended.state.value} ({ended.reason})")
        return True

    def _say(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)
