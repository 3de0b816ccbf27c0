"""Benchmark: the log database and the TUI's memory with a large log.

Usage: .venv/bin/python bench/logs.py [--lines 1000000] [--agents 64] [--queries 40]

- ingest: `LogStore.append` of `--lines` lines of 60-120 characters from `--agents` agents, in batches of 2,000
  (what the lease holder hands it per look at a busy fleet), into a fresh file; the default severity rules
  (`Classifier`) timed apart over the same lines. Budget > 50,000 lines/s.
- search over what was stored: p50/p95 of `--queries` different queries each (newest 200 matches): a word, a
  phrase, a substring, a regular expression with a literal (all through the trigram index), the word with an
  agent filter and with a level filter, and a regular expression with no literal (unindexed, no budget).
  Budget p95 < 100 ms for the indexed ones.
- size: the file (and its WAL) per million lines.
- TUI RSS: the real AgentmuxApp (headless, 240x70) in a child process watching 64 running agents (kind
  command, silent, on a private tmux socket) while this process appends `--lines` lines for them to the log
  database the TUI reads; its VmRSS once its feed has read them all. Budget < 250 MB.
Exits 1 when a budget fails.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import _paths  # noqa: F401 - first: the package on sys.path
from agentmux.config import LogSettings
from agentmux.logs import LogEntry, LogQuery, LogStore, Severity
from agentmux.logs.severity import Classifier

WORDS = (
    "request", "served", "connection", "refused", "timeout", "build", "test", "passed", "failed", "module",
    "import", "file", "path", "value", "render", "cache", "worker", "queue", "retry", "upstream", "token", "parse",
    "config", "deploy", "commit", "branch", "review", "merge",
)
BATCH = 2000
BIG = LogSettings(max_lines=10**9, max_mb=100_000, max_lines_per_agent=10**9, max_mb_per_agent=100_000)


def lines(count: int, agents: int, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for number in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(7, 15)))
        kind = rng.random()
        prefix = "ERROR " if kind < 0.01 else "WARN " if kind < 0.03 else ""
        out.append((f"a{number % agents:02d}", f"{prefix}{number:08d} {words} t={rng.randint(1, 999)}ms"))
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ingest(path: Path, made: list[tuple[str, str]]) -> tuple[float, float]:
    classify = Classifier()
    started = time.perf_counter()
    severities = [classify(agent, text) for agent, text in made]
    classified = len(made) / (time.perf_counter() - started)
    store = LogStore(path, BIG)
    now = time.time() - len(made) / 1000
    total = 0.0
    for start in range(0, len(made), BATCH):
        batch = [LogEntry(at=now + (start + i) / 1000, agent=agent, text=text, severity=severities[start + i])
                 for i, (agent, text) in enumerate(made[start:start + BATCH])]
        began = time.perf_counter()
        store.append(batch)
        total += time.perf_counter() - began
    store.close()
    return len(made) / total, classified


def searches(path: Path, queries: int, agents: int) -> dict[str, tuple[float, float, bool]]:
    rng = random.Random(7)
    store = LogStore(path, BIG)
    pairs = [(a, b) for a in WORDS for b in WORDS if a != b]
    kinds: dict[str, tuple[list[LogQuery], bool]] = {
        "word": ([LogQuery(text=rng.choice(WORDS), limit=200) for _ in range(queries)], True),
        "phrase": ([LogQuery(text='"{} {}"'.format(*rng.choice(pairs)), limit=200) for _ in range(queries)], True),
        "substring": ([LogQuery(text=f'"{w[1:-1]} {v[:3]}"', limit=200)
                       for w, v in (rng.choice(pairs) for _ in range(queries))], True),
        "regex with a literal": ([LogQuery(regex=rf"{rng.choice(WORDS)} \w+ t=\d{{3}}ms", limit=200)
                                  for _ in range(queries)], True),
        "word, one agent": ([LogQuery(text=rng.choice(WORDS), agents=(f"a{rng.randrange(agents):02d}",), limit=200)
                             for _ in range(queries)], True),
        "word, errors only": ([LogQuery(text=rng.choice(WORDS), level=Severity.ERROR, limit=200)
                               for _ in range(queries)], True),
        "regex, no literal": ([LogQuery(regex=rf"^\w+ \d{{7}}{rng.randrange(10)} ", limit=200)
                               for _ in range(max(3, queries // 8))], False),
    }
    results = {}
    for name, (asked, indexed) in kinds.items():
        times = []
        for query in asked:
            began = time.perf_counter()
            store.search(query)
            times.append((time.perf_counter() - began) * 1000)
        results[name] = (statistics.median(times), percentile(times, 0.95), indexed)
    store.close()
    return results


CHILD = textwrap.dedent('''
    import asyncio, sys, time
    from pathlib import Path
    sys.path[:0] = [sys.argv[3]]
    from agentmux import config as config_module
    from agentmux.tui.app import AgentmuxApp

    async def main():
        app = AgentmuxApp(config_module.load(Path(sys.argv[1])))
        out = Path(sys.argv[2])
        async with app.run_test(size=(240, 70)) as pilot:
            while True:
                feed = app.buffer.feed if app.buffer is not None else None
                out.write_text(str(feed.last_id if feed is not None and feed.last_id is not None else -1))
                await pilot.pause(0.2)

    asyncio.run(main())
''')


def rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tui_rss(root: Path, count: int, agents: int, made: list[tuple[str, str]]) -> tuple[float, float]:
    """(RSS before the lines, RSS after the TUI read them all), in MB."""
    from agentmux import config as config_module
    from agentmux.agents.lifecycle import Fleet

    socket = f"bl{os.getpid()}"
    tmpdir = Path(tempfile.mkdtemp(prefix="amb-", dir="/tmp"))
    env = dict(os.environ, TMUX_TMPDIR=str(tmpdir))
    os.environ["TMUX_TMPDIR"] = str(tmpdir)
    os.environ.pop("TMUX", None)
    config_path = root / "agentmux.toml"
    config_path.write_text(f'[agentmux]\nsocket = "{socket}"\nstate_dir = "{root / "state"}"\n'
                           'tmux_config = "/dev/null"\n' + "".join(
                               f'\n[[agents]]\nname = "a{i:02d}"\ncommand = "exec sleep 3600"\n'
                               for i in range(agents)))
    config = config_module.load(config_path)
    fleet = Fleet(config)
    child = None
    try:
        for spec in config.agents:
            fleet.start(spec.name)
        progress = root / "feed"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(config_path), str(progress),
                                  str(Path(__file__).resolve().parent.parent / "app")], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (progress.exists() and progress.read_text().strip() not in ("", "-1")) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        before = rss_of(child.pid)
        store = LogStore(config.logs_path, BIG)
        now = time.time()
        for start in range(0, count, BATCH):
            store.append([LogEntry(at=now, agent=agent, text=text) for agent, text in made[start:start + BATCH]])
        newest = store.newest_id()
        store.close()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            text = progress.read_text().strip() if progress.exists() else ""
            if text.lstrip("-").isdigit() and int(text) >= newest:
                break
            time.sleep(0.5)
        else:
            raise SystemExit("the TUI did not read every line within 10 minutes")
        time.sleep(2)
        return before, rss_of(child.pid)
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
        fleet.close()
        subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "kill-server"], env=env, capture_output=True)
        shutil.rmtree(tmpdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="agentmux-bench-logs-"))
    ok = True
    try:
        made = lines(args.lines, args.agents)
        path = root / "logs.db"
        rate, classified = ingest(path, made)
        size = sum(p.stat().st_size for p in root.glob("logs.db*"))
        wal = Path(str(path) + "-wal")
        print(f"ingest: {rate:,.0f} lines/s into the store (budget > 50,000)  "
              f"{'PASS' if rate > 50_000 else 'FAIL'}")
        print(f"  severity rules: {classified:,.0f} lines/s (apart)")
        per_million = size / args.lines * 1_000_000 / 1e6
        print(f"size: {per_million:,.0f} MB per million lines (file {path.stat().st_size / 1e6:,.0f} MB, "
              f"WAL {wal.stat().st_size / 1e6 if wal.exists() else 0:,.1f} MB)")
        print(f"search over {args.lines:,} lines, newest 200 matches (p50 / p95 ms):")
        for name, (p50, p95, indexed) in searches(path, args.queries, args.agents).items():
            verdict = ("PASS" if p95 < 100 else "FAIL") if indexed else "(unindexed, no budget)"
            ok = ok and (p95 < 100 or not indexed)
            print(f"  {name:<22} {p50:7.1f} {p95:7.1f}  {verdict}")
        before, after = tui_rss(root, args.lines, args.agents, made)
        print(f"TUI RSS with {args.agents} agents: {before:.0f} MB at start, {after:.0f} MB after "
              f"{args.lines:,} lines (budget < 250)  {'PASS' if after < 250 else 'FAIL'}")
        ok = ok and rate > 50_000 and after < 250
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("all budgets PASS" if ok else "a budget FAILS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
