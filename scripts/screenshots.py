"""Render the real agentmux screens to screenshots/NAME.svg and NAME.png for the README.

The scenes are the snapshot tests' (tests/snapshots/fixtures.py): a fixed demo-like fleet, a stopped
clock and fixed paths, so the pictures change only when the TUI does. PNGs come from `rsvg-convert`
when it is on PATH (apt: librsvg2-bin), else from cairosvg (PyPI) when it is importable.

    .venv/bin/python scripts/screenshots.py [NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "app")]

from tests.snapshots.fixtures import SCENES, SIZE, freeze_log_stamps, make_app  # noqa: E402

OUT = ROOT / "screenshots"
PNG_SCALE = 1.5
"""Zoom of the PNG over the SVG's own size, so text stays sharp in a README."""

Converter = Callable[[bytes, Path], None]


def for_converter(svg: str) -> bytes:
    """The SVG with its whitespace kept: without xml:space="preserve", librsvg drops the (non-breaking)
    spaces at the edges of each text run, gluing words and eating indentation."""
    return svg.replace("<svg ", '<svg xml:space="preserve" ', 1).encode("utf-8")


async def render(name: str) -> str:
    """One scene as SVG text, taken the way the snapshot tests take theirs (toasts included)."""
    make_config, scene = SCENES[name]
    app = make_app(make_config())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await scene(pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(simplify=True)


def rsvg_convert(svg: bytes, png: Path) -> None:
    subprocess.run(["rsvg-convert", "--zoom", str(PNG_SCALE), "--format", "png", "--output", str(png)],
                   input=svg, check=True)


def cairosvg_convert(svg: bytes, png: Path) -> None:
    import cairosvg

    cairosvg.svg2png(bytestring=svg, write_to=str(png), scale=PNG_SCALE)


def find_converter() -> tuple[str, Converter]:
    """The first SVG-to-PNG converter available here; exits with a clear message when there is none."""
    if shutil.which("rsvg-convert"):
        return "rsvg-convert", rsvg_convert
    if importlib.util.find_spec("cairosvg") is not None:
        return "cairosvg", cairosvg_convert
    sys.exit("screenshots: no SVG-to-PNG converter: install rsvg-convert (apt-get install librsvg2-bin) "
             "or cairosvg (pip install cairosvg)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"scenes to render (default: all of {', '.join(SCENES)})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SCENES]
    if unknown:
        parser.error(f"no scene named {', '.join(unknown)} (scenes: {', '.join(SCENES)})")
    names = args.names or list(SCENES)
    label, convert = find_converter()
    print(f"PNG converter: {label}")
    freeze_log_stamps()
    OUT.mkdir(exist_ok=True)
    for name in names:
        text = asyncio.run(render(name))
        svg, png = OUT / f"{name}.svg", OUT / f"{name}.png"
        svg.write_text(text, encoding="utf-8")
        convert(for_converter(text), png)
        print(f"{svg.relative_to(ROOT)}  {png.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
