"""Masking secrets in text agentmux keeps or shows: an agent's own secret values become `[secret NAME]`.

Pure functions over strings, no I/O: the callers know which agent a text came from and where its secret
values are (its tmux session environment).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MIN_MASKED = 4
"""Shorter values are not masked: masking a two-letter value would rewrite every word that holds it. doctor
warns about such secrets."""


class Redactor:
    """Replaces each of an agent's secret values in a text with the name of its variable."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        pairs = []
        for name, value in (secrets or {}).items():
            # a secret of several lines (a key file) is masked whole, and each of its lines alone too: a
            # program may print one line of it
            pairs += [(part, name) for part in {value, *value.splitlines()} if len(part.strip()) >= MIN_MASKED]
        # longest first, so a secret that contains another is masked whole
        self._pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def __call__(self, text: str) -> str:
        for value, name in self._pairs:
            if value in text:
                text = text.replace(value, f"[secret {name}]")
        return text


NO_SECRETS = Redactor()


KEY_SHAPES: tuple[tuple[str, str], ...] = (
    ("anthropic key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("aws key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("aws secret", r"(?i:aws_secret_access_key[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40,}"),
    ("github token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    ("bearer token", r"(?<=[Bb][Ee][Aa][Rr][Ee][Rr] )[A-Za-z0-9._~+/=-]{12,}"),
    ("private key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----)?"),
)
"""Shapes of keys masked in logs whoever they belong to: Anthropic, OpenAI, AWS (key ids, and a secret after
`aws_secret_access_key`), GitHub, Slack (tokens and webhook URLs), the token of a bearer header, and a private
key block (masked whole in a text; in a log its lines are masked one by one: `KeyMasker`)."""
KEY_RE = re.compile("|".join(f"(?P<k{index}>{pattern})" for index, (_, pattern) in enumerate(KEY_SHAPES)),
                    re.DOTALL)
KEY_PREFILTER = re.compile(r"sk-|AKIA|ASIA|ABIA|ACCA|(?i:aws_secret|bearer )|gh[pousr]_|github_pat_|xox|hooks\.slack|"
                           r"PRIVATE KEY")
"""A cheap test that a text may hold a key at all: most lines hold none."""


def mask_keys(text: str) -> str:
    """Masks every key-shaped string: `[redacted anthropic key]`."""
    if not KEY_PREFILTER.search(text):
        return text

    def replace(match: re.Match[str]) -> str:
        index = int(next(name for name, value in match.groupdict().items() if value is not None)[1:])
        return f"[redacted {KEY_SHAPES[index][0]}]"

    return KEY_RE.sub(replace, text)


class KeyMasker:
    """Masks a stream of lines: key shapes, and every line of a private key block (from its BEGIN line to its
    END line), which a program prints one line at a time."""

    def __init__(self) -> None:
        self.in_block = False

    def __call__(self, line: str) -> str:
        if self.in_block:
            if PRIVATE_END_RE.search(line):
                self.in_block = False
            return "[redacted private key]"
        if "PRIVATE KEY-----" in line and PRIVATE_BEGIN_RE.search(line) and not PRIVATE_END_RE.search(line):
            self.in_block = True
            return PRIVATE_BEGIN_RE.split(line)[0] + "[redacted private key]"
        return mask_keys(line)


PRIVATE_BEGIN_RE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*")
PRIVATE_END_RE = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
