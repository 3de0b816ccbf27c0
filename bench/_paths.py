"""Imported first by every benchmark: puts the package (app/) and this folder on sys.path, after loading the
standard library's `queue`. Python puts a script's own folder first on sys.path, and this folder holds
queue.py (the queue benchmark), which would otherwise stand in for the standard module that thread workers,
concurrent.futures and Textual need."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
import queue  # noqa: E402, F401 - the standard library's, now cached in sys.modules

sys.path[:0] = [str(ROOT / "app"), str(BENCH)]
