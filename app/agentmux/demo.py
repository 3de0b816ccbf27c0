"""A small simulated AI coding agent for terminals, used by the demo fleet and by tests.

It looks and behaves enough like a real agent (prompt, busy spinner, yes/no questions, success and
error markers) for agentmux to watch it in a tmux pane, while staying fast and reproducible under
``--speed 0 --seed N``. Run it with ``python -m agentmux.demo``.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import select
import signal
import sys
import time
from collections.abc import Sequence

PROMPT = "demo> "
QUESTION = "? Apply these changes? [y/n] "
DONE = "✓ done:"
ERROR = "✗ error:"
CANCELLED = "^C cancelled"
"""What it prints when Ctrl-C cancels a task (a queued task it ends this way failed)."""
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
CLEAR_LINE = "\r\x1b[K"

RESET = "\x1b[0m"
BOLD_CYAN = "\x1b[1;36m"
CYAN = "\x1b[36m"
DIM = "\x1b[2m"
GREEN = "\x1b[32m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"

SOURCES = ("src/app.py", "src/models.py", "src/cli.py", "src/utils/io.py")
TESTS = ("tests/test_app.py", "tests/test_models.py", "tests/test_cli.py")
FAIL_REASONS = (
    "tests failed: 2 failing in tests/test_app.py",
    "type check failed: src/models.py:42: incompatible return value",
    "could not apply patch to src/cli.py (context mismatch)",
    "rate limited by the model API, giving up",
)


_trace_file: io.TextIOWrapper | None = None


def _trace(event: str, text: str = "") -> None:
    """With --trace FILE: append `TIME EVENT TEXT` (Unix seconds), for benchmarks and tests that need to know
    exactly when the prompt was shown and what arrived."""
    if _trace_file is not None:
        _trace_file.write(f"{time.time():.6f} {event} {text}".rstrip() + "\n")
        _trace_file.flush()


def _write(text: str) -> None:
    """Write text to stdout and flush, so pipes and tmux panes see it at once."""
    sys.stdout.write(text)
    sys.stdout.flush()


def _line(text: str, colour: str) -> None:
    """Write one coloured line."""
    _write(f"{colour}{text}{RESET}\n")


AUTOPILOT_TASKS = (
    "refactor the config parser", "add tests for the io module", "fix the flaky login test",
    "update the README", "bump dependencies", "review pull request 42", "profile the render loop",
    "ask whether to delete the old migrations",
)


def _typed_by_autopilot(wait: float | None, rng: random.Random) -> str | None:
    """A task the agent gives itself when nobody typed one within `wait` seconds (autopilot)."""
    if wait is None:
        return None
    try:
        ready, _, _ = select.select([sys.stdin], [], [], wait * rng.uniform(0.5, 1.5))
    except (OSError, ValueError):
        return None
    if ready:
        return None
    task = rng.choice(AUTOPILOT_TASKS)
    _write(task + "\n")
    return task


def _read_line(prompt: str, autopilot: float | None = None, rng: random.Random | None = None) -> str:
    """Show prompt and return one input line without its newline; raise EOFError at end of input.

    On EOF or Ctrl-C a newline is written first, so whatever is printed next starts on its own line.
    """
    _write(prompt)
    if prompt == PROMPT:
        _trace("prompt")
    try:
        own = _typed_by_autopilot(autopilot, rng or random.Random())
        if own is not None:
            return own
        line = sys.stdin.readline()
        _trace("input", line.rstrip("\r\n"))
    except KeyboardInterrupt:
        _write("\n")
        raise
    if not line:
        _write("\n")
        raise EOFError
    return line.rstrip("\r\n")


def _activity(rng: random.Random, task: str) -> list[str]:
    """Return a handful of coloured lines that look like a coding agent at work on task."""
    src, test = rng.choice(SOURCES), rng.choice(TESTS)
    bullet = f"{CYAN}●{RESET}"
    lines = [f"{bullet} Reading {src}"]
    words = [w for w in task.split()[1:] if w.isalnum()]
    if words and rng.random() < 0.5:
        lines.append(f'{bullet} Searching for "{rng.choice(words)}"')
    lines.append(f"{bullet} Editing {src} (+{rng.randint(1, 40)} −{rng.randint(0, 15)})")
    if rng.random() < 0.5:
        lines.append(f"{bullet} Editing {test} (+{rng.randint(1, 30)} −{rng.randint(0, 5)})")
    lines.append(f"{DIM}  running pytest…{RESET}")
    return lines


def _work(duration: float, lines: list[str]) -> None:
    """Print lines spread evenly over duration seconds while a spinner updates ~10 times a second.

    The spinner line is always cleared on the way out, including on Ctrl-C.
    """
    due = [duration * i / len(lines) for i in range(len(lines))]
    shown = 0
    start = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - start
            while shown < len(lines) and due[shown] <= elapsed:
                _write(f"{CLEAR_LINE}{lines[shown]}\n")
                shown += 1
            if elapsed >= duration:
                break
            frame = SPINNER_FRAMES[int(elapsed * 10) % len(SPINNER_FRAMES)]
            _write(f"{CLEAR_LINE}{YELLOW}{frame}{RESET} working… {elapsed:.1f}s")
            time.sleep(min(0.1, duration - elapsed))
    finally:
        _write(CLEAR_LINE)


def _ask() -> bool:
    """Ask the yes/no question until answered; return True for yes."""
    while True:
        answer = _read_line(QUESTION).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def _run_task(task: str, rng: random.Random, opts: argparse.Namespace) -> None:
    """Work on one task and print its outcome; the first word may force the outcome."""
    verb, _, rest = task.partition(" ")
    if verb == "sleep":
        try:
            seconds = float(rest)
        except ValueError:
            seconds = -1.0
        if not (math.isfinite(seconds) and seconds >= 0):
            _line(f"{ERROR} usage: sleep SECONDS", RED)
            return
        _work(seconds * opts.speed, [f"{CYAN}●{RESET} Waiting {rest.strip()}s"])
        _line(f"{DONE} {task}", GREEN)
        return
    # Always draw the same values in the same order, so a seed gives the same run whatever is forced.
    duration = rng.uniform(1.0, 4.0) * opts.speed
    fails = rng.random() < opts.fail_rate
    asks = rng.random() < opts.ask_rate
    if verb == "fail":
        fails, asks = True, False
    elif verb == "ask":
        fails, asks = False, True
    _work(duration, _activity(rng, task))
    if fails:
        _line(f"{ERROR} {rng.choice(FAIL_REASONS)}", RED)
        return
    if asks:
        if _ask():
            _line("✓ applied", GREEN)
        else:
            _line("✗ discarded", YELLOW)
    _line(f"{DONE} {task}", GREEN)


def _repl(opts: argparse.Namespace, rng: random.Random) -> None:
    """Read and run tasks until exit, EOF (EOFError) or Ctrl-C at the prompt (KeyboardInterrupt)."""
    while True:
        line = _read_line(PROMPT, opts.autopilot, rng)
        task = line.strip()
        if not task:
            continue
        if task in ("exit", "quit"):
            return
        if task == "echo" or task.startswith("echo "):
            _write(line.lstrip()[5:] + "\n")
            continue
        try:
            _run_task(task, rng, opts)
        except KeyboardInterrupt:
            _line(CANCELLED, YELLOW)  # a task it ends this way fails


def _probability(text: str) -> float:
    """Parse a probability between 0 and 1 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _speed(text: str) -> float:
    """Parse a finite, non-negative speed factor for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


class OptionError(Exception):
    """Options the demo agent would refuse, with argparse's reason."""


class _CheckingParser(argparse.ArgumentParser):
    """The demo's parser for checking options without running: a refusal raises OptionError instead of
    printing usage and exiting, and `--help` (which prints and exits instead of starting) is a refusal too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise OptionError(message or f"the demo agent would exit (status {status}) instead of starting")

    def print_help(self, file: io.TextIOBase | None = None) -> None:  # type: ignore[override]
        raise OptionError("-h/--help prints the options instead of starting the agent")


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The command-line parser (of `parser_class`)."""
    parser = parser_class(prog="python -m agentmux.demo", description=__doc__)
    parser.add_argument("--name", default="demo", help="name shown in the banner (default: demo)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--speed", type=_speed, default=1.0, help="work duration factor; 0 is instant")
    parser.add_argument("--ask-rate", type=_probability, default=0.3, help="chance a task asks y/n")
    parser.add_argument("--fail-rate", type=_probability, default=0.1, help="chance a task fails")
    parser.add_argument("--autopilot", type=_speed, default=None, metavar="SECONDS",
                        help="give itself a task when idle for about SECONDS (questions still wait for you)")
    parser.add_argument("--trace", metavar="FILE",
                        help="append when each prompt was shown and each line read (for benchmarks and tests)")
    return parser


def check_options(argv: Sequence[str]) -> str | None:
    """Why the demo agent would refuse to start with these options, or None. Prints nothing, never exits:
    the config uses it to refuse a demo agent's `command` when the file is read, not when it starts."""
    try:
        build_parser(_CheckingParser).parse_args(list(argv))
    except OptionError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the demo agent; return the exit status (0 on exit, EOF or Ctrl-C at the prompt)."""
    global _trace_file
    opts = build_parser().parse_args(argv)
    rng = random.Random(opts.seed)
    if opts.trace:
        _trace_file = open(opts.trace, "a", encoding="utf-8")  # noqa: SIM115 - open for the agent's whole life
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # never crash on a non-UTF-8 terminal
    # A parent may have left SIGINT ignored (e.g. a background job); Ctrl-C is our stop signal.
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: keep whatever handler there is
        previous = None
    try:
        _line(f"demo agent {opts.name} ready — type a task, 'exit' to quit", BOLD_CYAN)
        _repl(opts, rng)
    except (EOFError, KeyboardInterrupt):
        pass
    except BrokenPipeError:  # whoever read our output went away
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    _write("bye\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
