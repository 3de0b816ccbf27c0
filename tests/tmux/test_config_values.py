"""What the config refuses is exactly what tmux cannot carry: NUL. Every other character in an env value,
the command, an init command and the working directory reaches the agent byte for byte."""

from __future__ import annotations

import shlex
from pathlib import Path

import tomlkit

from tests.conftest import Env, wait_until

CONTROLS = "".join(chr(code) for code in range(1, 32)) + "\x7f"
VALUE = f"a{CONTROLS} é ✓ \u2028 $HOME `x` \\ \"q\" 'q' ; | end\n"


def written(path: Path) -> bytes:
    wait_until(path.exists, message=f"{path} written")
    wait_until(lambda: path.read_bytes().endswith(b"<eof>"), message=f"{path} complete")
    return path.read_bytes()[: -len(b"<eof>")]


def test_every_character_but_nul_reaches_the_agent_as_written(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cwd = tmp_path / ("dir " + CONTROLS.replace("/", ""))
    cwd.mkdir()

    def save(text: str, name: str) -> str:
        return f"printf '%s<eof>' {text} > {shlex.quote(str(out / name))}"

    command = "; ".join([save(shlex.quote(VALUE), "command"), save('"$V"', "env"), save('"$PWD"', "cwd"),
                         "exec sleep 600"])
    agent = {"name": "chars", "command": command, "cwd": str(cwd), "env": {"V": VALUE},
             "init": [save(shlex.quote(VALUE), "init")]}
    env.write_config(tomlkit.dumps({"agents": [agent]}))
    result = env.cli("up", "chars", "--no-serve")
    assert result.returncode == 0, result.stderr

    expected = VALUE.encode()
    assert written(out / "env") == expected
    assert written(out / "command") == expected
    assert written(out / "init") == expected
    assert written(out / "cwd") == str(cwd).encode()
