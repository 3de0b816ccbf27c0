"""`agentmux rm` on a file it cannot edit: refused before the agent is touched."""

from __future__ import annotations

import json

from tests.conftest import Env


def test_rm_refuses_before_stopping_the_agent_when_the_file_cannot_be_edited(env: Env) -> None:
    path = env.write_config()
    # Another table between the [[agents]] blocks: tomlkit would move them, so agentmux cannot edit the file.
    text = ('[[agents]]\nname = "a"\ncommand = "exec sleep 600"\n\n' + path.read_text()
            + '\n[[agents]]\nname = "b"\ncommand = "exec sleep 600"\n')
    path.write_text(text)
    assert env.cli("up", "a", "--no-serve").returncode == 0

    result = env.cli("rm", "a")

    assert result.returncode == 1
    assert result.stderr.strip().endswith("the file is unchanged: edit it by hand"), result.stderr
    assert "\n" not in result.stderr.strip() and "Traceback" not in result.stderr
    assert path.read_text() == text
    rows = {row["name"]: row for row in json.loads(env.cli("ls", "--json").stdout)}
    assert rows["a"]["process_alive"] is True, "the agent must still run"
