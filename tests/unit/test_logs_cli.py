"""`agentmux logs` and `agentmux logs export` as a user types them (README, CLI: Logs): real processes reading a
real log database that the test fills with `LogStore.append`, as the lease holder's capture would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import queue
import re
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmux import cli
from agentmux.ansi import one_line
from agentmux.cli.logs import NOT_CAPTURING
from agentmux.logs import LogEntry, LogQuery, LogStore, Severity, Stream
from agentmux.queue.model import SUPERVISOR_LEASE
from agentmux.store import Store
from agentmux.supervisor.lease import Holder
from tests.conftest import Env, assert_one_line, wait_until

AGENTS = '[[agents]]\nname = "builder"\ncommand = "true"\n\n[[agents]]\nname = "reviewer"\ncommand = "true"\n'
LINE_RE = re.compile(r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\.\d{3} (\S+) +(error|warning|info|debug) +(.*)")
SGR_RE = re.compile(r"\x1b\[[0-9;]*m")

CORPUS = [
    "Compiling agentmux v0.1.0", "error: connection refused (port 5432)", "Connection Refused by peer",
    "WARNING: deprecated call to foo()", "warning: unused variable `x`", "test result: 412 passed; 3 failed",
    "GET /api/v1/users 200 12ms", "GET /api/v1/orders 500 1203ms", "retrying in 5s (attempt 2/5)",
    "DEBUG cache hit ratio=0.93", "Traceback (most recent call last):", "ValueError: boom",
    "refused to connect: timeout after 30s", "naïve café: ünïcödé ok", "tab\there", "done in 3.2s",
    "the build is green", "build failed: exit status 2", "ok", "connection reset, refused again",
]
SEVERITIES = [Severity.INFO, Severity.ERROR, Severity.ERROR, Severity.WARNING, Severity.WARNING, Severity.ERROR,
              Severity.INFO, Severity.ERROR, Severity.INFO, Severity.DEBUG, Severity.ERROR, Severity.ERROR,
              Severity.ERROR, Severity.INFO, Severity.INFO, Severity.INFO, Severity.INFO, Severity.ERROR,
              Severity.DEBUG, Severity.WARNING]


def logs_of(env: Env) -> LogStore:
    config = env.load()
    return LogStore(config.logs_path, config.logs)


def fill(env: Env, entries: Sequence[LogEntry]) -> None:
    store = logs_of(env)
    store.append(entries)
    store.close()


def corpus_entries(start: float) -> list[LogEntry]:
    """The corpus, one line a second from `start`, alternating between the two agents."""
    return [LogEntry(at=start + i, agent=("builder", "reviewer")[i % 2], text=text, severity=severity)
            for i, (text, severity) in enumerate(zip(CORPUS, SEVERITIES, strict=True))]


def texts(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The texts of `--json` output, in order."""
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["text"] for line in result.stdout.splitlines()]


@pytest.fixture
def corpus(env: Env) -> Env:
    env.write_config(AGENTS)
    fill(env, corpus_entries(time.time() - 100))
    return env


# --- showing ---------------------------------------------------------------------------------------------


def stamp(at: float) -> str:
    """HH:MM:SS.mmm, the date first when it is not today."""
    clock = time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
    same_day = time.localtime(at)[:3] == time.localtime()[:3]
    return clock if same_day else time.strftime("%Y-%m-%d ", time.localtime(at)) + clock


def test_logs_prints_one_line_per_entry_in_time_order(corpus: Env) -> None:
    result = corpus.cli("logs")
    assert result.returncode == 0, result.stderr
    stored = logs_of(corpus).search(LogQuery())
    assert [e.text for e in stored] == CORPUS
    assert result.stdout.splitlines() == [
        f"{stamp(e.at)} {e.agent:<8} {e.severity.label:<7} {one_line(e.text)}" for e in stored]
    assert "\x1b" not in result.stdout, "no colour when standard output is not a terminal"
    assert result.stderr.count(NOT_CAPTURING) == 1  # nothing holds the lease in this test


def test_entries_of_another_day_show_their_date_and_columns_line_up(env: Env) -> None:
    env.write_config(AGENTS)
    old = time.time() - 3 * 86400
    fill(env, [LogEntry(at=old, agent="builder", text="long ago"),
               LogEntry(at=time.time(), agent="reviewer", text="now")])
    first, second = env.cli("logs").stdout.splitlines()
    assert first.startswith(time.strftime("%Y-%m-%d %H:%M:%S.", time.localtime(old)))
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} reviewer info    now", second)
    assert first.endswith(" builder  info    long ago")  # the agent column as wide as the longest name


def test_the_newest_200_by_default_and_limit(env: Env) -> None:
    env.write_config(AGENTS)
    now = time.time()
    fill(env, [LogEntry(at=now - 300 + i, agent="builder", text=f"line {i}") for i in range(300)])
    shown = texts(env.cli("logs", "--json"))
    assert shown == [f"line {i}" for i in range(100, 300)]
    assert texts(env.cli("logs", "--json", "--limit", "5")) == [f"line {i}" for i in range(295, 300)]
    assert texts(env.cli("logs", "--json", "-n", "0")) == [f"line {i}" for i in range(300)]


def test_names_choose_agents(corpus: Env) -> None:
    builder = [e.text for e in corpus_entries(0) if e.agent == "builder"]
    assert texts(corpus.cli("logs", "builder", "--json")) == builder
    assert texts(corpus.cli("logs", "reviewer", "builder", "builder", "--json")) == CORPUS


@pytest.mark.parametrize("pattern", [
    r"^[A-Z]", r"\d{3}", r"refused|timeout", r"(?i)warn", r"o.o", r"\bok\b", r"ms$", r"[^\x00-\x7f]", r"\t",
    r"(?:con){1}nect", r"x*", r"e(r)\1?or",
])
def test_grep_finds_what_python_re_finds(corpus: Env, pattern: str) -> None:
    assert texts(corpus.cli("logs", "--json", "--grep", pattern)) == [t for t in CORPUS if re.search(pattern, t)]
    assert texts(corpus.cli("logs", "--json", "-e", pattern, "-i")) == [
        t for t in CORPUS if re.search(pattern, t, re.IGNORECASE)]


@pytest.mark.parametrize("text", ["refused", "conn refused", '"refused to"', '"connection refused"', "BUILD",
                                  "café", '"e: c"', "unclosed \"quote"])
def test_search_finds_every_word_and_quoted_phrase_in_any_case(corpus: Env, text: str) -> None:
    try:
        terms = shlex.split(text)
    except ValueError:
        terms = text.replace('"', " ").split()
    expected = [t for t in CORPUS if all(term.casefold() in t.casefold() for term in terms)]
    assert texts(corpus.cli("logs", "--json", "--search", text)) == expected


def test_grep_and_search_and_names_narrow_together(corpus: Env) -> None:
    expected = [e.text for e in corpus_entries(0) if e.agent == "reviewer" and "refused" in e.text.lower()
                and re.search(r"\d", e.text)]
    assert texts(corpus.cli("logs", "reviewer", "-s", "refused", "-e", r"\d", "--json")) == expected


@pytest.mark.parametrize(("level", "lowest"), [("error", Severity.ERROR), ("warning", Severity.WARNING),
                                               ("WARN", Severity.WARNING), ("info", Severity.INFO),
                                               ("debug", Severity.DEBUG)])
def test_level_is_a_minimum(corpus: Env, level: str, lowest: Severity) -> None:
    assert texts(corpus.cli("logs", "--json", "--level", level)) == [
        t for t, severity in zip(CORPUS, SEVERITIES, strict=True) if severity >= lowest]


def test_since_and_until_as_durations_and_times(env: Env) -> None:
    env.write_config(AGENTS)
    now = time.time()
    ages = {"3h": 3 * 3600, "2h": 2 * 3600, "30m": 1800, "1m": 60}
    fill(env, [LogEntry(at=now - age, agent="builder", text=name) for name, age in ages.items()])
    assert texts(env.cli("logs", "--json", "--since", "1h")) == ["30m", "1m"]
    assert texts(env.cli("logs", "--json", "--until", "1h")) == ["3h", "2h"]
    assert texts(env.cli("logs", "--json", "--since", "2h30m", "--until", "45m")) == ["2h"]
    at_2h = datetime.fromtimestamp(now - 2 * 3600)
    iso = at_2h.replace(microsecond=0).isoformat()  # 2026-12-02T10:04:05: local time, to the second
    assert texts(env.cli("logs", "--json", "--since", iso)) == ["2h", "30m", "1m"]
    assert texts(env.cli("logs", "--json", "--until", iso)) == ["3h"]
    if at_2h.date() == datetime.now().date():  # a time today
        assert texts(env.cli("logs", "--json", "--since", at_2h.strftime("%H:%M:%S"))) == ["2h", "30m", "1m"]
    assert texts(env.cli("logs", "--json", "--since", "2d")) == list(ages)


def test_json_is_one_object_per_line_as_the_entry_has_it(env: Env) -> None:
    env.write_config(AGENTS)
    entry = LogEntry(at=time.time(), agent="reviewer", text='a "quoted" line', severity=Severity.WARNING,
                     stream=Stream.EVENT)
    fill(env, [entry])
    stored = logs_of(env).search(LogQuery())[0]
    line = env.cli("logs", "--json").stdout.splitlines()
    assert len(line) == 1
    assert json.loads(line[0]) == stored.to_json()
    assert set(json.loads(line[0])) == {"id", "at", "time", "agent", "stream", "severity", "text"}


# --- untrusted text --------------------------------------------------------------------------------------

HOSTILE = "title\x1b]0;pwned\x07 clear\x1b[2J\x1b[31m red \x9b31m c1 \u202eesrever\u2028next \x08\x7f end"


def test_agent_text_never_reaches_the_terminal_raw(env: Env) -> None:
    env.write_config(AGENTS)
    fill(env, [LogEntry(at=time.time(), agent="builder", text=HOSTILE, severity=Severity.ERROR)])
    for args in (("logs",), ("logs", "--color", "always", "-e", "red"), ("logs", "export", "--format", "text")):
        out = env.cli(*args).stdout
        shown = SGR_RE.sub("", out) if "--color" in args else out
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\u2028]", shown), (args, out)
        assert "\\x1b]0;pwned\\x07" in shown and "\\u202e" in shown and "\\x9b" in shown
    for args in (("logs", "--json"), ("logs", "export")):
        out = env.cli(*args).stdout
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\u2028]", out), (args, out)
        assert json.loads(out)["text"] == HOSTILE


def test_colours_and_highlights_only_when_asked_or_on_a_terminal(corpus: Env) -> None:
    coloured = corpus.cli("logs", "--color", "always", "-e", r"refus\w+").stdout
    assert "\x1b[31merror\x1b[0m" in coloured
    assert "\x1b[1;7mrefused\x1b[0m" in coloured and "\x1b[1;7mRefused\x1b[0m" not in coloured
    words = corpus.cli("logs", "--color", "always", "-s", "refused").stdout
    assert "\x1b[1;7mRefused\x1b[0m" in words and "\x1b[1;7mrefused\x1b[0m" in words
    warned = corpus.cli("logs", "--color", "always", "-l", "warning").stdout
    assert "\x1b[33mwarning\x1b[0m" in warned
    assert "\x1b" not in corpus.cli("logs", "-e", "refused").stdout

    on_tty = run_on_a_terminal(corpus, "logs", "-e", r"refus\w+")
    assert "\x1b[1;7mrefused\x1b[0m" in on_tty and "\x1b[31merror\x1b[0m" in on_tty
    assert "\x1b" not in run_on_a_terminal(corpus, "logs", "-e", r"refus\w+", extra_env={"NO_COLOR": "1"})


def run_on_a_terminal(env: Env, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """What the command writes when its standard output is a terminal (a pty), read until it exits."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(env.config_path), *args],
                               stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
                               env={**{k: v for k, v in env.environ.items() if k != "NO_COLOR"},
                                    "TERM": "xterm", **(extra_env or {})}, cwd=env.root)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    process.stderr.close()
    return b"".join(chunks).decode().replace("\r\n", "\n")


# --- export ----------------------------------------------------------------------------------------------


def test_export_writes_every_matching_entry_oldest_first(env: Env) -> None:
    env.write_config(AGENTS)
    now = time.time() - 20000
    entries = [LogEntry(at=now + i, agent=("builder", "reviewer")[i % 3 == 0], text=f"entry {i}",
                        severity=Severity.ERROR if i % 7 == 0 else Severity.INFO) for i in range(12_000)]
    fill(env, entries)  # more than one chunk of the store's export (5,000)
    exported = env.cli("logs", "export")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [row["text"] for row in rows] == [entry.text for entry in entries]
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert NOT_CAPTURING not in exported.stderr  # history is what it is: no note for an export

    errors = texts(env.cli("logs", "export", "builder", "-l", "error"))
    assert errors == [e.text for e in entries if e.agent == "builder" and e.severity is Severity.ERROR]

    text = env.cli("logs", "export", "reviewer", "--format", "text", "--since", "1d").stdout.splitlines()
    reviewer = [e for e in entries if e.agent == "reviewer"]
    stored = logs_of(env)
    assert text == [one_line(e.to_text()) for e in stored.export(LogQuery(agents=("reviewer",)))]
    assert len(text) == len(reviewer) and text[0].endswith(" reviewer error   entry 0")


def test_export_to_a_file(corpus: Env) -> None:
    target = corpus.root / "out" / "logs.jsonl"
    target.parent.mkdir()
    result = corpus.cli("logs", "export", "-o", str(target), "-e", "refused")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 3 entries to {target}"
    assert [json.loads(line)["text"] for line in target.read_text().splitlines()] == [
        t for t in CORPUS if "refused" in t]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["logs.jsonl"]  # no temporary file left
    again = corpus.cli("logs", "export", "--output", str(target), "--format", "text", "-e", "^ok$")
    assert again.stdout.strip() == f"wrote 1 entry to {target}"
    assert target.read_text().endswith(" builder debug   ok\n") and len(target.read_text().splitlines()) == 1
    missing = corpus.cli("logs", "export", "-o", str(corpus.root / "no" / "such" / "dir.jsonl"))
    assert missing.returncode == 1 and "cannot write" in missing.stderr
    assert_one_line(missing.stderr)


# --- nothing to show, bad input, failures ----------------------------------------------------------------


def test_no_match_is_exit_0_saying_so_on_stderr(corpus: Env) -> None:
    for args in (("logs", "-e", "zzz"), ("logs", "--json", "-s", "nothing like it"),
                 ("logs", "export", "-l", "error", "-e", "zzz")):
        result = corpus.cli(*args)
        assert (result.returncode, result.stdout) == (0, ""), args
        assert "agentmux: no entries match" in result.stderr


def test_an_empty_log_says_so(env: Env) -> None:
    env.write_config(AGENTS)
    result = env.cli("logs")
    assert (result.returncode, result.stdout) == (0, "")
    assert "no log entries yet" in result.stderr


def test_unknown_names_exit_2_naming_them_and_the_known_ones(corpus: Env) -> None:
    fill(corpus, [LogEntry(at=time.time(), agent="ghost", text="an agent since removed from the config")])
    one = corpus.cli("logs", "nobody")
    assert one.returncode == 2 and "no agent named 'nobody' (known: builder, reviewer, ghost)" in one.stderr
    assert_one_line(one.stderr)
    two = corpus.cli("logs", "export", "builder", "x1", "x2")
    assert two.returncode == 2 and "no agents named 'x1', 'x2' (known: builder, reviewer, ghost)" in two.stderr
    assert texts(corpus.cli("logs", "ghost", "--json")) == ["an agent since removed from the config"]


BAD = [
    (("--since", "5x"), "--since '5x': is not a time: give a duration ago (30s, 5m, 2h, 1d, 1h30m)"),
    (("--until", "30"), "--until '30': is a number without a unit: write 30s, 30m, 30h or 30d"),
    (("--since", "2026-13-01T10:00"), "is not a time (month must be in 1..12)"),
    (("--since", "1h", "--until", "2h"), "--until '2h': is not after since (1h)"),
    (("--level", "loud"), "--level 'loud': is not a level: choose error, warning, info or debug"),
    (("--grep", "("), "--grep '(': is not a regular expression: missing ), unterminated subpattern"),
    (("--grep", "(?<=a+)b"), "look-behind requires fixed-width pattern"),
    (("--limit", "-1"), "--limit -1: give a number of entries (0: all)"),
    (("--limit", "many"), "invalid int value"),
    (("--follow", "--until", "1h"), "--follow with --until"),
    (("--format", "text"), "--format is for `agentmux logs export` only"),
    (("-o", "x.jsonl"), "--output is for `agentmux logs export` only"),
    (("--color", "sometimes"), "invalid choice"),
    (("export", "--follow"), "--follow is not for `agentmux logs export`"),
    (("export", "--limit", "5"), "--limit is not for `agentmux logs export`"),
    (("export", "--json"), "--json is not for `agentmux logs export`, which writes every matching entry once "
                           "(its --format is jsonl by default)"),
    (("export", "--format", "xml"), "invalid choice: 'xml'"),
    (("--bogus",), "unrecognized arguments"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[" ".join(args) for args, _ in BAD])
def test_bad_input_is_a_usage_error_in_one_line(corpus: Env, args: tuple[str, ...], fragment: str) -> None:
    result = corpus.cli("logs", *args)
    assert result.returncode == 2, result
    assert fragment in result.stderr and result.stdout == ""
    assert_one_line(result.stderr)
    assert "Traceback" not in result.stderr


def test_a_log_database_that_cannot_be_read_exits_1(env: Env) -> None:
    env.write_config(AGENTS)
    path = env.load().logs_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database, just garbage " * 200)
    for args in (("logs",), ("logs", "export"), ("logs", "-f")):
        result = env.cli(*args)
        assert result.returncode == 1, (args, result)
        assert "log database" in result.stderr and str(path) in result.stderr
        assert_one_line(result.stderr)


def test_a_broken_config_exits_2(env: Env) -> None:
    env.write_config(AGENTS + "\n[logs]\nmax_mb = -1\n")
    result = env.cli("logs")
    assert result.returncode == 2 and "logs.max_mb: must be a number of MiB more than 0" in result.stderr


# --- who captures ----------------------------------------------------------------------------------------


def hold_lease(env: Env) -> tuple[Store, str]:
    """The supervisor lease held by this test's process (alive, so it counts as capturing)."""
    store = Store(env.load().store_path)
    holder = str(Holder.here("serve"))
    assert store.take_lease(SUPERVISOR_LEASE, holder, 3600, time.time())
    return store, holder


def test_no_note_while_something_captures(corpus: Env) -> None:
    store, holder = hold_lease(corpus)
    result = corpus.cli("logs")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    store.release_lease(SUPERVISOR_LEASE, holder)
    assert corpus.cli("logs").stderr.count(NOT_CAPTURING) == 1


# --- follow ----------------------------------------------------------------------------------------------


class Following:
    """`agentmux logs --follow ...` in a subprocess, its output read line by line with deadlines."""

    def __init__(self, env: Env, *args: str, stdin: str = "devnull") -> None:
        argv = [sys.executable, "-m", "agentmux", "--config", str(env.config_path), "logs", "--follow", *args]
        if stdin == "closed":  # no standard input at all (fd 0 closed), as under some supervisors
            argv = ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *argv]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env.environ, cwd=env.root)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout, self.out.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _read(stream: IO[str], put: object) -> None:
        for line in stream:
            put(line.rstrip("\n"))  # type: ignore[operator]

    def lines(self, count: int, timeout: float = 15.0) -> list[str]:
        """The next `count` lines, or fail at the deadline saying what came."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"wanted {count} lines within {timeout}s, got {len(got)}: {got[-5:]}; "
                                     f"stderr: {self.err}")
            try:
                got.append(self.out.get(timeout=left))
            except queue.Empty:
                continue
        return got

    def quiet(self, seconds: float = 0.6) -> bool:
        """Nothing more was printed for a while (the follower looks every 0.2 s)."""
        try:
            extra = self.out.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected line: {extra!r}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=15)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)


@contextlib.contextmanager
def following(env: Env, *args: str, stdin: str = "devnull") -> Iterator[Following]:
    follower = Following(env, *args, stdin=stdin)
    try:
        yield follower
    finally:
        follower.close()


def append_later(env: Env, batches: Sequence[Sequence[LogEntry]]) -> threading.Thread:
    """A second thread writing like the capture does: batch after batch, its own connection."""
    def write() -> None:
        store = logs_of(env)
        for batch in batches:
            store.append(batch)
        store.close()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_follow_prints_the_last_entries_then_new_ones_until_ctrl_c(env: Env, stdin: str) -> None:
    env.write_config(AGENTS)
    now = time.time()
    fill(env, [LogEntry(at=now - 10 + i, agent="builder", text=f"old {i}") for i in range(5)])
    with following(env, "builder", "--json", "-n", "2", stdin=stdin) as follower:
        assert [json.loads(line)["text"] for line in follower.lines(2)] == ["old 3", "old 4"]
        assert follower.quiet()
        many = [LogEntry(at=time.time(), agent="builder", text=f"new {i}") for i in range(4500)]
        others = [LogEntry(at=time.time(), agent="reviewer", text="not followed")]
        append_later(env, [many[:10], others, many[10:2500], many[2500:]]).join(timeout=60)
        shown = [json.loads(line)["text"] for line in follower.lines(len(many), timeout=30)]
        assert shown == [entry.text for entry in many]  # every one, in order, none twice, none of reviewer's
        assert follower.quiet()
        assert follower.interrupt() == 0
        assert not any("interrupted" in line or "Traceback" in line for line in follower.err), follower.err


def test_follow_with_filters_and_text_lines(env: Env) -> None:
    env.write_config(AGENTS)
    with following(env, "-s", "refused", "-l", "error") as follower:
        assert follower.quiet()  # an empty log: nothing yet
        append_later(env, [corpus_entries(time.time())]).join(timeout=60)
        expected = [(e.agent, one_line(e.text)) for e in corpus_entries(0)
                    if "refused" in e.text.lower() and e.severity >= Severity.ERROR]
        got = follower.lines(len(expected))
        parsed = [LINE_RE.fullmatch(line) for line in got]
        assert [(m[1], m[3]) if m else line for m, line in zip(parsed, got, strict=True)] == expected
        assert follower.quiet()
        assert follower.interrupt() == 0


def test_follow_says_once_when_capture_stops(env: Env) -> None:
    env.write_config(AGENTS)
    store, holder = hold_lease(env)
    with following(env) as follower:
        fill(env, [LogEntry(at=time.time(), agent="builder", text="while captured")])
        assert LINE_RE.fullmatch(follower.lines(1)[0])
        assert not any(NOT_CAPTURING in line for line in follower.err)
        store.release_lease(SUPERVISOR_LEASE, holder)
        wait_until(lambda: any(NOT_CAPTURING in line for line in follower.err), timeout=15,
                   message="the note that nothing captures")
        fill(env, [LogEntry(at=time.time(), agent="builder", text="written anyway")])
        assert follower.lines(1)[0].endswith("written anyway")
        assert follower.interrupt() == 0
    assert sum(NOT_CAPTURING in line for line in follower.err) == 1


# --- any command line ------------------------------------------------------------------------------------

words = st.text(st.characters(blacklist_characters="\0"), max_size=10).filter(
    lambda word: not word.startswith("-"))  # options come from the list below (never --follow: it never ends)
flags = st.sampled_from(["--grep", "-e", "-i", "--search", "--level", "error", "warn", "--since", "--until",
                         "5m", "2h", "10:00", "2026-12-02T10:00", "--json", "--limit", "0", "-1", "3", "export",
                         "--format", "text", "jsonl", "--color", "always", "builder", "reviewer", "(", "--", "-"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rest=st.lists(st.one_of(words, flags), max_size=6))
def test_any_logs_command_line_works_or_is_refused_in_one_line(corpus: Env, rest: list[str]) -> None:
    argv = ["--config", str(corpus.config_path), "logs", *rest]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    assert code in (0, 2), (rest, code, err.getvalue())
    if code:
        assert_one_line(err.getvalue())
        assert err.getvalue().startswith("agentmux: ") and "internal error" not in err.getvalue()
    else:
        assert "\x1b" not in SGR_RE.sub("", out.getvalue())


def test_help_shows_both_forms(env: Env) -> None:
    result = env.cli("logs", "--help")
    assert result.returncode == 0
    assert "agentmux logs [NAME...]" in result.stdout and "agentmux logs export [NAME...]" in result.stdout
