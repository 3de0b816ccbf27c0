"""The layers of ARCHITECTURE.md ("Layers"), checked with import-linter: each layer imports only from the
layers below it, nothing below the TUI imports Textual, and no package has an import cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"})


def test_the_layers_hold_and_nothing_imports_in_a_cycle() -> None:
    result = lint_imports(ROOT / "app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_the_check_fails_when_a_lower_layer_imports_a_higher_one(tmp_path: Path) -> None:
    """The store (a lower layer) made to import the supervisor (a service above it): the contract breaks."""
    copy = tmp_path / "app"
    shutil.copytree(ROOT / "app" / "agentmux", copy / "agentmux", ignore=shutil.ignore_patterns("__pycache__"))
    store = copy / "agentmux" / "store.py"
    store.write_text(store.read_text() + "\nfrom agentmux.supervisor import pipeline  # noqa: E402,F401\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "Layers, top to bottom BROKEN" in result.stdout
    assert "agentmux.store -> agentmux.supervisor.pipeline" in result.stdout, result.stdout


def test_core_modules_do_not_import_textual_when_run() -> None:
    """Beyond the static check: importing every module below the TUI loads no Textual (the CLI stays light)."""
    check = (
        "import importlib, pkgutil, sys, agentmux\n"
        "for m in pkgutil.walk_packages(agentmux.__path__, 'agentmux.'):\n"
        "    if m.name != 'agentmux.__main__' and not m.name.startswith('agentmux.tui'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.'))\n"
        "sys.exit('imported Textual: ' + ', '.join(bad[:5]) if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT / "app"), "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
