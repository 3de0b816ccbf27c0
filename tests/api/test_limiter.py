"""The shared rate limiter (api/limiter.py) with real processes, the real anthropic SDK and the loopback fake:
the sliding-window invariant seen from the fake's own log, a 429's retry-after holding every process back, the
rate-limit headers correcting the key, fairness between agents, and `waiting()`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import anthropic
import pytest

from agentmux.api.limiter import KeyLimits, Limiter, LimitTimeout, parse_reset
from agentmux.store import Store
from tests.conftest import ROOT, Env, wait_until
from tests.fake_anthropic import API_KEY, FakeAnthropic, Reply, Request


class TimedFake(FakeAnthropic):
    """The fake, keeping when each request arrived (`times`), replying with `answer(request)`."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.failures: list[Reply] = []
        super().__init__()

    def _next(self, request: Request) -> Reply:  # every request, side call or not, in arrival order
        with self._lock:
            self.requests.append(request)
            self.times.append(time.time())
            return self.failures.pop(0) if self.failures else Reply.text("ok")


@pytest.fixture
def fake() -> Iterator[TimedFake]:
    server = TimedFake()
    yield server
    server.close()


def store_of(env: Env) -> Store:
    return Store(env.state_dir / "test.db")


def run_workers(env: Env, fake: TimedFake, limits: dict[str, float], agents: list[str], count: int,
                go: bool = True) -> list[subprocess.Popen[str]]:
    store_of(env).db.close()  # migrated once, before the processes race
    start = env.root / "go"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.api.limiter_worker", str(env.state_dir / "test.db"), str(env.state_dir),
         fake.url, json.dumps(limits), str(count), agent, str(start)],
        cwd=ROOT, env=env.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for agent in agents]
    if go:
        start.touch()
    return procs


def results(procs: list[subprocess.Popen[str]]) -> list[list[dict[str, float]]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout))
    return out


def most_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for t in ordered[i:] if t < start + window) for i, start in enumerate(ordered)), default=0)


def test_processes_never_exceed_the_sliding_window(env: Env, fake: TimedFake) -> None:
    window, limit = 2.0, 10
    procs = run_workers(env, fake, {"requests_per_minute": limit, "window": window}, [f"a{i}" for i in range(6)], 4)
    done = results(procs)
    assert sum(len(r) for r in done) == 24 and len(fake.times) == 24
    assert most_in_window(fake.times, window) <= limit
    assert most_in_window(fake.times, window) == limit  # it did let the limit through, not fewer
    # 24 requests at 10 per window take more than two windows (each permit holds its place from its grant to a
    # window after its reply), and not much more (a loaded machine adds its latency)
    assert 2 * window <= max(fake.times) - min(fake.times) < 4 * window + 4


def test_a_429_holds_every_process_back(env: Env, fake: TimedFake) -> None:
    fake.failures.append(Reply.failure(429, "rate_limit_error", "slow down", headers={"retry-after": "3"}))
    store = store_of(env)
    limiter = Limiter(store, env.state_dir, {"default": KeyLimits(requests_per_minute=100)})
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0)
    procs = run_workers(env, fake, {"requests_per_minute": 100}, ["b", "c", "d"], 2, go=False)
    permit = limiter.reserve("default", "a", 10, 10)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    permit.refused(float(caught.value.response.headers["retry-after"]))
    refused_at = fake.times[0]
    (env.root / "go").touch()
    results(procs)
    later = fake.times[1:]
    assert len(later) == 6
    assert min(later) >= refused_at + 3.0


def rfc3339(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def test_headers_correct_the_key(env: Env, fake: TimedFake) -> None:
    reset = time.time() + 2.0
    fake.failures.append(Reply.text("ok", headers={
        "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": rfc3339(reset),
        "anthropic-ratelimit-input-tokens-remaining": "39000", "anthropic-ratelimit-input-tokens-reset": rfc3339(reset),
    }))
    limiter = Limiter(store_of(env), env.state_dir, {"default": KeyLimits(requests_per_minute=100)})
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0)
    permit = limiter.reserve("default", "a", 10, 10)
    raw = client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=10,
                                                   messages=[{"role": "user", "content": "x"}])
    permit.settle(raw.parse().usage.input_tokens, raw.parse().usage.output_tokens, raw.headers)
    # our own count says 99 more may go; the API said none until the reset: another process waits for it
    told: list[tuple[str, float]] = []
    other = Limiter(store_of(env), env.state_dir, {"default": KeyLimits(requests_per_minute=100)})
    second = other.reserve("default", "b", 10, 10, on_wait=lambda reason, pause: told.append((reason, pause)))
    assert second.at >= reset - 0.01
    assert told and "requests-remaining was 0" in told[0][0]
    second.cancel()
    assert parse_reset("1.5", 100.0) == 101.5 and parse_reset("nonsense", 0) is None


def test_tokens_count_against_the_window(env: Env) -> None:
    limiter = Limiter(store_of(env), env.state_dir,
                      {"default": KeyLimits(input_tokens_per_minute=1000, output_tokens_per_minute=1000, window=1.0)})
    first = limiter.reserve("default", "a", 600, 100)
    first.settle(700, 50)  # the real usage replaces the estimate
    with pytest.raises(LimitTimeout, match="1000 input tokens per 1s"):
        limiter.reserve("default", "a", 400, 100, wait=0.2)
    started = time.monotonic()
    limiter.reserve("default", "a", 400, 100).cancel()
    assert time.monotonic() - started < 1.5
    # a cancelled permit gives its room back at once
    limiter.reserve("default", "b", 900, 100).cancel()
    limiter.reserve("default", "b", 900, 100, wait=0.1).settle(900, 10)


def test_one_agent_does_not_starve_another(env: Env) -> None:
    window = 1.0
    limits = {"default": KeyLimits(requests_per_minute=2, window=window)}
    store_of(env).db.close()
    grants: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(agent: str) -> None:
        limiter = Limiter(store_of(env), env.state_dir, limits)
        permit = limiter.reserve("default", agent, 1, 1)
        permit.settle(1, 1)
        with lock:
            grants.append((agent, permit.at))

    greedy = [threading.Thread(target=one, args=("greedy",)) for _ in range(7)]
    for thread in greedy:
        thread.start()
    watcher = Limiter(store_of(env), env.state_dir, limits)
    wait_until(lambda: len(watcher.waiting()) >= 5, message="the greedy agent's requests queued")
    waiting = watcher.waiting()
    assert {w.agent for w in waiting} == {"greedy"} and all(w.key == "default" for w in waiting)
    polite = threading.Thread(target=one, args=("polite",))
    polite.start()
    for thread in [*greedy, polite]:
        thread.join(timeout=30)
    order = [agent for agent, _ in sorted(grants, key=lambda grant: grant[1])]
    assert len(order) == 8
    queued_before = sum(1 for agent in order[:order.index("polite")] if agent == "greedy")
    # polite came when greedy had 5 queued (2 granted at once): it goes within the next window's two grants,
    # not after all of greedy's
    assert queued_before <= 4, order
    assert watcher.waiting() == []


def test_a_waiter_that_gives_up_leaves_no_row(env: Env) -> None:
    limiter = Limiter(store_of(env), env.state_dir, {"default": KeyLimits(requests_per_minute=1, window=5)})
    limiter.reserve("default", "a", 1, 1).settle(1, 1)
    with pytest.raises(LimitTimeout, match="1 requests per 5s"):
        limiter.reserve("default", "a", 1, 1, wait=0.1)
    assert limiter.waiting() == []
    with pytest.raises(Exception, match="unknown API key 'other'"):
        limiter.reserve("other", "a", 1, 1)


def test_permit_rows_are_logged(env: Env) -> None:
    store = store_of(env)
    limiter = Limiter(store, env.state_dir, {"default": KeyLimits()})
    limiter.reserve("default", "a", 5, 6).settle(7, 8)
    limiter.reserve("default", "b", 5, 6).cancel()
    rows = [tuple(row) for row in store.db.execute("SELECT key, agent, input, output, state FROM api_permits")]
    assert rows == [("default", "a", 7, 8, "settled"), ("default", "b", 0, 0, "cancelled")]


def test_share_weights_the_turns(env: Env) -> None:
    store = store_of(env)
    now = time.time()
    db = store.db
    for agent, permits in (("x", 2), ("y", 1)):
        for _ in range(permits):
            db.execute("INSERT INTO api_permits (key, agent, at, input, output, state, done) "
                       "VALUES ('k', ?, ?, 1, 1, 'settled', ?)", (agent, now, now))
    db.execute("INSERT INTO api_waiters (id, key, agent, share, since, seen, pid) VALUES (1, 'k', 'x', 2, 0, ?, 1)",
               (now,))
    db.execute("INSERT INTO api_waiters (id, key, agent, share, since, seen, pid) VALUES (2, 'k', 'y', 1, 0, ?, 1)",
               (now,))
    assert Limiter._head(db, "k", now - 60) == (1, "x")  # 2 permits for share 2 ties 1 for share 1: the oldest
    db.execute("INSERT INTO api_permits (key, agent, at, input, output, state) VALUES ('k', 'x', ?, 1, 1, 'held')",
               (now,))
    assert Limiter._head(db, "k", now - 60) == (2, "y")  # 3 for share 2 is more than 1 for share 1
