"""A program for log capture tests: it runs in an agent's pane and prints what the test asks, one command per
line appended to a file (`say TEXT`, `burst N TAG`, `spin N`, `status N`, `clear`, `env NAME PREFIX`, `exit`), so
the test knows exactly which lines were printed."""

from __future__ import annotations

import os
import sys
import time

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def run(commands: str) -> None:
    done = 0
    print("driver ready", flush=True)
    while True:
        try:
            with open(commands, encoding="utf-8") as handle:
                lines = handle.read().split("\n")[:-1]
        except FileNotFoundError:
            lines = []
        for line in lines[done:]:
            word, _, rest = line.partition(" ")
            if word == "say":
                print(rest, flush=True)
            elif word == "burst":
                count, tag = rest.split(" ", 1)
                sys.stdout.write("".join(f"{tag} {i}\n" for i in range(int(count))))
                sys.stdout.flush()
            elif word == "spin":  # one line redrawn in place with a carriage return, then its final text
                for i in range(int(rest)):
                    sys.stdout.write(f"\r{FRAMES[i % len(FRAMES)]} working {i}")
                    sys.stdout.flush()
                    time.sleep(0.01)
                sys.stdout.write("\r\x1b[Kspinner done\n")
                sys.stdout.flush()
            elif word == "status":  # two bottom lines repainted in place (cursor up), like an agent CLI's box
                sys.stdout.write("status 0\nprogress 0\n")
                for i in range(1, int(rest)):
                    sys.stdout.write(f"\x1b[2A\r\x1b[Kstatus {i}\n\r\x1b[Kprogress {i}\n")
                    sys.stdout.flush()
                    time.sleep(0.01)
                sys.stdout.write("\x1b[2A\r\x1b[Kstatus final\n\r\x1b[Kprogress final\n")
                sys.stdout.flush()
            elif word == "clear":
                sys.stdout.write("\x1b[H\x1b[2J\x1b[3J")  # what clear(1) writes: screen and scrollback
                sys.stdout.flush()
            elif word == "env":  # print a variable of the agent's environment (its secret) inside a line
                name, _, prefix = rest.partition(" ")
                print(f"{prefix}{os.environ.get(name, '')} end", flush=True)
            elif word == "exit":
                return
        done = len(lines)
        time.sleep(0.02)


if __name__ == "__main__":
    run(sys.argv[1])
    os._exit(0)
