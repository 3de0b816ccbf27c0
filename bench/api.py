"""Benchmark: API routing (app/agentmux/api/). Each section is a function in SECTIONS; main runs them all.

Usage: .venv/bin/python bench/api.py [--requests 200] [--seconds 5] [--only NAME]

- limiter_decisions: two processes, each taking a permit of one shared key (limits high enough never to wait)
  and settling it, for `--seconds`: reserve+settle pairs per second, both together; one process alone for
  reference. No budget: the figure is printed (README: Benchmarks).
- gateway_overhead: what the loopback gateway (api/gateway.py) adds to one plain Messages API request against
  a fast fake on loopback (a minimal server of this file: each reply in one write, no Nagle delay): p50/p95 of
  the request's time through the gateway less its time sent directly, over `--requests` requests each way
  (interleaved), the client keeping its connection open as the SDK does.
  Budget: < 2 ms added at p95.
- first_byte: time to the first streamed byte (the SSE `message_start`) through the gateway versus directly,
  p50/p95 over `--requests` streamed requests. Budget: < 2 ms added at p95.
- usage_summary: what the TUI's usage read costs (api/summary.py `read_usage`, on the supervisor's thread at most
  every 2 s while requests are recorded): p50/p95 over 200 reads of a ledger of 120,000 requests by 20 agents on 2
  models, spread over 30 days, and again with all of them today; beside it the same summary added up from the
  ledger's rows (what the daily rollup saves), and what the rollup's trigger adds to recording one request.
  Budget: < 5 ms at p95.
The fake and the gateway each run in a process of their own, as they would; every connection is kept open
between requests, as the SDK keeps its own and the gateway its upstream ones. Three processes share the
machine's cores: the load average is printed, as a busy machine stretches the tails.
Exits 1 when a budget fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import _paths  # noqa: F401 - first: the package on sys.path
from _measure import proc_cpu

GATEWAY_BUDGET = 0.002
USAGE_BUDGET = 0.005
USAGE_ROWS = 120_000
FIRST_BYTE_BUDGET = 0.002
KEY = "sk-ant-bench-key-0123456789"

FAKE = """
import json, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGE = {{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-fake", "stop_reason": "end_turn",
           "content": [{{"type": "text", "text": "hi"}}], "usage": {{"input_tokens": 5, "output_tokens": 1}}}}
PLAIN = json.dumps(MESSAGE).encode()
EVENTS = [("message_start", {{"type": "message_start", "message": dict(MESSAGE, content=[])}}),
          ("content_block_start", {{"type": "content_block_start", "index": 0,
                                    "content_block": {{"type": "text", "text": ""}}}}),
          ("content_block_delta", {{"type": "content_block_delta", "index": 0,
                                    "delta": {{"type": "text_delta", "text": "hi"}}}}),
          ("content_block_stop", {{"type": "content_block_stop", "index": 0}}),
          ("message_delta", {{"type": "message_delta", "delta": {{"stop_reason": "end_turn"}},
                              "usage": {{"output_tokens": 1}}}}),
          ("message_stop", {{"type": "message_stop"}})]
CHUNKS = [b"%x\\r\\n%s\\r\\n" % (len(d), d) for d in
          (f"event: {{k}}\\ndata: {{json.dumps(v)}}\\n\\n".encode() for k, v in EVENTS)]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("stream"):
            self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/event-stream\\r\\n"
                             b"Transfer-Encoding: chunked\\r\\n\\r\\n" + CHUNKS[0])
            for chunk in CHUNKS[1:]:
                self.wfile.write(chunk)
            self.wfile.write(b"0\\r\\n\\r\\n")
        else:
            self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                             b"Content-Length: %d\\r\\n\\r\\n%s" % (len(PLAIN), PLAIN))

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
import threading
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"http://127.0.0.1:{{server.server_address[1]}}", flush=True)
sys.stdin.read()
"""

GATEWAY = """
import sys
sys.path.insert(0, {app!r})
from pathlib import Path
from agentmux.agents.tokens import agent_token, gateway_secret
from agentmux.api.gateway import Gateway, GatewayConfig
state = Path({state!r})
gateway = Gateway(state, GatewayConfig(upstream={upstream!r}, keys={{"bench": {key!r}}})).start()
print(gateway.url, agent_token(gateway_secret(state), "bench"), flush=True)
sys.stdin.read()
"""

BODY = json.dumps({"model": "claude-fake", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
STREAM_BODY = json.dumps({"model": "claude-fake", "max_tokens": 16, "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]})


@contextmanager
def child(code: str) -> Iterator[list[str]]:
    """A Python child running `code`, which prints one line of words when ready; ended when stdin closes. The
    words are followed by its pid."""
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        yield [*process.stdout.readline().split(), str(process.pid)]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def servers() -> Iterator[tuple[str, str, str, int]]:
    """(the fake's URL, the gateway's URL, the agent's token, the gateway's pid)."""
    with tempfile.TemporaryDirectory(prefix="agentmux-bench-api-") as state, \
            child(FAKE.format()) as (fake, _):
        code = GATEWAY.format(app=str(_paths.ROOT / "app"), state=state, upstream=fake, key=KEY)
        with child(code) as (gateway, token, pid):
            yield fake, gateway, token, int(pid)


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)


def plain(conn: http.client.HTTPConnection, key: str) -> float:
    """One non-streamed request on a kept connection: seconds to the whole reply."""
    started = time.perf_counter()
    conn.request("POST", "/v1/messages", BODY, {"x-api-key": key, "anthropic-version": "2023-06-01",
                                                "content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def first(conn: http.client.HTTPConnection, key: str) -> float:
    """One streamed request on a kept connection: seconds to its first body byte."""
    started = time.perf_counter()
    conn.request("POST", "/v1/messages", STREAM_BODY, {"x-api-key": key, "anthropic-version": "2023-06-01",
                                                       "content-type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and response.read1(1)
    elapsed = time.perf_counter() - started
    response.read()
    return elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def verdict(name: str, direct: list[float], through: list[float], budget: float, cpu: float) -> bool:
    added50 = pct(through, 0.5) - pct(direct, 0.5)
    added95 = pct(through, 0.95) - pct(direct, 0.95)
    ok = added95 < budget
    print(f"{name}: direct p50 {pct(direct, 0.5) * 1000:.2f} ms p95 {pct(direct, 0.95) * 1000:.2f} ms; "
          f"through the gateway p50 {pct(through, 0.5) * 1000:.2f} ms p95 {pct(through, 0.95) * 1000:.2f} ms; "
          f"added p50 {added50 * 1000:.2f} ms p95 {added95 * 1000:.2f} ms (mean "
          f"{(statistics.mean(through) - statistics.mean(direct)) * 1000:.2f} ms); the gateway's CPU "
          f"{cpu / len(through) * 1e6:.0f} us per request "
          f"[budget p95 < {budget * 1000:.0f} ms] {'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def gateway_overhead(args: argparse.Namespace) -> bool:
    requests = args.requests
    with servers() as (fake, gateway, token, pid):
        to_fake, to_gateway = connect(fake), connect(gateway)
        for _ in range(20):  # warm up: connections open, code paths hot
            plain(to_fake, KEY)
            plain(to_gateway, token)
        direct, through = [], []
        cpu = proc_cpu(pid)
        for _ in range(requests):
            direct.append(plain(to_fake, KEY))
            through.append(plain(to_gateway, token))
        cpu = proc_cpu(pid) - cpu
        to_fake.close()
        to_gateway.close()
    return verdict("gateway overhead (plain request)", direct, through, GATEWAY_BUDGET, cpu)


def first_byte(args: argparse.Namespace) -> bool:
    requests = args.requests
    with servers() as (fake, gateway, token, pid):
        to_fake, to_gateway = connect(fake), connect(gateway)
        for _ in range(20):
            first(to_fake, KEY)
            first(to_gateway, token)
        direct, through = [], []
        cpu = proc_cpu(pid)
        for _ in range(requests):
            direct.append(first(to_fake, KEY))
            through.append(first(to_gateway, token))
        cpu = proc_cpu(pid) - cpu
        to_fake.close()
        to_gateway.close()
    return verdict("time to first streamed byte", direct, through, FIRST_BYTE_BUDGET, cpu)


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


def _fill_ledger(path: Path, days: float, now: float) -> None:
    """USAGE_ROWS requests of 20 agents on 2 models, evenly over the last `days` days (the rollup's trigger runs)."""
    import sqlite3

    from agentmux.store import Store

    Store(path).db.close()
    db = sqlite3.connect(path)
    rows = ((now - days * 86400 * n / USAGE_ROWS, f"agent-{n % 20:02d}", "default",
             ("claude-sonnet-4-5", "claude-haiku-4-5")[n // 20 % 2], 1000, 200, 0, 5000, 1.0, "200", "agent", 0.01)
            for n in range(USAGE_ROWS))
    db.executemany("INSERT INTO api_usage (at, agent, key, model, input, output, cache_write, cache_read, latency, "
                   "status, via, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def _reads(read: Callable[[], object], count: int = 200) -> tuple[float, float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times), pct(times, 95)


def usage_summary(args: argparse.Namespace) -> bool:
    """read_usage over a ledger of USAGE_ROWS requests: p95 within the budget, spread out and all today."""
    from agentmux.api.ledger import Ledger
    from agentmux.api.summary import read_usage
    from agentmux.store import MIGRATIONS, Store, split_sql

    ok = True
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for days, what in ((30.0, "over 30 days"), (0.9 * (now % 86400) / 86400, "all today")):
            path = Path(tmp) / f"usage-{days:.2f}.db"
            _fill_ledger(path, days, now)
            store = Store(path)
            rolled = store.db.execute("SELECT count(*) FROM api_usage_daily").fetchone()[0]
            db = store.db
            p50, p95 = _reads(lambda: read_usage(db, now))  # noqa: B023 - called before the loop goes on
            raw50, raw95 = _reads(lambda: db.execute(  # noqa: B023
                "SELECT agent, model, count(*), sum(input), sum(output), sum(cache_write), sum(cache_read), sum(cost) "
                "FROM api_usage GROUP BY agent, model").fetchall(), 20)
            passed = p95 < USAGE_BUDGET
            ok = ok and passed
            print(f"usage summary, {USAGE_ROWS:,} requests {what} ({rolled:,} rollup rows): p50 {p50 * 1000:.2f} / "
                  f"p95 {p95 * 1000:.2f} ms; from the ledger's rows instead p50 {raw50 * 1000:.1f} / "
                  f"p95 {raw95 * 1000:.1f} ms  [budget p95 < {USAGE_BUDGET * 1000:.0f} ms] "
                  f"{'PASS' if passed else 'FAIL'}", flush=True)
            store.close()
        # what the trigger adds to recording a request: the same records with and without it, interleaved
        path = Path(tmp) / "record.db"
        store = Store(path)
        book = Ledger(store)
        timed: dict[bool, list[float]] = {True: [], False: []}
        for n in range(600):
            rolled_up = n % 2 == 0
            if not rolled_up:
                store.db.execute("DROP TRIGGER api_usage_rollup")
            started = time.perf_counter()
            book.record(agent="a", key="default", model="claude-sonnet-4-5", input=100, output=10, at=now)
            timed[rolled_up].append(time.perf_counter() - started)
            if not rolled_up:
                store.db.execute(split_sql(MIGRATIONS[9])[-1])  # the trigger, back
        print(f"recording one request: p50 {statistics.median(timed[False]) * 1e6:.0f} µs without the rollup's "
              f"trigger, {statistics.median(timed[True]) * 1e6:.0f} µs with it (no budget)", flush=True)
        store.close()
    return ok


SECTIONS: list[Callable[[argparse.Namespace], bool]] = [
    lambda args: limiter_decisions(args.seconds), gateway_overhead, first_byte, usage_summary]
"""Every section of this benchmark: a function of the command line's options, True when its budget holds."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests each way (the gateway's sections)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds a timed section runs")
    parser.add_argument("--only", metavar="NAME", help="run one section (by function name)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    ok = True
    for section in SECTIONS:
        name = "limiter_decisions" if section.__name__ == "<lambda>" else section.__name__
        if args.only is None or name == args.only:
            ok = section(args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
