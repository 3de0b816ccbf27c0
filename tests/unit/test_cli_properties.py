"""Property-based tests over CLI arguments (hypothesis, a bounded number of examples): any command line
either works or is refused with one line and exit code 1 or 2 (README, CLI); never a traceback or an
internal error, and the config file and store stay readable."""

from __future__ import annotations

import contextlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmux import cli, config
from agentmux.store import Store
from tests.conftest import Env

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Arguments as a shell can pass them: any text without NUL; lone surrogates stand for bytes that are not UTF-8.
words = st.text(st.characters(blacklist_characters="\0"), max_size=12)
flags = st.sampled_from(["--json", "--all", "--priority", "--after", "--when", "--if-output", "--timeout",
                         "--retries", "--kind", "--command", "--cwd", "--env", "--secret", "--init",
                         "--cleanup", "--no-autostart", "--no-enter", "--force", "-", "--", "1", "-1",
                         "99999999999999999999", "nan", "inf", "success", "demo", "shell", "worker", "K=V"])
commands = st.sampled_from([
    ["ls"], ["add"], ["rm"], ["send"], ["down"], ["queue", "add"], ["queue", "ls"], ["queue", "show"],
    ["queue", "cancel"], ["queue", "retry"], ["queue", "prio"], ["queue", "after"], ["queue", "pause"],
    ["queue", "resume"], ["queue"], [],
])
argvs = st.builds(lambda command, rest: command + rest, commands, st.lists(st.one_of(words, flags), max_size=6))


def run(env: Env, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(env.config_path), *argv])
    return code, out.getvalue(), err.getvalue()


@BOUNDED
@given(argv=argvs)
def test_any_command_line_works_or_is_refused_in_one_line(env: Env, argv: list[str]) -> None:
    if not env.config_path.exists():
        env.write_config('[[agents]]\nname = "worker"\nkind = "shell"\nautostart = false\n')
    code, _, err = run(env, argv)
    assert code in (0, 1, 2), (argv, code, err)
    if code:
        lines = err.strip().splitlines()  # one line per failure (one per agent when several were asked for)
        assert lines and all(line.startswith("agentmux: ") for line in lines), (argv, err)
        assert "internal error" not in err, (argv, err)
    config.load(env.config_path)  # still a valid file, whatever was added or removed
    Store(config.load(env.config_path).store_path).close()
