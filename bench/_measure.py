"""CPU accounting shared by the benchmarks (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """A process's own user+system CPU seconds (not its children's)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def own_cpu() -> float:
    """This process, every thread, plus its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
