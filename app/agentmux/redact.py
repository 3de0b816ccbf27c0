"""Masking secrets in text agentmux keeps or shows: an agent's own secret values become `[secret NAME]`.

Pure functions over strings, no I/O: the callers know which agent a text came from and where its secret
values are (its tmux session environment).
"""

from __future__ import annotations

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
