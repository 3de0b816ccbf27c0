"""Approval rules (agentmux/policy.py): what an allow or a deny rule covers, deny first."""

from __future__ import annotations

import pytest

from agentmux.policy import decide, matches, rule_problem


def bash(command: str) -> dict[str, str]:
    return {"command": command, "description": "a command"}


@pytest.mark.parametrize("rule, command, covered", [
    ("Bash", "anything at all", True),
    ("Bash(git status)", "git status", True),
    ("Bash(git status)", "git status --short", False),
    ("Bash(git status*)", "git status --short", True),
    ("Bash(npm run test:*)", "npm run test", True),
    ("Bash(npm run test:*)", "npm run test -- --watch", True),
    ("Bash(npm run test:*)", "npm run testing", False),
    ("Bash(pytest *)", "pytest -q tests", True),
    ("Read", "pytest", False),  # another tool
])
def test_an_allow_rule_covers_its_commands(rule: str, command: str, covered: bool) -> None:
    assert matches(rule, "Bash", bash(command), allowing=True) is covered


@pytest.mark.parametrize("command", [
    "git status; rm -rf ~", "git status && rm -rf ~", "git status | sh", "git status > /etc/passwd",
    "git status `rm -rf ~`", "git status $(rm -rf ~)", "git status &", "git status\nrm -rf ~", "git status < x",
])
def test_an_allow_rule_never_approves_a_compound_command(command: str) -> None:
    assert not matches("Bash(git status*)", "Bash", bash(command), allowing=True)
    assert not matches("Bash", "Bash", bash(command), allowing=True)


def test_a_deny_rule_is_matched_against_every_part_of_a_command() -> None:
    for command in ("rm -rf build", "make && rm -rf build", "echo hi; rm -rf build", "ls | rm -rf build"):
        assert matches("Bash(rm *)", "Bash", bash(command), allowing=False), command
    assert not matches("Bash(rm *)", "Bash", bash("git rm x"), allowing=False)


def test_paths_urls_and_tool_names() -> None:
    edit = {"file_path": "/home/me/app/src/deep/main.py", "old_string": "a", "new_string": "b"}
    assert matches("Edit(src/*)", "Edit", edit, "/home/me/app", allowing=True)  # relative to the agent's folder
    assert matches("Edit(/home/me/app/*)", "Edit", edit, "/home/me/app", allowing=True)
    assert not matches("Edit(docs/*)", "Edit", edit, "/home/me/app", allowing=True)
    assert not matches("Edit(src/*)", "Edit", edit, "/elsewhere", allowing=True)
    fetch = {"url": "https://docs.python.org/3/library/re.html", "prompt": "read"}
    assert matches("WebFetch(https://docs.python.org/*)", "WebFetch", fetch, allowing=True)
    assert matches("mcp__github__*", "mcp__github__create_issue", {"title": "x"}, allowing=True)
    assert not matches("Edit(src/*)", "Edit", {"no": "path"}, allowing=True)


def test_deny_rules_win_and_no_rule_leaves_the_question_to_the_user() -> None:
    policy: dict[str, object] = {"allow": ["Bash"], "deny": ["Bash(rm *)"]}
    assert decide(policy, "Bash", bash("rm -rf /tmp/x")) == ("deny", "Bash(rm *)")
    assert decide(policy, "Bash", bash("ls")) == ("allow", "Bash")
    assert decide(policy, "Write", {"file_path": "/x"}) is None
    assert decide({}, "Bash", bash("ls")) is None


@pytest.mark.parametrize("rule, problem", [
    ("Bash(", "is not a rule"), ("Bash()", "has an empty pattern"), ("two words", "is not a rule"),
    ("", "is not a rule"),
])
def test_a_rule_that_cannot_be_read_says_why(rule: str, problem: str) -> None:
    reason = rule_problem(rule)
    assert reason is not None and problem in reason


def test_readable_rules() -> None:
    for rule in ("Bash", "Bash(git status)", "Edit(src/*)", "mcp__github__*", "WebFetch(https://x.org/*)"):
        assert rule_problem(rule) is None, rule


@pytest.mark.parametrize("command", [
    "/bin/rm -rf ~", "FOO=1 rm -rf ~", "\\rm -rf ~", "command rm -rf ~", "rm\t-rf ~", "env rm -rf ~",
    "sudo /usr/bin/rm -rf ~", "make; FOO=1 /bin/rm -rf ~",
])
def test_a_deny_rule_sees_through_paths_assignments_and_wrappers(command: str) -> None:
    """Found by review: each of these passed `deny = ["Bash(rm *)"]` under a blanket allow."""
    assert decide({"allow": ["Bash"], "deny": ["Bash(rm *)"]}, "Bash", bash(command)) == ("deny", "Bash(rm *)")


def test_a_path_rule_is_matched_against_the_normalised_path() -> None:
    """Found by review: `*` matches `/`, so `..` walked out of the folder a rule allowed."""
    cwd = "/work/p"
    for path in ("/work/p/src/../../../home/u/.bashrc", "src/../../etc/passwd", "../p2/src/x"):
        for rule in ("Edit(/work/p/src/*)", "Edit(src/*)"):
            assert not matches(rule, "Edit", {"file_path": path}, cwd, allowing=True), (rule, path)
    assert matches("Edit(src/*)", "Edit", {"file_path": "/work/p/src/./a/../b.py"}, cwd, allowing=True)
    assert matches("Glob", "Glob", {"pattern": "*"}, cwd, allowing=True)


def test_no_allow_rule_approves_a_call_on_agentmux_s_own_files() -> None:
    """The policy lives in agentmux's state folder: an agent allowed `sed *` must not widen its own rules."""
    policy: dict[str, object] = {"allow": ["Bash(sed *)", "Edit"]}
    home = "/home/u/.local/state/agentmux"
    assert decide(policy, "Bash", bash(f"sed -i s/x/y/ {home}/claude/cc/policy.json"), protected=(home,)) is None
    assert decide(policy, "Bash", bash('sed -i s/x/y/ "$AGENTMUX_HOME"/claude/cc/policy.json'),
                  protected=(home, "AGENTMUX_HOME")) is None
    assert decide(policy, "Edit", {"file_path": f"{home}/claude/cc/policy.json"}, protected=(home,)) is None
    assert decide(policy, "Bash", bash("sed -n 1p notes.txt"), protected=(home,)) == ("allow", "Bash(sed *)")
