"""Secret references (`env:NAME`, `file:PATH`) resolved at start time, never stored."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from agentmux.config.model import MAX_ARG
from agentmux.errors import AgentmuxError


def resolve_secret(agent: str, variable: str, reference: str, environ: Mapping[str, str] | None = None) -> str:
    """The value a reference points at; a clear error names agent, variable and reference otherwise."""
    environ = os.environ if environ is None else environ
    scheme, _, target = reference.partition(":")
    where = f"agent {agent!r}: secret {variable} ({reference})"
    if scheme == "env":
        if target not in environ:
            raise AgentmuxError(f"{where}: environment variable {target} is not set")
        return environ[target]
    if scheme == "file":
        path = Path(os.path.expanduser(os.path.expandvars(target)))  # pathlib raises for ~nosuchuser
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise AgentmuxError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise AgentmuxError(f"{where}: {path} is not UTF-8 text") from None
        if "\0" in value:
            raise AgentmuxError(f"{where}: {path} holds a NUL character (\\0), which tmux cannot pass to a program")
        return value
    raise AgentmuxError(f"{where}: unknown reference; write env:VARIABLE or file:PATH")


def resolve_secrets(agent: str, references: Mapping[str, str]) -> dict[str, str]:
    values = {variable: resolve_secret(agent, variable, ref) for variable, ref in references.items()}
    for variable, value in values.items():
        if len(f"{variable}={value}".encode("utf-8", "surrogateescape")) > MAX_ARG:
            raise AgentmuxError(f"agent {agent!r}: secret {variable} ({references[variable]}) is too long: "
                                f"NAME=value may be at most {MAX_ARG:,} bytes for a program to be started with it")
    return values
