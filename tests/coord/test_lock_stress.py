"""Locks across processes, as agents in separate tmux sessions use them (README: Coordination, guarantees).

Eight processes contend for one lock for ten seconds. Each checks mutual exclusion itself through a shared
file (created with O_EXCL on entry, removed on exit: a second process inside fails to create it) and the
fencing tokens (each entry's token must be above every token seen before, kept in a second file), and
reports how often it got in and how long it waited. A holder killed with SIGKILL frees the lock when its
lease ends.
"""

from __future__ import annotations

import json
import signal
import statistics
import time

from tests.coord.conftest import Coord

CONTENDER = """
import json, os, time
from agentmux.coord.locks import Locks
from agentmux.store import Store
owner, seconds, folder = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
locks = Locks(Store(STORE), STATE)
go = folder / "go"
while not go.exists():
    time.sleep(0.005)
inside, fence = folder / "inside", folder / "fence"
end = time.monotonic() + seconds
entries, waits, violations = 0, [], []
while time.monotonic() < end:
    asked = time.monotonic()
    hold = locks.acquire("stress", owner, ttl=10, wait=30)
    waits.append(time.monotonic() - asked)
    try:
        os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        violations.append(f"{owner} got in while {inside.read_text() or 'someone'} was inside")
    inside.write_text(owner)
    seen = int(fence.read_text() or 0) if fence.exists() else 0
    if hold.token <= seen:
        violations.append(f"{owner}: token {hold.token} after {seen}")
    fence.write_text(str(hold.token))
    time.sleep(0.001)  # work inside: the window another holder would have to break in
    if inside.read_text() != owner:
        violations.append(f"{owner}: someone wrote {inside.read_text()!r} while it was inside")
    inside.unlink()
    locks.release("stress", owner)
    entries += 1
waits.sort()
print(json.dumps({"owner": owner, "entries": entries, "violations": violations, "max_wait": waits[-1],
                  "p95_wait": waits[int(len(waits) * 0.95)]}))
"""


def test_eight_processes_contending_for_ten_seconds_never_overlap_and_none_starves(coord: Coord, tmp_path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    children = [coord.spawn(CONTENDER, f"p{n}", "10", str(folder)) for n in range(8)]
    (folder / "go").touch()
    reports = []
    for child in children:
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    entries = [report["entries"] for report in reports]
    print("entries per process:", entries, "max wait", max(r["max_wait"] for r in reports),
          "p95 waits", [round(r["p95_wait"], 3) for r in reports])
    assert [v for report in reports for v in report["violations"]] == []
    assert min(entries) > 0.5 * statistics.mean(entries), f"unfair: {entries}"  # FIFO: nobody starves
    assert max(report["max_wait"] for report in reports) < 3.0
    tokens = int((folder / "fence").read_text())
    assert tokens == sum(entries)  # every grant had its own token, in order


HOLDER = """
import time
from agentmux.coord.locks import Locks
from agentmux.store import Store
hold = Locks(Store(STORE), STATE).acquire("stress", "doomed", ttl=float(sys.argv[1]), wait=0)
print(hold.token, hold.expires_at, flush=True)
time.sleep(3600)
"""


def test_a_holder_killed_with_sigkill_frees_the_lock_when_its_lease_ends(coord: Coord) -> None:
    holder = coord.spawn(HOLDER, "2")
    assert holder.stdout is not None
    token, expires_at = holder.stdout.readline().split()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    refused = coord.cli("lock", "acquire", "stress", "--as", "next", "--timeout", "0")
    assert refused.returncode == 1 and "held by doomed" in refused.stderr
    got = coord.cli("lock", "acquire", "stress", "--as", "next", "--timeout", "10", "--json")
    granted = time.time()
    assert got.returncode == 0, got.stderr
    hold = json.loads(got.stdout)
    assert hold["owner"] == "next" and hold["token"] == int(token) + 1
    assert hold["acquired_at"] >= float(expires_at)  # not before the lease ended
    assert granted - float(expires_at) < 2.0  # and soon after it
