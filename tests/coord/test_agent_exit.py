"""What an agent holds ends with it: a real agent in tmux takes a lock from its own shell (AGENTMUX_AGENT names
it; `agentmux` is on its PATH), then exits; the supervisor sees the exit and the lock goes to the next waiter."""

from __future__ import annotations

import subprocess
import sys
import time

from agentmux.coord.locks import Locks
from agentmux.coord.reservations import Reservations
from tests.conftest import Env, Supervisors, wait_until

SHELL_AGENT = '[[agents]]\nname = "builder"\nkind = "shell"\n'


def test_an_agent_that_exits_frees_its_locks_and_reservations(env: Env, running: Supervisors) -> None:
    env.write_config(SHELL_AGENT)
    supervisor = running()
    locks = Locks(supervisor.fleet.store, env.state_dir)
    reservations = Reservations(supervisor.fleet.store, env.state_dir)
    sent = env.cli("send", "builder", "agentmux lock acquire build --ttl 3600 && agentmux reserve parser.py "
                   "--exclusive --ttl 3600 --reason refactoring")
    assert sent.returncode == 0, sent.stderr
    supervisor.until(lambda: [h.owner for h in locks.holders("build")] == ["builder"], message="the agent's lock")
    supervisor.until(lambda: [r.owner for r in reservations.ls()] == ["builder"], message="its reservation")
    refused = env.cli("reserve", "parser.py", "--as", "other")
    assert refused.returncode == 1 and "reserved by builder (exclusive" in refused.stderr
    waiter = subprocess.Popen([sys.executable, "-m", "agentmux", "--config", str(env.config_path), "lock", "acquire",
                               "build", "--as", "other", "--timeout", "30"], env=env.environ, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: any(w.owner == "other" for info in locks.ls() for w in info.waiters), message="waiting")
        assert env.cli("send", "builder", "exit").returncode == 0
        supervisor.until(lambda: waiter.poll() is not None, timeout=30, message="the waiter got the lock")
        exited = time.time()
        out, err = waiter.communicate(timeout=10)
        assert waiter.returncode == 0, err
        assert [h.owner for h in locks.holders("build")] == ["other"]
        assert env.status("builder")["state"] in ("exited", "stopped")
        assert exited - locks.holders("build")[0].acquired_at < 5
        assert reservations.ls() == []
        assert env.cli("reserve", "parser.py", "--exclusive", "--as", "other").returncode == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()



def test_an_agent_finds_agentmux_last_on_its_path_and_a_path_of_its_own_is_kept(env: Env, running: Supervisors,
                                                                                 tmp_path) -> None:
    """tmux gives a new pane the PATH of the client that asked for it: the pane script sets the agent's own."""
    mine = tmp_path / "mine"
    mine.mkdir()
    own = f'[[agents]]\nname = "own"\nkind = "shell"\nenv = {{ PATH = "{mine}:/usr/bin:/bin" }}\n'
    env.write_config(SHELL_AGENT + "\n" + own)
    supervisor = running()
    for name in ("builder", "own"):
        assert env.cli("send", name, 'echo "P=$PATH"; command -v agentmux').returncode == 0
    supervisor.until(lambda: "state/bin/agentmux" in env.screen("builder"), message="agentmux on builder's PATH")
    assert f"P={env.environ['PATH']}:{env.state_dir / 'bin'}" in env.screen("builder").replace("\n", "")
    supervisor.until(lambda: f"P={mine}:/usr/bin:/bin" in env.screen("own"), message="own's PATH")
