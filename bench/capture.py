"""Benchmark: batched pane capture (one control-mode round trip per tick, persistent `tmux -C` client) against
one tmux client process per pane per tick.

Usage: .venv/bin/python bench/capture.py [--panes 8,32,64] [--seconds 5] [--rate 10]

Runs a private tmux server (own TMUX_TMPDIR, own -L socket, -f /dev/null) whose panes all print a numbered,
timestamped line 20 times a second. Modes:
- per-pane: libtmux Pane.capture_pane(), i.e. one short-lived `tmux capture-pane -p -e -t PANE` process per pane;
- batched: TmuxServer.capture(), which writes every pane's capture-pane command in one write to the persistent
  control-mode client (`tmux -C attach` to the hidden session `_agentmux`, opened by TmuxServer.control()) and
  reads one reply per capture.
For each pane count it measures, per mode:
- CPU as % of one core: this process (including the control client's reader thread) and its waited-for
  children (the short-lived tmux clients), plus the own utime+stime (/proc/PID/stat fields 14, 15) of the two
  long-lived processes: the tmux server and the `tmux -C` control client. The control client is a child of this
  process that is never waited for while measuring, so os.times() would not see its CPU (columns srv % and
  ctl % show those two shares; ctl % stays near 0 because tmux hands the client's stdin and stdout to the server,
  which reads the commands and writes the replies itself). The panes' printing programs and the hidden session's
  `tail -f /dev/null` are not included, and the hidden pane is never captured;
- achieved tick rate;
- latency from a line being printed (timestamp inside it) to the return of the first capture containing it.
Budget: batched must cost < 1/3 of per-pane at 32 panes; exits 1 when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import _paths  # noqa: E402, F401 - first: sys.path, and the standard library's queue before bench/queue.py

# isort: split

from libtmux.pane import Pane  # noqa: E402

from _measure import own_cpu, proc_cpu  # noqa: E402
from agentmux.tmux.backend import HIDDEN_SESSION, CaptureRequest, TmuxServer  # noqa: E402
from agentmux.tmux.control import ControlClient  # noqa: E402

TAG = "amb"
PRINT_HZ = 20
BUDGET_PANES = 32
BUDGET_RATIO = 1 / 3
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
    cpu: float  # % of one core, total
    server_cpu: float  # % of one core, the tmux server's share of `cpu`
    control_cpu: float  # % of one core, the control client's share of `cpu`
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




def run_mode(
    mode: str, tick: Callable[[Tracker], None] | None, server_pid: int, control_pid: int, seconds: float, rate: float
) -> Result:
    """Call `tick` at `rate` Hz for `seconds` (no catch-up bursts when late); None measures the idle cost.

    CPU = this process and its waited-for children + the tmux server + the control client (not waited for)."""
    tracker = Tracker()
    if tick is not None:
        tick(tracker)  # warm-up: sets each pane's starting line, records nothing
        tracker.latencies.clear()
    period = 1 / rate
    own0, server0, control0 = own_cpu(), proc_cpu(server_pid), proc_cpu(control_pid)
    wall0 = time.monotonic()
    due, end, ticks = wall0, wall0 + seconds, 0
    while (now := time.monotonic()) < end:
        if tick is None or now < due:
            time.sleep((end if tick is None else min(due, end)) - now)
            continue
        tick(tracker)
        ticks += 1
        due = max(due + period, time.monotonic() - period / 2)
    wall = time.monotonic() - wall0
    server, control = proc_cpu(server_pid) - server0, proc_cpu(control_pid) - control0
    cpu = own_cpu() - own0 + server + control
    share = 100 / wall
    return Result(mode, share * cpu, share * server, share * control, ticks / wall, tracker.latencies)


def per_pane_tick(panes: list[Pane]) -> Callable[[Tracker], None]:
    def tick(tracker: Tracker) -> None:
        for pane in panes:  # libtmux: one `tmux capture-pane -p -e -t PANE` client process per call
            lines = pane.capture_pane(escape_sequences=True) or []
            tracker.see(str(pane.pane_id), lines, time.time())

    return tick


def batched_tick(server: TmuxServer, control: ControlClient, pane_ids: list[str]) -> Callable[[Tracker], None]:
    requests = [CaptureRequest(pane_id) for pane_id in pane_ids]

    def tick(tracker: Tracker) -> None:
        found = server.capture(requests)  # all captures in one write to the control client, one reply each
        captured_at = time.time()
        require_control(server, control)  # else capture() fell back to one tmux client per pane
        for pane_id, text in found.items():
            tracker.see(pane_id, text.split("\n"), captured_at)

    return tick


def require_control(server: TmuxServer, control: ControlClient) -> None:
    """The measured control client must serve every capture: a replacement's CPU would go uncounted."""
    if server.control() is not control:
        raise RuntimeError("the tmux control client went away during the benchmark; results would be wrong")


def add_panes(server: TmuxServer, pane_ids: list[str], count: int) -> None:
    while len(pane_ids) < count:
        name = f"{TAG}{len(pane_ids)}"
        command = f"new-session -d -P -F #{{pane_id}} -s {name} -x 160 -y 48 --".split()
        result = server.run(*command, sys.executable, "-S", "-c", PRINTER)
        pane_ids.append(result.stdout.decode().strip())


def print_table(count: int, rate: float, results: list[Result]) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n{count} panes, 160x48, all printing {PRINT_HZ} lines/s, target {rate:g} Hz (load average {load})")
    heads = ("CPU % (proc+srv+ctl)", "srv %", "ctl %", "CPU ms/tick", "Hz", "p50 ms", "p95 ms", "lines")
    print(f"  {'mode':<20}" + "".join(f"{head:>{max(len(head), 6) + 2}}" for head in heads))
    for r in results:
        ticked = bool(r.latencies)
        cells = [f"{r.cpu:.1f}%", f"{r.server_cpu:.1f}%", f"{r.control_cpu:.1f}%"] + (
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
        # Opened before any measurement, so every mode (idle and per-pane too) runs with the same server state
        # and counts the control client's CPU.
        control = server.control()
        if control is None:
            raise RuntimeError("could not open the tmux control client")
        control_pid = control.process.pid
        hidden = [info.pane_id for info in server.list_panes() if info.session == HIDDEN_SESSION]
        print(f"private tmux server pid {server_pid}, TMUX_TMPDIR={run_dir}, -L {server.socket}, -f /dev/null")
        print(
            f"control client: `tmux -C attach` pid {control_pid}, on hidden session {HIDDEN_SESSION}"
            f" (pane {', '.join(hidden)}: tail -f /dev/null, never captured)"
        )
        print(
            "per-pane: libtmux Pane.capture_pane(escape_sequences=True), i.e. one `tmux capture-pane -p -e -t PANE`"
            " subprocess per pane per tick"
        )
        print(
            "batched:  TmuxServer.capture([CaptureRequest(pane) ...]), one control-mode round trip per tick"
            " (persistent `tmux -C` client): one write, one reply per pane (full 48-row screens)"
        )
        print(
            f"{args.seconds:g} s per mode; CPU = this process + its waited-for tmux clients + tmux server +"
            " control client (/proc utime+stime), excluding the panes' programs; latency = print -> capture"
        )
        for count in counts:
            add_panes(server, pane_ids, count)
            ids = pane_ids[:count]
            if set(ids) & set(hidden):
                raise RuntimeError(f"the hidden session's pane {hidden} is among the captured panes")
            time.sleep(1.0)  # let every new pane start printing
            panes = [Pane.from_pane_id(server.libtmux, pane_id) for pane_id in ids]
            measure = functools.partial(
                run_mode, server_pid=server_pid, control_pid=control_pid, seconds=args.seconds, rate=args.rate
            )
            idle = measure("idle (no capture)", None)
            per_pane = measure("per-pane (libtmux)", per_pane_tick(panes))
            batched = measure("batched (tmux -C)", batched_tick(server, control, ids))
            require_control(server, control)
            print_table(count, args.rate, [idle, per_pane, batched])
            ratios[count] = batched.cpu / per_pane.cpu
            tick_ratios[count] = ratios[count] * per_pane.hz / batched.hz
    finally:
        server.close()  # ends the control client (it detaches when its stdin closes)
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
