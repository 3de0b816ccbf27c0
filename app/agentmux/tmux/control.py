"""A persistent tmux control-mode client (`tmux -C`): many commands, one connection.

Commands are written to the client's stdin and their output comes back between `%begin` and
`%end`/`%error` lines, in order. One connection costs tmux far less than a client process per
command, and (unlike a stream of short-lived clients on tmux 3.3) never delays tmux's reaping of
exited pane processes. The client attaches to a hidden session with `no-output`, so tmux does not
stream every pane's output to it.

The client must end with the process that started it. tmux 3.3a reads the client's stdin and writes its
stdout itself (the client passes both to the server), and when a write fails because the reader is gone,
the server keeps that output forever and never tells the client to exit: the client waits for the server,
and the server, even after `kill-server`, waits for the client. A process that dies or exits without
`close()` while a reply or a notification is on its way leaves exactly that behind. So the client is
started with the parent-death signal set to SIGKILL (Linux `PR_SET_PDEATHSIG`): a killed client is a lost
client to tmux, which then lets it go. The signal fires when the *thread* that started the client ends,
so clients are started from one thread that lives as long as the process (`_Spawner`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass


class ControlClosed(Exception):
    """The control client is gone (tmux server exited, or the client was closed)."""


@dataclass(frozen=True)
class Reply:
    """One command's answer: its output lines and whether tmux reported an error."""

    ok: bool
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


PR_SET_PDEATHSIG = 1


def _pdeathsig_setter() -> Callable[[int], None] | None:
    """A function that, in a child between fork and exec, asks for `sig` when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int

    def ask(sig: int) -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return ask


_ASK_PDEATHSIG = _pdeathsig_setter()
"""Resolved once, in the parent: the child runs as little Python as it can between fork and exec."""


class _Spawner:
    """Starts processes that die with this process: from one daemon thread (never ended before the process
    is, so the parent-death signal fires only when the process ends), each with PR_SET_PDEATHSIG = SIGKILL,
    and killed at once when the parent is already gone by the time the child asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]],
                                                Future[subprocess.Popen[bytes]]]] = queue.SimpleQueue()
        self._pid: int | None = None

    def popen(self, argv: Sequence[str], env: Mapping[str, str] | None) -> subprocess.Popen[bytes]:
        parent = os.getpid()

        def die_with_parent() -> None:  # in the child, between fork and exec
            if _ASK_PDEATHSIG is not None:
                _ASK_PDEATHSIG(signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the child asked
                os.kill(os.getpid(), signal.SIGKILL)

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=None if env is None else dict(env), preexec_fn=die_with_parent,
            )  # buffered: an unbuffered pipe would cost the reader one read() system call per byte

        with self._lock:
            if self._pid != parent:  # first use, or a forked child that does not have the thread
                self._requests = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._requests,), name="tmux-control-spawner",
                                 daemon=True).start()
                self._pid = parent
            requests = self._requests
        started: Future[subprocess.Popen[bytes]] = Future()
        requests.put((start, started))
        return started.result()

    @staticmethod
    def _serve(requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]],
                                                 Future[subprocess.Popen[bytes]]]]) -> None:
        while True:
            start, started = requests.get()
            try:
                started.set_result(start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                started.set_exception(exc)


_SPAWNER = _Spawner()


class ControlClient:
    """A `tmux -C attach` process with a reader thread that matches replies to commands."""

    def __init__(self, args: list[str], session: str, env: dict[str, str] | None = None) -> None:
        self.process = _SPAWNER.popen(
            [*args, "-C", "attach-session", "-t", f"={session}", "-f", "ignore-size,no-output"], env)
        self._pending: deque[Future[Reply]] = deque()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="tmux-control-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self.process.poll() is None

    def run_many(self, commands: list[str], timeout: float = 10.0) -> list[Reply]:
        """Send commands (tmux syntax, one per line) in one write; their replies in the same order."""
        if not commands:
            return []
        futures: list[Future[Reply]] = [Future() for _ in commands]
        payload = ("\n".join(commands) + "\n").encode("utf-8")
        with self._write_lock:
            if not self.alive:
                raise ControlClosed("the tmux control client is not running")
            self._pending.extend(futures)
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(payload)
                self.process.stdin.flush()
            except (OSError, ValueError) as exc:  # ValueError: closed meanwhile by another thread
                self._fail_pending()
                raise ControlClosed(f"the tmux control client went away: {exc}") from None
        try:
            return [future.result(timeout) for future in futures]
        except FutureTimeout:
            raise ControlClosed(f"tmux did not answer within {timeout}s") from None

    def run(self, command: str, timeout: float = 10.0) -> Reply:
        return self.run_many([command], timeout)[0]

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._fail_pending()

    def _fail_pending(self) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(ControlClosed("the tmux control client closed"))

    def _read(self) -> None:
        """Match `%begin TIME NUMBER FLAGS` ... `%end|%error TIME NUMBER FLAGS` blocks to commands.

        Only blocks whose flags say they answer this client's commands (flags & 1) are ours; an end
        line counts only with the same time and number as its begin, so pane text never ends a block.
        """
        assert self.process.stdout is not None
        block: tuple[str, bool] | None = None
        lines: list[str] = []
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n").removesuffix("\r")
            if block is not None:
                key, ours = block
                kind, _, rest = line.partition(" ")
                if kind in ("%end", "%error") and rest == key:
                    if ours and self._pending:
                        self._pending.popleft().set_result(Reply(kind == "%end", lines))
                    block, lines = None, []
                else:
                    lines.append(line)
            elif line.startswith("%begin "):
                key = line[len("%begin "):]
                flags = key.rsplit(" ", 1)[-1]
                block = (key, flags.isdigit() and int(flags) & 1 == 1)
            elif line.startswith("%exit"):
                break
        self._closed.set()
        self._fail_pending()
