"""Log capture in real tmux: every line an agent prints is logged once, in order, whatever the screen does
(README, "Logs")."""

from __future__ import annotations

import time

from tests.logs.conftest import Driven, MakeDriven


def settle(driven: Driven, seconds: float = 1.0) -> list[str]:
    """Tick a while longer: nothing more may come."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        driven.run.tick()
        time.sleep(0.05)
    return driven.texts()


def test_lines_are_logged_once_in_order(driven: MakeDriven) -> None:
    d = driven()
    d.say("first line", "second line", "third: with spaces   inside")
    assert d.until_logged() == d.printed
    d.send("burst 80 scrolled")
    d.printed += [f"scrolled {i}" for i in range(80)]
    d.say("after the burst")
    d.until_logged()
    assert settle(d) == d.printed


def test_clear_and_more_lines(driven: MakeDriven) -> None:
    d = driven()
    d.say("before clear 1", "before clear 2")
    d.until_logged()
    d.send("clear")
    d.say("after clear 1", "after clear 2")
    d.until_logged()
    d.send("clear")
    d.send("burst 40 again")
    d.printed += [f"again {i}" for i in range(40)]
    d.until_logged()
    assert settle(d) == d.printed


def test_a_spinner_redrawn_100_times_is_one_entry(driven: MakeDriven) -> None:
    d = driven()
    d.say("start")
    d.send("spin 100")
    d.printed.append("spinner done")
    d.send("status 100")
    d.printed += ["status final", "progress final"]
    d.say("end")
    d.until_logged()
    assert settle(d) == d.printed


def test_a_burst_that_trims_the_history(driven: MakeDriven) -> None:
    d = driven(settings="history_limit = 100")
    for round_ in range(6):  # 6 x 60 lines through a history of 100: trimmed again and again
        d.send(f"burst 60 r{round_}")
        d.printed += [f"r{round_} {i}" for i in range(60)]
        d.until_logged()
    assert settle(d) == d.printed


def test_wide_characters_and_long_lines_survive(driven: MakeDriven) -> None:
    d = driven()
    long = "long:" + "".join(f"{i % 10}" for i in range(350))  # wraps over 4 rows of 100
    wide = "wide: 日本語の文字と絵文字 🚀✓ — " + "漢字" * 60  # wider than a row
    d.say(long, wide, "tail line")
    d.until_logged()
    assert settle(d) == d.printed
    d.env.tmux("resize-window", "-t", "=d:", "-x", "57", "-y", "20")
    d.say("after resize", long)
    d.until_logged()
    assert settle(d) == d.printed
