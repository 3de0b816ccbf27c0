"""PaneTail on windows made by hand: what tmux would capture, look after look (the real thing is in
tests/logs/test_capture.py)."""

from __future__ import annotations

from agentmux.logs.capture import PaneTail, row_span, screen_start
from agentmux.tmux.backend import PaneInfo

HEIGHT, WIDTH = 4, 20


def pane(history: int, limit: int = 1000) -> PaneInfo:
    return PaneInfo(session="s", pane_id="%1", pid=1, dead=False, dead_status=None, dead_signal=None, activity=0,
                    history_size=history, cursor_x=0, cursor_y=0, width=WIDTH, height=HEIGHT, agent="a",
                    history_limit=limit)


class Pane:
    """A pane's whole content (history rows then the screen) as lines that fit one row each."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tail = PaneTail("%1", settle=1.0)
        self.logged: list[str] = []

    @property
    def history(self) -> int:
        return max(0, len(self.lines) - HEIGHT)

    def look(self, now: float) -> None:
        info = pane(self.history)
        rows = self.tail.rows_wanted(info)
        window = self.lines[self.history - rows:] if rows else self.lines[self.history:]
        window = window + [""] * (rows + HEIGHT - len(window))
        captured = self.tail.take(info, "\n".join(window) + "\n", rows, now)
        if captured is None:
            captured = self.tail.take(info, "\n".join(self.lines[:self.history] + window[rows:]) + "\n",
                                      self.history, now)
        assert captured is not None
        self.logged += [text for _, text in captured.lines]

    def print(self, *lines: str) -> None:
        screen = self.lines[self.history:]
        used = len([line for line in screen if line]) if screen else 0
        self.lines = self.lines[:self.history] + screen[:used] + list(lines)


def test_row_span_counts_wrapped_rows_and_wide_characters() -> None:
    assert row_span("", 10) == 1
    assert row_span("x" * 10, 10) == 1
    assert row_span("x" * 11, 10) == 2
    assert row_span("日" * 5, 10) == 1
    assert row_span("a" + "日" * 5, 10) == 2  # the fifth wide character does not fit the end of the first row
    assert screen_start(["a", "b" * 25, "c", "d"], 4, 10) == 1


def test_lines_scrolled_off_are_logged_at_once_and_screen_lines_once_settled() -> None:
    p = Pane()
    p.print("one", "two")
    p.look(0.0)
    assert p.logged == []
    p.look(1.5)
    assert p.logged == ["one", "two"]
    p.print(*[f"n{i}" for i in range(10)])
    p.look(1.6)
    assert p.logged == ["one", "two"] + [f"n{i}" for i in range(6)]  # scrolled off: final
    p.look(3.0)
    assert p.logged == ["one", "two"] + [f"n{i}" for i in range(10)]


def test_a_line_redrawn_in_place_is_logged_once_when_it_settles() -> None:
    p = Pane()
    p.print("start")
    for frame in range(50):
        p.lines = ["start", f"spinner {frame}"]
        p.look(frame * 0.1)
    p.lines[-1] = "done"
    p.look(5.1)
    p.look(6.2)
    assert p.logged == ["start", "done"]


def test_a_line_erased_before_it_settled_is_logged_when_it_leaves() -> None:
    p = Pane()
    p.print("quick")
    p.look(0.0)
    p.lines = []  # the screen cleared (and its history: clear(1))
    p.look(0.2)
    assert p.logged == ["quick"]


def test_a_stale_history_size_is_caught_and_read_again() -> None:
    tail = PaneTail("%1", settle=1.0)
    first = "\n".join(["a", "b", "c", "d"]) + "\n"
    assert tail.take(pane(0), first, 0, 0.0) is not None
    # the sizes say 6 rows of history were added, but only 2 were asked for: the window misses lines
    assert tail.take(pane(6), "x\ny\n", 2, 0.1) is None
