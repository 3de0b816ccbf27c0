"""A tmux server that does not answer, a stale socket file: doctor names each and its fix, `--fix` applies it
only after checking again, and every other command says one line pointing at doctor instead of failing raw.

The server that does not answer is a Unix socket at the test's socket path (under the test's own TMUX_TMPDIR)
served by a thread that accepts each connection and closes it, or writes garbage: tmux clients then say
"server exited unexpectedly". A real one is the test's own tmux server, stopped with SIGSTOP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmux.errors import AgentmuxError
from agentmux.tmux.backend import TmuxServer, socket_path
from tests.conftest import Env, assert_one_line, wait_until


class Unanswering:
    """Listens at `path`; each connection is closed at once, or first sent garbage."""

    def __init__(self, path: Path, garbage: bool) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.garbage = garbage
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection:
                if self.garbage:
                    with contextlib.suppress(OSError):
                        connection.sendall(b"\xff\x00garbage" * 512)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture(params=["closes", "garbage"])
def unanswering(request: pytest.FixtureRequest, env: Env) -> Iterator[Unanswering]:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "sleep 300"\n')
    fake = Unanswering(socket_path(env.socket, env.environ), garbage=request.param == "garbage")
    yield fake
    fake.close()


@pytest.mark.parametrize("args", [("ls",), ("up", "worker"), ("down",), ("send", "worker", "hi"),
                                  ("restart", "worker"), ("rm", "worker")], ids=lambda args: "-".join(args))
def test_commands_facing_a_server_that_does_not_answer_say_one_line_pointing_at_doctor(
        env: Env, unanswering: Unanswering, args: tuple[str, ...]) -> None:
    result = env.cli(*args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert f"the tmux server on socket '{env.socket}' does not answer" in result.stderr, result.stderr
    assert "server exited unexpectedly" in result.stderr and "`agentmux doctor`" in result.stderr


def test_doctor_names_it_and_fix_clears_the_socket_leaving_the_process_alone(env: Env,
                                                                            unanswering: Unanswering) -> None:
    path = socket_path(env.socket, env.environ)
    report = env.cli("doctor")
    assert report.returncode == 1
    lines = report.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAIL"))
    assert lines[failed].endswith(f"the tmux server on socket '{env.socket}' ({path}) does not answer: "
                                  "tmux said: server exited unexpectedly"), lines[failed]
    assert f"fix: `rm {path}`" in lines[failed + 1] and f"pid {os.getpid()}" in lines[failed + 1], lines[failed + 1]
    assert path.exists(), "doctor without --fix changes nothing"

    fixed = env.cli("doctor", "--fix")
    assert f"fixed: removed the socket file {path}" in fixed.stdout, fixed.stdout
    assert fixed.returncode == 0, fixed.stdout
    assert not path.exists()
    assert unanswering.thread.is_alive(), "what listened there is not a tmux server: it is left running"

    assert "all checks passed" in env.cli("doctor").stdout
    started = env.cli("up", "worker", "--no-serve")
    assert started.returncode == 0, started.stderr
    assert env.tmux("has-session", "-t", "=worker").returncode == 0
    assert env.cli("down", "--force").returncode == 0  # its program would outlive the server (issue 11, item 5)


def test_a_stopped_tmux_server_is_named_and_fix_ends_it(env: Env) -> None:
    env.write_config()
    assert env.tmux("new-session", "-d", "-s", "x", "sleep 300").returncode == 0
    pid = int(env.tmux("display-message", "-p", "#{pid}").stdout)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        listing = env.cli("ls")
        assert listing.returncode == 1 and "agentmux doctor" in listing.stderr
        # a command waited out a 30 s client timeout before probing (33 s in all); now a 5 s one, then the probe
        assert time.monotonic() - started < 20, "a stopped server is said without waiting out 30 s"
        report = env.cli("doctor")
        assert report.returncode == 1
        assert f"the tmux server on socket '{env.socket}'" in report.stdout and "no answer within" in report.stdout
        assert f"fix: `kill {pid}` ends that tmux server" in report.stdout, report.stdout

        fixed = env.cli("doctor", "--fix")
        assert f"fixed: ended the tmux server on socket '{env.socket}' (pid {pid})" in fixed.stdout, fixed.stdout
        assert fixed.returncode == 0, fixed.stdout
        wait_until(lambda: gone(pid), message="the stopped server to end")
        assert not socket_path(env.socket, env.environ).exists(), "the file it left behind is removed too"
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2] == "Z"


def test_fix_never_touches_a_server_that_answers(env: Env) -> None:
    env.write_config()
    assert env.tmux("new-session", "-d", "-s", "x", "sleep 300").returncode == 0
    with pytest.raises(AgentmuxError, match="is running now; nothing was done"):
        TmuxServer(env.socket).end_wedged()
    fixed = env.cli("doctor", "--fix")
    assert fixed.returncode == 0 and "fixed" not in fixed.stdout, fixed.stdout
    assert env.tmux("has-session", "-t", "=x").returncode == 0


def test_a_stale_socket_file_is_named_and_fix_removes_it(env: Env) -> None:
    env.write_config()
    path = socket_path(env.socket, env.environ)
    path.parent.mkdir(mode=0o700, parents=True)
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(path))
    left.close()  # the file stays, nobody listens: what tmux leaves when its server exits

    report = env.cli("doctor")
    assert report.returncode == 0, report.stdout
    assert f"{path} is left from a server that exited" in report.stdout and "--fix` removes it" in report.stdout
    assert path.exists()

    fixed = env.cli("doctor", "--fix")
    assert f"fixed: removed {path}" in fixed.stdout, fixed.stdout
    assert not path.exists()
    assert not Path(f"{path}.lock").exists()


def test_a_directory_at_the_socket_path_is_named_and_left_alone(env: Env) -> None:
    env.write_config()
    path = socket_path(env.socket, env.environ)
    path.mkdir(parents=True)
    report = env.cli("doctor")
    assert report.returncode == 1 and "is a directory, not a socket" in report.stdout, report.stdout
    fixed = env.cli("doctor", "--fix")
    assert "internal error" not in fixed.stdout + fixed.stderr and "not fixed" in fixed.stdout, fixed.stdout
    assert path.is_dir()
