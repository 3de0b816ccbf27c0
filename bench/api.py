"""Benchmark: API routing (agentmux/api), one section per function; `main` runs them all.

Usage: .venv/bin/python bench/api.py [--seconds 5]

- limiter_decisions: two processes, each taking a permit of one shared key (limits high enough never to wait)
  and settling it, for `--seconds`: reserve+settle pairs per second, both together; one process alone for
  reference. No budget: the figure is printed (README: Benchmarks).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import _paths  # noqa: F401 - first: the package on sys.path

LIMITER_LOOP = """
import sys, time
from pathlib import Path
sys.path.insert(0, {app!r})
from agentmux.api.limiter import KeyLimits, Limiter
from agentmux.store import Store
folder = Path({folder!r})
limiter = Limiter(Store(folder / "bench.db"), folder, {{"default": KeyLimits(10**9, 10**9, 10**9, window={window})}})
while not (folder / "go").exists():
    time.sleep(0.001)
end = time.monotonic() + {seconds}
count = 0
while time.monotonic() < end:
    limiter.reserve("default", sys.argv[1], 100, 100).settle(90, 40, {{}})
    count += 1
print(count)
"""


def run_processes(folder: Path, body: str, names: list[str], timeout: float) -> list[int]:
    (folder / "go").unlink(missing_ok=True)
    children = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(body), name], stdout=subprocess.PIPE,
                                 text=True) for name in names]
    (folder / "go").touch()
    counts = []
    for child in children:
        out, _ = child.communicate(timeout=timeout)
        if child.returncode != 0:
            raise SystemExit(f"a benchmark process failed with status {child.returncode}")
        counts.append(int(out))
    return counts


def limiter_decisions(seconds: float, window: float = 60.0) -> bool:
    """reserve+settle per second across two processes sharing one key (no budget: printed)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from agentmux.store import Store

        Store(folder / "bench.db").db.close()  # migrated once, before the processes race
        body = LIMITER_LOOP.format(app=str(_paths.ROOT / "app"), folder=str(folder), seconds=seconds, window=window)
        alone = run_processes(folder, body, ["solo"], seconds + 60)[0]
        print(f"limiter, one process:   {alone / seconds:8,.0f} reserve+settle/s")
        counts = run_processes(folder, body, ["a", "b"], seconds + 60)
        print(f"limiter, two processes: {sum(counts) / seconds:8,.0f} reserve+settle/s ({counts[0]:,} + "
              f"{counts[1]:,} in {seconds:g} s)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    ok = all([limiter_decisions(args.seconds)])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
