"""`agentmux logs [NAME...]` and `agentmux logs export [NAME...]`: what agents printed, from the log database
(README, CLI: Logs). The filters become one `LogQuery` (`logs/timespec.py`, `user_query`); this module only
reads the store and prints.

Agent text is untrusted: every entry's text (and name) is shown through `ansi.one_line`, so an escape it holds
is written as `\\x1b` and never reaches the terminal; the only escapes printed are this module's own styles
(severity colours and highlighted matches, on a terminal). JSON escapes what could act on a terminal too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.cli.parser import DEFAULT_LIMIT
from agentmux.errors import AgentmuxError, UsageError
from agentmux.logs import LogEntry, LogQuery, LogStore, Severity
from agentmux.logs.store import LogStoreError
from agentmux.logs.timespec import FilterError, user_query
from agentmux.store import Store
from agentmux.supervisor.lease import current_holder

POLL_EVERY = 0.2
"""Seconds between looks for new entries while following."""
POLL_CHUNK = 2000
"""Entries read per look while following (more are read at once, without waiting)."""
LEASE_EVERY = 2.0
"""Seconds between checks, while following, that something still captures."""
NAME_WIDTH = 24
"""The agent column is as wide as the longest known name, up to this."""

SEVERITY_STYLES = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "", Severity.DEBUG: "2"}
"""SGR of each severity's label on a terminal: errors red, warnings yellow, debug dim."""
MATCH_STYLE = "1;7"
"""SGR of a match of --grep or --search on a terminal: bold, reversed."""
TIME_STYLE = "2"
JSON_UNSAFE_RE = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What JSON may carry raw but a terminal would act on (C1 controls such as CSI, line separators, bidi
overrides, lone surrogates); control characters below 32 JSON escapes itself."""
NOT_CAPTURING = ("nothing is capturing logs now: they are captured only while `agentmux up` (its supervisor, "
                 "agentmux serve) or agentmux-tui runs")


def json_line(value: dict[str, Any]) -> str:
    """One JSON object on one line, readable (UTF-8, not \\u escapes) but never acting on a terminal."""
    text = json.dumps(value, ensure_ascii=False)
    return JSON_UNSAFE_RE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def styled(text: str, sgr: str, colour: bool) -> str:
    return f"\x1b[{sgr}m{text}\x1b[0m" if colour and sgr else text


class Lines:
    """Turns entries into the lines `agentmux logs` prints: `HH:MM:SS.mmm agent severity text` (the date
    first when not today), or JSON objects."""

    def __init__(self, query: LogQuery, colour: bool, as_json: bool, width: int) -> None:
        self.query = query
        self.colour = colour
        self.as_json = as_json
        self.width = width

    def text(self, text: str) -> str:
        """The entry's text, escaped; matches highlighted on a terminal."""
        spans = self.query.spans(text) if self.colour and self.query.filters_text else []
        parts, at = [], 0
        for start, end in spans:
            parts.append(one_line(text[at:start]))
            parts.append(styled(one_line(text[start:end]), MATCH_STYLE, True))
            at = end
        parts.append(one_line(text[at:]))
        return "".join(parts)

    def stamp(self, at: float, today: tuple[int, int]) -> str:
        local = time.localtime(at)
        clock = time.strftime("%H:%M:%S", local) + f".{int(at * 1000) % 1000:03d}"
        return clock if (local.tm_year, local.tm_yday) == today else time.strftime("%Y-%m-%d ", local) + clock

    def render(self, entries: Iterable[LogEntry]) -> Iterator[str]:
        if self.as_json:
            for entry in entries:
                yield json_line(entry.to_json())
            return
        now = time.localtime()
        today = (now.tm_year, now.tm_yday)
        for entry in entries:
            label = entry.severity.label
            yield " ".join((styled(self.stamp(entry.at, today), TIME_STYLE, self.colour),
                            one_line(entry.agent).ljust(self.width),
                            styled(label, SEVERITY_STYLES[entry.severity], self.colour) + " " * (7 - len(label)),
                            self.text(entry.text)))


def write_lines(out: IO[str], lines: Iterable[str]) -> int:
    """Write lines (flushed at the end); how many."""
    count = 0
    for line in lines:
        out.write(line + "\n")
        count += 1
    out.flush()
    return count


def use_colour(choice: str, out: IO[str]) -> bool:
    if choice != "auto":
        return choice == "always"
    return out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def capturing(store: Store) -> bool:
    """Whether a process holds the supervisor lease: the lease holder is the one that captures logs."""
    return current_holder(store, time.time()) is not None


def note(text: str) -> None:
    print(f"agentmux: {text}", file=sys.stderr, flush=True)


def check_options(args: argparse.Namespace, export: bool) -> None:
    """Options that belong to the other form (`logs` or `logs export`) are refused, not ignored."""
    if export:
        for given, option in ((args.follow, "--follow"), (args.limit is not None, "--limit"),
                              (args.json, "--json"), (args.color != "auto", "--color")):
            if given:
                hint = " (its --format is jsonl by default)" if option == "--json" else ""
                raise UsageError(f"{option} is not for `agentmux logs export`, which writes every matching entry "
                                 f"once{hint}")
        return
    for given, option in ((args.format is not None, "--format"), (args.output is not None, "--output")):
        if given:
            raise UsageError(f"{option} is for `agentmux logs export` only (`agentmux logs export --help`)")
    if args.follow and args.until is not None:
        raise UsageError("--follow with --until: following shows new entries, which are never before --until")
    if args.limit is not None and args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of entries (0: all)")


def known_agents(actions: Actions, logs: LogStore) -> list[str]:
    """Agents in the config (in its order), then the others with entries (by name)."""
    names = actions.config.names()
    return names + [name for name in logs.agents() if name not in names]


def check_names(names: list[str], known: list[str]) -> None:
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if not unknown:
        return
    listed = ", ".join(repr(name) for name in unknown)
    which = f"no agent named {listed}" if len(unknown) == 1 else f"no agents named {listed}"
    raise UsageError(f"{which} (known: {', '.join(known)})" if known else
                     f"{which} (no agent is in the config or has log entries)")


def cmd_logs(actions: Actions, args: argparse.Namespace) -> int:
    export = args.names[:1] == ["export"]
    names = list(args.names[1:] if export else args.names)
    check_options(args, export)
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    try:
        query = user_query(names, grep=args.grep, ignore_case=args.ignore_case, search=args.search or "",
                           level=args.level, since=args.since, until=args.until, limit=limit or DEFAULT_LIMIT,
                           now=time.time())
    except FilterError as exc:
        raise UsageError(f"--{exc.name} {exc.value!r}: {exc.reason}") from None
    config = actions.config
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # text a terminal's encoding lacks is written as \u escapes, not refused
        reconfigure(errors="backslashreplace")
    logs = LogStore(config.logs_path, config.logs)
    try:
        known = known_agents(actions, logs)
        check_names(names, known)
        if export:
            return export_entries(logs, query, args.format or "jsonl", args.output)
        lines = Lines(query, use_colour(args.color, sys.stdout), args.json,
                      min(NAME_WIDTH, max((len(name) for name in known), default=0)))
        captured = capturing(actions.fleet.store)
        if not captured:
            note(NOT_CAPTURING)
        if args.follow:
            return follow(logs, query, lines, limit, actions.fleet.store, captured)
        entries = logs.export(query) if limit == 0 else logs.search(query)
        if not write_lines(sys.stdout, lines.render(entries)):
            note(nothing_matches(query))
        return 0
    except sqlite3.Error as exc:
        raise LogStoreError(f"cannot read the log database {config.logs_path}: {exc}") from None
    finally:
        logs.close()


def nothing_matches(query: LogQuery) -> str:
    narrowed = query.agents or query.filters_text or query.level is not None or query.since is not None \
        or query.until is not None
    return "no entries match" if narrowed else "no log entries yet"


def follow(logs: LogStore, query: LogQuery, lines: Lines, limit: int, store: Store, captured: bool) -> int:
    """Print the newest `limit` entries (0: all), then every new one as it is stored, until Ctrl-C (exit 0).
    Entries are read by id: each look asks for those after the last id it saw, so none is shown twice or
    skipped, whatever the filters. When capture stops (`captured`: it ran at the start), say so once."""
    started = time.time()
    seen = logs.newest_id()
    before = replace(query, before_id=seen + 1)
    write_lines(sys.stdout, lines.render(logs.export(before) if limit == 0 else logs.search(before)))
    # the entries to come are after --since unless it is still ahead; dropping it spares a search for its id
    polling = replace(query, since=query.since if query.since is not None and query.since > started else None,
                      limit=POLL_CHUNK)
    was_capturing = captured
    check_lease_at = time.monotonic() + LEASE_EVERY
    try:
        while True:
            newest = logs.newest_id()
            if newest > seen:
                entries = logs.search(replace(polling, after_id=seen))
                write_lines(sys.stdout, lines.render(entries))
                if len(entries) == POLL_CHUNK:  # more are waiting: read on at once
                    seen = entries[-1].id
                    continue
                seen = max(newest, entries[-1].id if entries else seen)
            if time.monotonic() >= check_lease_at:
                check_lease_at = time.monotonic() + LEASE_EVERY
                now_capturing = capturing(store)
                if was_capturing and not now_capturing:
                    note(NOT_CAPTURING)
                was_capturing = now_capturing
            wait_until = time.monotonic() + POLL_EVERY
            while (left := wait_until - time.monotonic()) > 0:
                time.sleep(left)
    except KeyboardInterrupt:
        return 0


def export_entries(logs: LogStore, query: LogQuery, form: str, output: str | None) -> int:
    """Every matching entry, oldest first, streamed from the store: JSON lines, or text lines as
    `LogEntry.to_text` writes them (escaped like every text agentmux prints). To standard output, or to a
    file written in one step (a new file readable by its owner only, like the log itself)."""
    def render(entries: Iterable[LogEntry]) -> Iterator[str]:
        for entry in entries:
            yield json_line(entry.to_json()) if form == "jsonl" else one_line(entry.to_text())

    if output is None or output == "-":
        count = write_lines(sys.stdout, render(logs.export(query)))
        if not count:
            note(nothing_matches(query))
        return 0
    path = Path(output)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8", newline="\n") as handle:
                count = write_lines(handle, render(logs.export(query)))
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise AgentmuxError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    print(f"wrote {count} entr{'y' if count == 1 else 'ies'} to {path}")
    return 0
