"""Two TUIs open at once on one fleet: one dispatches, the other is a viewer; closing the first hands over."""

from __future__ import annotations

import time

from agentmux.queue import Queue, TaskState
from agentmux.store import Store
from agentmux.tui.app import AgentmuxApp
from tests.conftest import DemoFleets, Env
from tests.tui.conftest import SIZE, holding, until


async def test_two_tuis_open_at_once_do_not_both_dispatch(env: Env, demo_fleet: DemoFleets) -> None:
    fleet = demo_fleet(["a", "b"])
    assert env.cli("up", "--no-serve").returncode == 0
    queue = Queue(Store(env.load().store_path))
    first, second = AgentmuxApp(env.load()), AgentmuxApp(env.load())
    first_run, second_run = first.run_test(size=SIZE), second.run_test(size=SIZE)
    one = await first_run.__aenter__()
    first_open = second_open = False
    try:
        first_open = True
        await until(one, lambda: holding(first), what="the first TUI to take the lease")
        two = await second_run.__aenter__()
        second_open = True
        for _ in range(10):  # both look for a while: the second never takes the lease from the first
            await two.pause(0.05)
            assert holding(first) and not holding(second)
        tasks = [queue.add("ab"[i % 2], f"echo task-{i}") for i in range(20)]
        await until(two, lambda: all(queue.get(t.id).state == TaskState.SUCCEEDED for t in tasks),
                    what="every task done")
        assert not holding(second)
        assert first.pipeline is not None
        assert {queue.get(t.id).dispatched_by for t in tasks} == {first.pipeline.lease.name}
        received = [text for name in ("a", "b") for _, text in fleet.inputs(name)]
        assert sorted(received) == sorted(f"echo task-{i}" for i in range(20)), "each task typed exactly once"
        # The dispatching TUI closes: it hands the lease back and the viewer takes over at once (well
        # before the lease would expire; both run in this one process, so no pid check could help).
        await first_run.__aexit__(None, None, None)
        first_open = False
        closed_at = time.monotonic()
        await until(two, lambda: holding(second), timeout=5, what="the viewer takes over")
        assert time.monotonic() - closed_at < 2.0
        late = queue.add("a", "echo late")
        await until(two, lambda: queue.get(late.id).state == TaskState.SUCCEEDED, what="the late task done")
        assert second.pipeline is not None
        assert queue.get(late.id).dispatched_by == second.pipeline.lease.name
    finally:
        if second_open:
            await second_run.__aexit__(None, None, None)
        if first_open:
            await first_run.__aexit__(None, None, None)
        queue.store.close()
