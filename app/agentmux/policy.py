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


PATH_KEYS = ("file_path", "notebook_path", "path")
WRAPPERS = ("command", "builtin", "exec", "env", "nice", "nohup", "time", "sudo", "doas")
ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")


def subject(tool_input: object, cwd: str = "") -> str | None:
    """What a tool call acts on, for a rule's pattern: a command, a path (normalised: `..` taken out; relative
    to `cwd` when inside it), a URL."""
    if not isinstance(tool_input, dict):
        return None
    for key in SUBJECT_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            if key in PATH_KEYS:
                path = os.path.normpath(os.path.join(cwd or "/", value))  # a relative path is the agent's
                base = os.path.normpath(cwd) if cwd else ""
                if base and path.startswith(base.rstrip("/") + "/"):
                    return os.path.relpath(path, base)
                return path
            return value
    return None


def command_words(command: str) -> str:
    """A command as a deny rule sees it: variable assignments, wrappers (`command`, `env`, `sudo`, ...) and a
    backslash in front taken out, the program without its folder, blanks made single spaces: `FOO=1 \\rm`,
    `/bin/rm`, `command rm` are all `rm`."""
    words = command.split()
    while words and (ASSIGNMENT_RE.fullmatch(words[0]) or words[0].lstrip("\\") in WRAPPERS):
        words = words[1:]
    if not words:
        return ""
    words[0] = os.path.basename(words[0].lstrip("\\"))
    return " ".join(words)


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
        if allowing and isinstance(tool_input, dict) and any(isinstance(tool_input.get(k), str) for k in PATH_KEYS) \
                and not pattern.startswith(("/", "*")) and text.startswith(("/", "..")):
            return False  # a relative pattern allows only what lies in the agent's folder
        absolute = subject(tool_input)  # a pattern may name the absolute path too
        return _pattern_matches(pattern, text) or (absolute is not None and _pattern_matches(pattern, absolute))
    if allowing:
        return not COMPOUND_RE.search(text) and _pattern_matches(pattern, text.strip())
    parts = [text, *SPLIT_RE.split(text)]
    return any(_pattern_matches(pattern, form) for part in parts for form in (part.strip(), command_words(part))
               if form)


def _compound(tool_input: object) -> bool:
    text = subject(tool_input)
    return text is not None and COMPOUND_RE.search(text) is not None


def decide(policy: dict[str, object], tool: str, tool_input: object, cwd: str = "",
           protected: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """("deny", rule) or ("allow", rule) for the first rule that covers the call, deny rules first; None when no
    rule does (the user answers). No allow rule approves a call whose input names one of `protected` (agentmux's
    own state folder, which holds the policy itself)."""
    touches = any(mark and mark in str(tool_input) for mark in protected)
    for verdict, key in (("deny", "deny"), ("allow", "allow")):
        if verdict == "allow" and touches:
            return None
        rules = policy.get(key)
        for rule in rules if isinstance(rules, list) else ():
            if isinstance(rule, str) and matches(rule, tool, tool_input, cwd, allowing=verdict == "allow"):
                return verdict, rule
    return None
