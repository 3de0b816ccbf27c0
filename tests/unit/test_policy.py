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
