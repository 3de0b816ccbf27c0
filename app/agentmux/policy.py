"""An agent's approval policy: rules that answer Claude Code's permission questions (README: Approval policy).

A rule is a tool name, `Bash`, or a tool name with a pattern of what it acts on, `Bash(git status)`,
`Bash(pytest *)`, `Edit(src/*)`, `WebFetch(https://docs.python.org/*)`: `*` stands for any text (`/`
included), and a trailing `:*` is Claude Code's own spelling of "this command, with or without arguments"
(`Bash(npm run test:*)`). The tool name may hold `*` too (`mcp__github__*`). A pattern is matched
against a Bash command, a file's path (relative to the agent's folder when it lies in it), a URL, or a
search pattern, whichever the tool takes.

Deny rules are read first and win. An allow rule never approves a Bash command that chains, pipes,
redirects or substitutes (`;`, `&`, `|`, `<`, `>`, a backquote, `$(`, a new line): `git status; rm -rf ~`
must not pass for `git status`, so such a command is left to the user; a deny rule is also matched
against each of its parts.

Run inside Claude Code's PermissionRequest hook (agentmux/hook.py), so it imports little: the standard
library's fnmatch, os and re.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase

ON_DENY = ("ask", "refuse", "fail")
"""What a matching deny rule does: leave the question to the user (ask, the default), answer no (refuse),
or answer no and fail the task the agent is running (fail)."""

RULE_RE = re.compile(r"([A-Za-z0-9_*.-]+)(?:\((.*)\))?", re.DOTALL)
COMPOUND_RE = re.compile(r"[;&|<>`\n]|\$\(")
SPLIT_RE = re.compile(r"&&|\|\||[;&|\n]")
SUBJECT_KEYS = ("command", "file_path", "notebook_path", "path", "url", "pattern", "query")
"""The tool input key a rule's pattern is matched against, the first a tool has."""


def rule_problem(rule: str) -> str | None:
    """Why a rule cannot be read, or None."""
    found = RULE_RE.fullmatch(rule.strip())
    if found is None:
        return (f"{rule!r} is not a rule: write a tool name, or a tool name and a pattern in parentheses "
                "(Bash, Bash(git status), Edit(src/*))")
    if found.group(2) is not None and not found.group(2).strip():
        return f"{rule!r} has an empty pattern: leave the parentheses out to match every use of the tool"
    return None


def subject(tool_input: object, cwd: str = "") -> str | None:
    """What a tool call acts on, for a rule's pattern: a command, a path (relative to `cwd` inside it), a URL."""
    if not isinstance(tool_input, dict):
        return None
    for key in SUBJECT_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            if key in ("file_path", "notebook_path", "path") and cwd and value.startswith(cwd.rstrip("/") + "/"):
                return os.path.relpath(value, cwd)
            return value
    return None


def _pattern_matches(pattern: str, text: str) -> bool:
    if pattern.endswith(":*"):
        stem = pattern[:-2]
        return fnmatchcase(text, stem) or fnmatchcase(text, stem + " *")
    return fnmatchcase(text, pattern)


def matches(rule: str, tool: str, tool_input: object, cwd: str = "", *, allowing: bool) -> bool:
    """Does the rule cover this tool call? `allowing`: it is an allow rule (never for a compound command)."""
    found = RULE_RE.fullmatch(rule.strip())
    if found is None or not fnmatchcase(tool, found.group(1)):
        return False
    pattern = found.group(2)
    if pattern is None:
        return not (allowing and tool == "Bash" and _compound(tool_input))
    text = subject(tool_input, cwd)
    if text is None:
        return False
    pattern = pattern.strip()
    if tool != "Bash":
        absolute = subject(tool_input)  # a pattern may name the absolute path too
        return _pattern_matches(pattern, text) or (absolute is not None and _pattern_matches(pattern, absolute))
    if allowing:
        return not COMPOUND_RE.search(text) and _pattern_matches(pattern, text.strip())
    return any(_pattern_matches(pattern, part.strip()) for part in [text, *SPLIT_RE.split(text)] if part.strip())


def _compound(tool_input: object) -> bool:
    text = subject(tool_input)
    return text is not None and COMPOUND_RE.search(text) is not None


def decide(policy: dict[str, object], tool: str, tool_input: object, cwd: str = "") -> tuple[str, str] | None:
    """("deny", rule) or ("allow", rule) for the first rule that covers the call, deny rules first; None when no
    rule does (the user answers)."""
    for verdict, key in (("deny", "deny"), ("allow", "allow")):
        rules = policy.get(key)
        for rule in rules if isinstance(rules, list) else ():
            if isinstance(rule, str) and matches(rule, tool, tool_input, cwd, allowing=verdict == "allow"):
                return verdict, rule
    return None
