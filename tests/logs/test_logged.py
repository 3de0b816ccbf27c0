"""What reaches the log database from real agents: masked secrets, severities, caps, search equal to grep
(README, "Logs")."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agentmux.logs import LogQuery, Severity
from tests.conftest import Env, Supervisors
from tests.logs.conftest import Driven, MakeDriven
from tests.logs.test_capture import settle

SECRET = "hunter2-Zq8vX1-agent-own-secret"
KEY = "sk-ant-api03-" + "Q" * 40 + "-xyzAA"


def database_bytes(driven: Driven) -> bytes:
    path = driven.run.fleet.config.logs_path
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_secrets_and_key_shapes_never_reach_the_log_database(driven: MakeDriven,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", SECRET)
    d = driven(agent_extra='secrets = { TOKEN = "env:MY_TOKEN" }')
    d.send("env TOKEN token=")
    d.say(f"the key is {KEY} ok", "Authorization: Bearer abcdefghijklmnop1234", "-----BEGIN OPENSSH PRIVATE KEY-----",
          "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "-----END OPENSSH PRIVATE KEY-----", "plain after")
    d.until_logged(len(d.printed) + 1)
    texts = settle(d, 0.5)
    assert texts[1] == "token=[secret TOKEN] end"
    assert texts[2] == "the key is [redacted anthropic key] ok"
    assert texts[3] == "Authorization: Bearer [redacted bearer token]"
    assert texts[4:7] == ["[redacted private key]"] * 3
    assert texts[7] == "plain after"
    d.run.pipeline.logs.store.reclaim()  # whatever is in the WAL or the file
    raw = database_bytes(d)
    for value in (SECRET, KEY, "abcdefghijklmnop1234", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"):
        assert value.encode() not in raw, value
    main = d.run.fleet.config.store_path
    assert SECRET.encode() not in b"".join(p.read_bytes() for p in main.parent.glob(main.name + "*"))


def test_severities_from_the_default_rules(driven: MakeDriven) -> None:
    d = driven()
    d.say("Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
          "ZeroDivisionError: division by zero", "all fine", "WARN disk almost full", "FAILED tests/test_x.py::test_y",
          "✗ error: the demo failed", "DEBUG cache hit", "process exited with status 2")
    d.until_logged()
    got = {entry.text: entry.severity for entry in d.entries()}
    assert [got[text] for text in d.printed[1:]] == [Severity.ERROR] * 3 + [
        Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.ERROR, Severity.DEBUG, Severity.ERROR]
    errors = d.reader.search(LogQuery(level=Severity.ERROR))
    assert [entry.text for entry in errors] == [t for t in d.printed if got.get(t) is Severity.ERROR]


def test_search_matches_grep_over_the_same_lines(driven: MakeDriven, tmp_path: Path) -> None:
    d = driven()
    words = ["alpha", "beta", "gamma", "connection refused", "Timeout=30ms", "ünïcode", "日本"]
    lines = [f"{i:03d} {words[i % 7]} {words[(i * 3) % 7]} x{i % 11}" for i in range(150)]
    d.say(*lines)
    d.until_logged()
    logged = tmp_path / "logged.txt"
    logged.write_text("\n".join(d.texts()) + "\n")
    for pattern in (r"alpha.*gamma", r"x1[0-9]?$", r"Timeout=[0-9]+ms", r"^0[0-4]", r"日本 (beta|alpha)"):
        grep = subprocess.run(["grep", "-E", pattern, str(logged)], capture_output=True,
                              text=True).stdout.split("\n")[:-1]
        found = [entry.text for entry in d.reader.search(LogQuery(agents=(d.name,), regex=pattern, limit=10_000))]
        assert found == grep, pattern
    for text in ("connection refused", "timeout=30", "ÜNÏCODE", "refu"):
        found = [entry.text for entry in d.reader.search(LogQuery(text=f'"{text}"', limit=10_000))]
        assert found == [line for line in d.texts() if text.casefold() in line.casefold()], text


def test_caps_hold_while_agents_keep_printing(driven: MakeDriven) -> None:
    d = driven(logs="max_lines = 3000\nmax_mb = 2\nmax_lines_per_agent = 2500\nmax_mb_per_agent = 1")
    path = d.run.fleet.config.logs_path
    sizes = []
    for round_ in range(30):
        d.send(f"burst 400 round-{round_}-" + "p" * 80)
        d.run.until(lambda r=round_: any(t.startswith(f"round-{r}-") and t.endswith(" 399")
                                         for t in d.reader.search(LogQuery(limit=5)) for t in [t.text]),
                    message=f"round {round_} logged")
        sizes.append(path.stat().st_size)
    stats = d.run.pipeline.logs.store.stats()
    assert stats.per_agent[d.name][0] <= 2500
    assert stats.per_agent[d.name][1] <= 1024 * 1024
    assert max(sizes) <= 2 * 1024 * 1024
    assert max(sizes[15:]) <= max(sizes[:15]) * 1.1, sizes  # it stopped growing
    newest = d.reader.search(LogQuery(limit=1))[0].text
    assert newest.startswith("round-29-")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM log_lines").fetchone()[0] == stats.lines
    assert re.search(r" 399$", newest)


def test_a_log_database_that_cannot_be_opened_is_said_and_the_loop_goes_on(env: Env, running: Supervisors) -> None:
    env.write_config('[[agents]]\nname = "a"\ncommand = "echo hello; exec sleep 600"\n')
    path = env.load().logs_path
    path.mkdir(parents=True)  # a directory where the file should be
    run = running()
    looks = [run.tick() for _ in range(3)]
    assert looks[-1].logs_problem is not None
    assert str(path) in looks[-1].logs_problem and "logs are not written" in looks[-1].logs_problem
    run.until(lambda: run.fleet.store.agent("a").state.value == "idle", message="states still followed")
