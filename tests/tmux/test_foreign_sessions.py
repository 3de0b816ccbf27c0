"""Sessions on agentmux's socket that agentmux did not create are never killed: `up` refuses, naming the session,
the socket and how to remove it; `down` and `rm` leave them alone. agentmux's own dead panes are still replaced.

agentmux marks what it creates (`@agentmux_agent` on an agent's session, `@agentmux_serve`, `@agentmux_hidden`);
the foreign sessions here are made by hand with tmux on the test's private socket.
"""

from __future__ import annotations

import os
import signal

from tests.conftest import Env, assert_one_line, wait_until


def pane_pid(env: Env, session: str) -> str:
    result = env.tmux("display-message", "-p", "-t", f"={session}:", "#{pane_pid}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_up_refuses_a_foreign_session_with_the_agents_name_and_leaves_it_running(env: Env) -> None:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "exec sleep 300"\n')
    assert env.tmux("new-session", "-d", "-s", "worker", "sleep 300").returncode == 0
    before = pane_pid(env, "worker")

    result = env.cli("up", "worker")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_one_line(result.stderr)
    assert f"a tmux session named 'worker' on socket '{env.socket}' was not started by agentmux" in result.stderr
    assert f"`tmux -L {env.socket} kill-session -t worker`" in result.stderr, result.stderr
    assert pane_pid(env, "worker") == before, "the foreign session is left as it was"
    assert env.tmux("has-session", "-t", "=_agentmux-serve").returncode != 0, "nothing started, no supervisor"

    assert env.cli("down").returncode == 0
    assert env.cli("rm", "worker").returncode == 0
    assert pane_pid(env, "worker") == before, "down and rm leave it alone too"


def test_up_refuses_a_foreign_serve_session_but_starts_the_agents(env: Env) -> None:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "exec sleep 300"\n')
    for session in ("_agentmux-serve", "_agentmux"):
        assert env.tmux("new-session", "-d", "-s", session, "sleep 300").returncode == 0
    serve_pid, hidden_pid = pane_pid(env, "_agentmux-serve"), pane_pid(env, "_agentmux")

    result = env.cli("up", "worker")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout.strip() == "started worker"
    assert_one_line(result.stderr)
    assert "the supervisor was not started" in result.stderr
    assert f"a tmux session named '_agentmux-serve' on socket '{env.socket}'" in result.stderr, result.stderr
    assert pane_pid(env, "_agentmux-serve") == serve_pid

    down = env.cli("down")
    assert down.returncode == 0, down.stderr
    assert "stopped the supervisor" not in down.stdout, "a foreign session is not agentmux's supervisor"
    assert env.cli("rm", "worker").returncode == 0  # no agents left: agentmux's own hidden sessions would go
    assert (pane_pid(env, "_agentmux-serve"), pane_pid(env, "_agentmux")) == (serve_pid, hidden_pid)


def test_an_agents_own_dead_pane_and_a_dead_supervisor_are_still_replaced(env: Env) -> None:
    env.write_config('[[agents]]\nname = "worker"\ncommand = "exit 3"\n')
    assert env.cli("up", "worker").returncode == 0
    wait_until(lambda: env.tmux("display-message", "-p", "-t", "=worker:", "#{pane_dead}").stdout.strip() == "1",
               message="the agent's pane to be dead")
    serve = pane_pid(env, "_agentmux-serve")
    os.kill(int(serve), signal.SIGTERM)  # the supervisor this test's `up` started ends; its pane stays, dead
    wait_until(lambda: env.tmux("display-message", "-p", "-t", "=_agentmux-serve:", "#{pane_dead}").stdout.strip()
               == "1", message="the supervisor's pane to be dead")

    again = env.cli("up", "worker")
    assert again.returncode == 0, again.stderr
    assert "started worker" in again.stdout and "started the supervisor" in again.stdout, again.stdout
    assert pane_pid(env, "_agentmux-serve") != serve
