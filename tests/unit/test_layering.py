"""Layering (DESIGN.md): nothing below the TUI imports Textual, so the CLI and agents' shells stay light."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

CHECK = textwrap.dedent("""
    import importlib
    import pkgutil
    import sys

    import agentmux

    imported = ["agentmux"]
    for module in pkgutil.walk_packages(agentmux.__path__, "agentmux."):
        name = module.name
        if name == "agentmux.__main__" or name == "agentmux.tui" or name.startswith("agentmux.tui."):
            continue
        importlib.import_module(name)
        imported.append(name)
    print("\\n".join(imported))
    textual = sorted(name for name in sys.modules if name == "textual" or name.startswith("textual."))
    if textual:
        sys.exit("imported Textual: " + ", ".join(textual[:10]))
""")


def test_core_modules_do_not_import_textual() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT / "app"), "PATH": "/usr/bin:/bin"}, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    imported = result.stdout.split()
    # The walk really covered the core: the layers DESIGN.md names are all there.
    for module in ("agentmux.cli", "agentmux.config", "agentmux.store", "agentmux.supervisor",
                   "agentmux.agents.lifecycle", "agentmux.agents.detectors", "agentmux.tmux.backend"):
        assert module in imported, f"{module} was not imported: {imported}"
    assert not any(name.startswith("agentmux.tui") for name in imported)
    assert "agentmux.__main__" not in imported
