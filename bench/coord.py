"""Benchmark: coordination locks across processes (coord/locks.py), through one store file as agents use it.

Usage: .venv/bin/python bench/coord.py [--seconds 5] [--rounds 300]

- round trips: two processes, each acquiring and releasing the same lock (waiting for it when the other holds
  it) for `--seconds`; acquire+release pairs per second, both together. One process alone is shown for
  reference. Budget > 2,000/s across the two.
- waiter latency: a holder process releases the lock while a second process waits for it (its place in line
  taken, asleep on its wake socket); the time from the release's commit to the waiter's acquire returning, over
  `--rounds` rounds. Budget p95 < 20 ms.
`--sqlite-busy-handler` waits for the write lock the way SQLite's own busy handler does, for comparison.
Exits 1 when a budget fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import _paths  # noqa: F401 - first: the package on sys.path

ROUND_TRIP_BUDGET = 2000.0
LATENCY_BUDGET = 0.020

PRELUDE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {app!r})
from agentmux.coord.locks import Locks
from agentmux.store import Store
if {busy_handler!r}:  # --sqlite-busy-handler: wait for the write lock as SQLite's own handler does (1, 2, 5 ms...)
    Store.contended = lambda store: store.transaction()
folder = Path({folder!r})
locks = Locks(Store(folder / "bench.db"), folder)
while not (folder / "go").exists():
    time.sleep(0.001)
"""

LOOPER = """
end = time.monotonic() + {seconds}
count = 0
while time.monotonic() < end:
    locks.acquire("bench", sys.argv[1], ttl=30)
    locks.release("bench", sys.argv[1])
    count += 1
print(count)
"""

HOLDER = """
released = []
for _ in range({rounds}):
    locks.acquire("latency", "holder", ttl=30)
    while not any(w.owner == "waiter" for info in locks.ls() for w in info.waiters):
        time.sleep(0.0005)
    time.sleep(0.002)  # the waiter is asleep on its socket by now
    locks.release("latency", "holder")
    released.append(time.time())
    while locks.holders("latency") and locks.holders("latency")[0].owner == "waiter":
        time.sleep(0.0005)
    while locks.holders("latency"):
        time.sleep(0.0005)
print(json.dumps(released))
"""

WAITER = """
granted = []
for _ in range({rounds}):
    while not locks.holders("latency"):
        time.sleep(0.0005)
    locks.acquire("latency", "waiter", ttl=30)
    granted.append(time.time())
    locks.release("latency", "waiter")
print(json.dumps(granted))
"""


BUSY_HANDLER = False


def run(folder: Path, bodies: list[tuple[str, list[str]]], timeout: float) -> list[str]:
    prelude = PRELUDE.format(app=str(Path(__file__).resolve().parent.parent / "app"), folder=str(folder),
                             busy_handler=BUSY_HANDLER)
    (folder / "go").unlink(missing_ok=True)
    children = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(body), *argv],
                                 stdout=subprocess.PIPE, text=True) for body, argv in bodies]
    (folder / "go").touch()
    outputs = []
    for child in children:
        out, _ = child.communicate(timeout=timeout)
        if child.returncode != 0:
            raise SystemExit(f"a benchmark process failed with status {child.returncode}")
        outputs.append(out)
    return outputs


def round_trips(folder: Path, seconds: float) -> bool:
    body = LOOPER.format(seconds=seconds)
    alone = int(run(folder, [(body, ["solo"])], seconds + 60)[0])
    print(f"round trips, one process:   {alone / seconds:8,.0f} acquire+release/s")
    counts = [int(out) for out in run(folder, [(body, ["a"]), (body, ["b"])], seconds + 60)]
    total = sum(counts) / seconds
    ok = total > ROUND_TRIP_BUDGET
    print(f"round trips, two processes: {total:8,.0f} acquire+release/s ({counts[0]:,} + {counts[1]:,} in "
          f"{seconds:g} s)")
    print(f"budget: > {ROUND_TRIP_BUDGET:,.0f}/s across two processes  {'PASS' if ok else 'FAIL'}")
    return ok


def latency(folder: Path, rounds: int) -> bool:
    released, granted = (json.loads(out) for out in run(
        folder, [(HOLDER.format(rounds=rounds), []), (WAITER.format(rounds=rounds), [])], 120 + rounds))
    delays = sorted(g - r for r, g in zip(released, granted, strict=True))
    p95 = delays[int(len(delays) * 0.95)]
    ok = p95 < LATENCY_BUDGET
    print(f"waiter latency over {rounds} rounds: p50 {statistics.median(delays) * 1e3:.2f} ms, p95 "
          f"{p95 * 1e3:.2f} ms, max {delays[-1] * 1e3:.2f} ms")
    print(f"budget: p95 < {LATENCY_BUDGET * 1e3:.0f} ms  {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--sqlite-busy-handler", action="store_true",
                        help="wait for the write lock with SQLite's busy handler instead of Store.contended's")
    args = parser.parse_args()
    global BUSY_HANDLER
    BUSY_HANDLER = args.sqlite_busy_handler
    with tempfile.TemporaryDirectory(prefix="agentmux-bench-coord-") as folder:
        ok = round_trips(Path(folder), args.seconds)
        ok = latency(Path(folder), args.rounds) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
