"""Crash safety: the supervising process is killed with SIGKILL again and again while it dispatches a few
hundred tasks, and restarted each time. At the end every task is accounted for, and no task reached an
agent twice without saying so (its attempts count and its history announce a cut-off dispatch)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from agentmux.queue import Queue, TaskState
from agentmux.store import Store
from tests.conftest import DemoFleets, Env, wait_until

AGENTS = ["a", "b", "c", "d"]
TASKS = 300
MIN_KILLS = 12


def test_kill_9_during_dispatch_loses_nothing_and_sends_nothing_twice_unannounced(
        env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(AGENTS)
    assert env.cli("up", "--no-serve").returncode == 0
    queue = Queue(Store(env.load().store_path))
    tasks = [queue.add(AGENTS[i % len(AGENTS)], f"echo task-{i}", priority=i % 3) for i in range(TASKS)]
    rng = random.Random(4)
    log = (env.root / "serve.log").open("ab")
    kills = 0
    deadline = time.monotonic() + 240

    def ended() -> int:
        return int(queue.store.db.execute(
            "SELECT COUNT(*) FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped')").fetchone()[0])

    try:
        while ended() < TASKS:
            assert time.monotonic() < deadline, f"only {ended()} of {TASKS} tasks ended"
            serve = subprocess.Popen(
                [sys.executable, "-m", "agentmux", "--config", str(env.config_path), "serve"],
                env=env.environ, cwd=env.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                if kills < MIN_KILLS * 2:
                    before = ended()
                    # Let it get going, then kill it at a random moment of its work.
                    wait_until(lambda b=before, s=serve: ended() > b or s.poll() is not None, timeout=30,
                               interval=0.01, message="the supervisor to make progress")
                    time.sleep(rng.uniform(0.0, 0.25))  # a random instant to crash at, not a wait for anything
                    os.kill(serve.pid, signal.SIGKILL)
                    kills += 1
                else:  # enough crashes: let the last supervisor finish the queue
                    wait_until(lambda s=serve: ended() >= TASKS or s.poll() is not None, timeout=120,
                               message="the rest of the queue")
            finally:
                if serve.poll() is None:
                    serve.send_signal(signal.SIGTERM)
                serve.wait(timeout=30)
            assert serve.returncode in (0, -signal.SIGKILL), f"serve failed (see {env.root / 'serve.log'})"
    finally:
        log.close()

    assert kills >= MIN_KILLS
    final = {t.id: queue.get(t.id) for t in tasks}
    assert Counter(t.state for t in final.values()) == {TaskState.SUCCEEDED: TASKS}, "every task accounted for"
    received: Counter[str] = Counter()
    for name in AGENTS:
        received.update(text for _, text in fleet.inputs(name))
    for task in final.values():
        times = received[task.text]
        assert times >= 1, f"task {task.id} succeeded but never reached its agent"
        assert task.result == task.text.removeprefix("echo "), f"task {task.id} got another task's output"
        if times > 1:
            history = [event.message for event in queue.events(task.id)]
            assert task.attempts >= times and any("cut off" in message for message in history), \
                f"task {task.id} reached its agent {times} times unannounced: {history}"
    cut_off = sum(1 for t in final.values() if t.attempts > 1)
    print(f"{kills} kills; {cut_off} tasks retried after a cut-off dispatch; "
          f"{sum(1 for t in final.values() if received[t.text] > 1)} of them had reached the agent the first time")
    queue.store.close()
