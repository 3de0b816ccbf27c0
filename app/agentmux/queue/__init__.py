"""The command queue: the task model every process shares (model) and the lease holder's dispatcher."""

from __future__ import annotations

from agentmux.queue.model import ENDED, RESULT_LIMIT, WHEN, Queue, Task, TaskState

__all__ = ["ENDED", "RESULT_LIMIT", "WHEN", "Queue", "Task", "TaskState"]
