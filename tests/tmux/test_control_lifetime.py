"""The control client (`tmux -C`) of an agentmux process ends with that process, however it ends.

tmux 3.3a reads a control client's stdin and writes its stdout itself; when such a write fails because the
reader is gone, the server keeps the output and never lets the client exit, and `kill-server` then waits for
that client forever. A process that died with a reply or a notification on its way left both behind.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from agentmux.cli import main
from agentmux.tmux import backend
from agentmux.tmux.backend import TmuxServer
from tests.conftest import Env, tmux_processes, wait_until


def control_clients(env: Env, parent: int | None = None) -> list[int]:
    """The control clients on the test's socket (of one parent process, when given)."""
    found = []
    for pid, args in tmux_processes(env.socket).items():
        if " -C " not in f" {args} ":
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if parent is None or int(stat[stat.rfind(")") + 2:].split()[1]) == parent:
            found.append(pid)
    return found


def unread_input(pid: int) -> int:
    """Bytes written to the process's stdin (a pipe) that nobody has read yet."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    finally:
        os.close(fd)


def test_a_killed_agentmux_process_leaves_no_control_client_and_the_server_still_ends(env: Env) -> None:
    """`agentmux serve` is killed while a command it sent over its control connection is still unanswered (the
    server is held stopped to make that moment certain). Before the control client died with its process, the
    server answered into a pipe nobody read, the client stayed (parent 1) and `kill-server` did not end the
    server either."""
    env.write_config('''
[[agents]]
name = "one"
command = "exec sleep 600"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    serve = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(env.config_path), "serve"],
                             env=env.environ, cwd=env.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        clients = wait_until(lambda: control_clients(env, parent=serve.pid), message="serve's control client")
        assert isinstance(clients, list)
        [client] = clients
        server = int(env.tmux("display-message", "-p", "#{pid}").stdout.strip())
        os.kill(server, signal.SIGSTOP)
        try:
            wait_until(lambda: unread_input(client) > 0, message="a command serve sent that tmux has not read")
            serve.kill()
            serve.wait(timeout=10)
        finally:
            os.kill(server, signal.SIGCONT)
        wait_until(lambda: client not in control_clients(env), timeout=10,
                   message=f"the control client (pid {client}) of the killed serve to end")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
    env.tmux("kill-server")
    wait_until(lambda: not tmux_processes(env.socket), timeout=10, message="kill-server to end every tmux process")


def test_a_control_connection_outlives_the_thread_that_opened_it(env: Env) -> None:
    """The parent-death signal comes when the *thread* that started a process ends: a connection a worker thread
    opened (the TUI's supervisor and actions run in workers) must live on after it, for whoever uses it next."""
    env.write_config('''
[[agents]]
name = "one"
command = "exec sleep 600"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    server = TmuxServer(env.socket)
    try:
        opened = []
        worker = threading.Thread(target=lambda: opened.append(server.control()))
        worker.start()
        worker.join()
        wait_until(lambda: not Path(f"/proc/self/task/{worker.native_id}").exists(), message="the worker's end")
        [control] = opened
        assert control is not None
        assert control.run("display-message -p alive").lines == ["alive"]
        assert control.alive and control.process.poll() is None
        assert server.control() is control
    finally:
        server.close()


def test_a_control_connection_that_stops_answering_is_closed_not_left_running(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that tmux did not answer in time runs as plain clients; the connection it gave up on was only
    forgotten, and its client stayed attached for as long as the process ran."""
    env.write_config('''
[[agents]]
name = "one"
command = "exec sleep 600"
''')
    assert env.cli("up", "--no-serve").returncode == 0
    monkeypatch.setattr(backend, "CONTROL_TIMEOUT", 0.5)
    server = TmuxServer(env.socket)
    try:
        control = server.control()
        assert control is not None
        tmux = int(env.tmux("display-message", "-p", "#{pid}").stdout.strip())
        answers: list[tuple[bool, str]] = []
        os.kill(tmux, signal.SIGSTOP)
        try:
            asking = threading.Thread(target=lambda: answers.append(server.query("display-message", "-p", "late")))
            asking.start()
            wait_until(lambda: control.process.poll() is not None, timeout=10,
                       message="the control client tmux stopped answering to be closed")
        finally:
            os.kill(tmux, signal.SIGCONT)
        asking.join(timeout=30)
        assert answers == [(True, "late\n")]
    finally:
        server.close()


@pytest.mark.parametrize("command", [["up", "--no-serve"], ["ls"], ["queue", "add", "broken", "do it"],
                                     ["queue", "ls"], ["doctor"]])
def test_every_command_closes_the_control_connections_it_opens(env: Env, command: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Run in this process, so a connection left open is still there when the command returns (doctor left
    the two of the fleets it made for its checks; at the process's exit they raced tmux's notifications)."""
    env.broken_agent_with_a_task("waits")
    main(["--config", str(env.config_path), *command])
    capsys.readouterr()
    assert control_clients(env, parent=os.getpid()) == []
