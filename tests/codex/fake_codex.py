"""A stand-in for the Codex CLI in tests that need no Codex binary: it shows the screens recorded from the real CLI
(tests/codex/screens) and reads the keys it is sent.

    python fake_codex.py LOG [ARGS...]

It writes its arguments as the first line of LOG, then one line per prompt it reads (`prompt: TEXT`) and per key
it reads in its dialog (`key: K`). Prompts: `fail` shows the recorded failed turn (`■ {"error": ...}` above the
input box), `ask` the recorded approval dialog, which takes one key (a digit, y, n or Escape) and then shows
the input box again; any other prompt a short reply. Ctrl-C ends it (status 0).
"""

from __future__ import annotations

import re
import sys
import termios
import tty
from pathlib import Path

SCREENS = Path(__file__).resolve().parent / "screens"
BLANKS = re.compile(r"\n(?:[ \t]*\n)+")
WIDTH = 99


def recorded(name: str, start: str) -> list[str]:
    """The recorded screen `name` from its line `start` down, blank runs made one, cut to the pane's width."""
    lines = BLANKS.sub("\n\n", (SCREENS / f"{name}.txt").read_text()).splitlines()
    return [line[:WIDTH].rstrip() for line in lines[lines.index(start):]]


INPUT_BOX = recorded("idle", "› Ask Codex to do anything")


def show(lines: list[str]) -> None:
    sys.stdout.write("\033[H\033[2J" + "\n".join(lines))
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    log = Path(argv[0])
    with log.open("w") as out:
        out.write(" ".join(argv[1:]) + "\n")
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    line = ""
    try:
        show(["  >_ Fake Codex (recorded screens)", "", *INPUT_BOX])
        while True:
            char = sys.stdin.read(1)
            if char not in ("\r", "\n"):
                line += char
                continue
            prompt, line = line.strip(), ""
            with log.open("a") as out:
                out.write(f"prompt: {prompt}\n")
            if prompt == "fail":
                show(recorded("failed", "› fail"))
            elif prompt == "ask":
                show(recorded("waiting", "› make a file"))
                key = sys.stdin.read(1)
                with log.open("a") as out:
                    out.write(f"key: {'Escape' if key == chr(27) else key}\n")
                show([f"› {prompt}", "", f"• you pressed {key!r}", "", *INPUT_BOX])
            else:
                show([f"› {prompt}", "", "• ok", "", *INPUT_BOX])
    except KeyboardInterrupt:
        return 0
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
