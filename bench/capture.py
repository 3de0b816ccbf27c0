"""Benchmark: batched pane capture (one tmux call per tick) against one tmux client per pane per tick.

Usage: .venv/bin/python bench/capture.py [--panes 8,32,64] [--seconds 5] [--rate 10]

Runs a private tmux server (own TMUX_TMPDIR, own -L socket, -f /dev/null) whose panes all print a numbered,
timestamped line 20 times a second, and for each pane count measures, per mode:
- CPU as % of one core: this process and its waited-for children (tmux clients), plus the tmux server's own
  utime+stime (/proc/PID/stat fields 14, 15; the panes' printing programs are not included);
- achieved tick rate;
- latency from a line being printed (timestamp inside it) to the return of the first capture containing it.
Budget: batched must cost < 1/3 of per-pane at 32 panes; exits 1 when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))

from libtmux.pane import Pane  # noqa: E402

from agentmux.tmux.backend import CaptureRequest, TmuxServer  # noqa: E402

TAG = "amb"
PRINT_HZ = 20
BUDGET_PANES = 32
BUDGET_RATIO = 1 / 3
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Each pane runs this: a numbered line with a wall-clock timestamp, PRINT_HZ times a second, on a fixed schedule.
PRINTER = f"""
import sys, time
write, flush, period = sys.stdout.write, sys.stdout.flush, 1 / {PRINT_HZ}
due, n = time.time(), 0
while True:
    n += 1
    write(f"{TAG} {{n}} {{time.time():.6f}}\\n")
    flush()
    due += period
    pause = due - time.time()
    if pause > 0:
        time.sleep(pause)
"""


@dataclass
class Result:
    mode: str
    cpu: float  # % of one core
    hz: float
    latencies: list[float] = field(default_factory=list)  # seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[round(q * (len(ordered) - 1))] * 1000 if ordered else float("nan")


class Tracker:
    """Remembers the newest line number seen per pane; records the latency of each line seen for the first time."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.latencies: list[float] = []

    def see(self, pane_id: str, lines: Iterable[str], captured_at: float) -> None:
        last = self.last.get(pane_id, 0)
        newest = last
        for line in reversed(list(lines)):  # new lines are at the bottom: stop at the first one already seen
            parts = line.split()
            if len(parts) != 3 or parts[0] != TAG:
                continue
            number = int(parts[1])
            if number <= last:
                break
            newest = max(newest, number)
            if last:  # the first capture of a pane only sets the starting point
                self.latencies.append(captured_at - float(parts[2]))
        self.last[pane_id] = newest


def server_cpu(pid: int) -> float:
    """The tmux server's own user+system CPU seconds (not its children's)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_mode(mode: str, tick: Callable[[Tracker], None] | None, server_pid: int, seconds: float, rate: float) -> Result:
    """Call `tick` at `rate` Hz for `seconds` (no catch-up bursts when late); None measures the idle cost."""
    tracker = Tracker()
    if tick is not None:
        tick(tracker)  # warm-up: sets each pane's starting line, records nothing
        tracker.latencies.clear()
    period = 1 / rate
    cpu0, wall0 = own_cpu() + server_cpu(server_pid), time.monotonic()
    due, end, ticks = wall0, wall0 + seconds, 0
    while (now := time.monotonic()) < end:
        if tick is None or now < due:
            time.sleep((end if tick is None else min(due, end)) - now)
            continue
        tick(tracker)
        ticks += 1
        due = max(due + period, time.monotonic() - period / 2)
    wall = time.monotonic() - wall0
    cpu = own_cpu() + server_cpu(server_pid) - cpu0
    return Result(mode, 100 * cpu / wall, ticks / wall, tracker.latencies)


def per_pane_tick(panes: list[Pane]) -> Callable[[Tracker], None]:
    def tick(tracker: Tracker) -> None:
        for pane in panes:  # libtmux: one `tmux capture-pane -p -e -t PANE` client process per call
            lines = pane.capture_pane(escape_sequences=True) or []
            tracker.see(str(pane.pane_id), lines, time.time())

    return tick


def batched_tick(server: TmuxServer, pane_ids: list[str]) -> Callable[[Tracker], None]:
    requests = [CaptureRequest(pane_id) for pane_id in pane_ids]

    def tick(tracker: Tracker) -> None:
        found = server.capture(requests)
        captured_at = time.time()
        for pane_id, text in found.items():
            tracker.see(pane_id, text.split("\n"), captured_at)

    return tick


def add_panes(server: TmuxServer, pane_ids: list[str], count: int) -> None:
    while len(pane_ids) < count:
        name = f"{TAG}{len(pane_ids)}"
        command = f"new-session -d -P -F #{{pane_id}} -s {name} -x 160 -y 48 --".split()
        result = server.run(*command, sys.executable, "-S", "-c", PRINTER)
        pane_ids.append(result.stdout.decode().strip())


def print_table(count: int, rate: float, results: list[Result]) -> None:
    print(f"\n{count} panes, 160x48, all printing {PRINT_HZ} lines/s, target {rate:g} Hz")
    heads = ("CPU % (proc+server)", "CPU ms/tick", "Hz", "p50 ms", "p95 ms", "lines")
    print(f"  {'mode':<20}" + "".join(f"{head:>{max(len(head), 6) + 2}}" for head in heads))
    for r in results:
        ticked = bool(r.latencies)
        cells = [f"{r.cpu:.1f}%"] + (
            [f"{10 * r.cpu / r.hz:.1f}", f"{r.hz:.1f}", f"{r.percentile(0.5):.1f}", f"{r.percentile(0.95):.1f}"]
            + [str(len(r.latencies))]
            if ticked
            else ["-"] * 5
        )
        note = f"  only {r.hz:.1f} Hz reached" if ticked and r.hz < 0.95 * rate else ""
        print(
            f"  {r.mode:<20}"
            + "".join(f"{cell:>{max(len(head), 6) + 2}}" for cell, head in zip(cells, heads, strict=True))
            + note
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panes", default="8,32,64", help="comma-separated pane counts (default 8,32,64)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per mode (default 5)")
    parser.add_argument("--rate", type=float, default=10.0, help="capture ticks per second (default 10)")
    args = parser.parse_args()
    counts = sorted({int(part) for part in args.panes.split(",") if part.strip()})

    run_dir = tempfile.mkdtemp(prefix="amb-", dir="/tmp")  # short: tmux socket paths are length-limited
    os.environ["TMUX_TMPDIR"] = run_dir
    os.environ["SHELL"] = "/bin/sh"
    for name in ("TMUX", "TMUX_PANE"):
        os.environ.pop(name, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below still kills the server
    server = TmuxServer(f"amb-{os.getpid()}", config_file=Path("/dev/null"))
    server_pid: int | None = None
    ratios: dict[int, float] = {}  # CPU per wall second
    tick_ratios: dict[int, float] = {}  # CPU per tick: fairer when per-pane falls behind the rate
    try:
        pane_ids: list[str] = []
        add_panes(server, pane_ids, 1)
        server_pid = int(server.run("display-message", "-p", "#{pid}").stdout.decode().strip())
        server.run("set-option", "-g", "default-shell", "/bin/sh")
        print(f"private tmux server pid {server_pid}, TMUX_TMPDIR={run_dir}, -L {server.socket}, -f /dev/null")
        print(
            "per-pane: libtmux Pane.capture_pane(escape_sequences=True), i.e. one `tmux capture-pane -p -e -t PANE`"
            " subprocess per pane per tick"
        )
        print("batched:  TmuxServer.capture([CaptureRequest(pane) ...]), one tmux call per tick (full 48-row screens)")
        print(f"{args.seconds:g} s per mode; CPU excludes the panes' printing programs; latency = print -> capture")
        for count in counts:
            add_panes(server, pane_ids, count)
            ids = pane_ids[:count]
            time.sleep(1.0)  # let every new pane start printing
            panes = [Pane.from_pane_id(server.libtmux, pane_id) for pane_id in ids]
            idle = run_mode("idle (no capture)", None, server_pid, args.seconds, args.rate)
            per_pane = run_mode("per-pane (libtmux)", per_pane_tick(panes), server_pid, args.seconds, args.rate)
            batched = run_mode("batched (one call)", batched_tick(server, ids), server_pid, args.seconds, args.rate)
            print_table(count, args.rate, [idle, per_pane, batched])
            ratios[count] = batched.cpu / per_pane.cpu
            tick_ratios[count] = ratios[count] * per_pane.hz / batched.hz
    finally:
        server.run("kill-server", check=False)
        if server_pid is not None:
            time.sleep(0.2)
            with contextlib.suppress(OSError):  # gone already (or a zombie waiting for init)
                if Path(f"/proc/{server_pid}/stat").read_text().split(") ", 1)[1][0] != "Z":
                    os.kill(server_pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)

    print(
        "\nCPU ratio batched / per-pane, per wall second: " + ", ".join(f"{n} panes {r:.2f}" for n, r in ratios.items())
    )
    print(
        "CPU ratio batched / per-pane, per tick:        "
        + ", ".join(f"{n} panes {r:.2f}" for n, r in tick_ratios.items())
    )
    if BUDGET_PANES not in ratios:
        print(f"budget: batched must cost < 1/3 of per-pane at {BUDGET_PANES} panes: SKIPPED ({BUDGET_PANES} not run)")
        return 0
    ok = ratios[BUDGET_PANES] < BUDGET_RATIO
    print(
        f"budget: batched must cost < 1/3 of per-pane at {BUDGET_PANES} panes: "
        f"{ratios[BUDGET_PANES]:.2f} -> {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
