"""Secret references: `env:NAME` and `file:PATH` resolved at start time, with errors that never leak values."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmux.agents.secrets import resolve_secret, resolve_secrets
from agentmux.errors import AgentmuxError

SECRET = "sk-live-0123456789abcdef"


def test_env_reference_resolves_from_the_given_environ() -> None:
    environ = {"MY_API_TOKEN": SECRET, "OTHER": "x"}
    assert resolve_secret("alpha", "API_TOKEN", "env:MY_API_TOKEN", environ) == SECRET


def test_env_reference_keeps_the_value_exactly() -> None:
    value = "  pa ss:wörd=\n"
    assert resolve_secret("alpha", "TOKEN", "env:TOKEN", {"TOKEN": value}) == value
    assert resolve_secret("alpha", "TOKEN", "env:TOKEN", {"TOKEN": ""}) == ""


def test_env_reference_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMUX_TEST_SECRET_TOKEN", SECRET)
    assert resolve_secret("alpha", "API_TOKEN", "env:AGENTMUX_TEST_SECRET_TOKEN") == SECRET
    assert resolve_secrets("alpha", {"API_TOKEN": "env:AGENTMUX_TEST_SECRET_TOKEN"}) == {"API_TOKEN": SECRET}


def test_a_missing_variable_names_agent_variable_and_reference_but_no_value() -> None:
    environ = {"MY_API_TOKEN_OLD": SECRET, "my_api_token": SECRET, "HOME": "/home/someone"}
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", "env:MY_API_TOKEN", environ)
    message = str(caught.value)
    assert "alpha" in message
    assert "API_TOKEN" in message
    assert "env:MY_API_TOKEN" in message
    assert "not set" in message
    assert SECRET not in message
    assert "/home/someone" not in message


def test_resolve_secrets_resolves_every_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("AGENTMUX_TEST_SECRET_A", "from-env")
    resolved = resolve_secrets("alpha", {"A": "env:AGENTMUX_TEST_SECRET_A", "B": f"file:{tmp_path / 'token'}"})
    assert resolved == {"A": "from-env", "B": "from-file"}
    assert resolve_secrets("alpha", {}) == {}


def test_resolve_secrets_fails_on_the_first_bad_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTMUX_TEST_SECRET_MISSING", raising=False)
    with pytest.raises(AgentmuxError, match="AGENTMUX_TEST_SECRET_MISSING"):
        resolve_secrets("alpha", {"B": "env:AGENTMUX_TEST_SECRET_MISSING"})


# --- file: -----------------------------------------------------------------------------------------------


def test_file_reference_reads_the_file_without_its_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET + "\n")
    assert resolve_secret("alpha", "API_TOKEN", f"file:{path}", {}) == SECRET
    path.write_bytes(SECRET.encode() + b"\r\n")
    assert resolve_secret("alpha", "API_TOKEN", f"file:{path}", {}) == SECRET
    path.write_text(SECRET)
    assert resolve_secret("alpha", "API_TOKEN", f"file:{path}", {}) == SECRET


def test_file_reference_keeps_inner_lines_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN KEY-----\nAbC✓\n-----END KEY-----\n", encoding="utf-8")
    assert resolve_secret("alpha", "KEY", f"file:{path}", {}) == "-----BEGIN KEY-----\nAbC✓\n-----END KEY-----"


def test_file_reference_expands_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "token").write_text(SECRET + "\n")
    assert resolve_secret("alpha", "API_TOKEN", "file:~/.secrets/token", {}) == SECRET


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "token"
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", f"file:{path}", {})
    message = str(caught.value)
    assert "alpha" in message
    assert "API_TOKEN" in message
    assert f"file:{path}" in message
    assert "No such file" in message
    assert "Traceback" not in message


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", f"file:{tmp_path}", {})
    message = str(caught.value)
    assert "alpha" in message and "API_TOKEN" in message
    assert "cannot read" in message


def test_a_file_that_is_not_utf8_text_is_a_clear_error(tmp_path: Path) -> None:
    # A binary key file or a Latin-1 password file must give the same one-line error as any other
    # unreadable secret, not a UnicodeDecodeError traceback, and must not quote the file's bytes.
    path = tmp_path / "token.der"
    path.write_bytes(b"\x30\x82\xff\xfehunter2\xe9\n")
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", f"file:{path}", {})
    message = str(caught.value)
    assert "alpha" in message and "API_TOKEN" in message
    assert "hunter2" not in message


def test_a_file_holding_nul_is_a_clear_error(tmp_path: Path) -> None:
    # tmux cannot carry NUL: the value would arrive cut at it, so the start is refused instead.
    path = tmp_path / "token"
    path.write_bytes(b"hunter2\x00rest\n")
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", f"file:{path}", {})
    message = str(caught.value)
    assert message == (f"agent 'alpha': secret API_TOKEN (file:{path}): {path} holds a NUL character (\\0), "
                       "which tmux cannot pass to a program")
    assert "hunter2" not in message


def test_a_file_of_an_unknown_users_home_is_a_clear_error() -> None:
    with pytest.raises(AgentmuxError) as caught:  # pathlib raised RuntimeError("Could not determine home directory")
        resolve_secret("alpha", "API_TOKEN", "file:~nosuchuser0/token", {})
    assert "alpha" in str(caught.value) and "cannot read ~nosuchuser0/token" in str(caught.value)


# --- other references ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["vault:prod/token", "ENV:TOKEN", "https://example.com/token"])
def test_an_unknown_scheme_is_an_error(reference: str) -> None:
    with pytest.raises(AgentmuxError) as caught:
        resolve_secret("alpha", "API_TOKEN", reference, {"TOKEN": SECRET})
    message = str(caught.value)
    assert "alpha" in message and "API_TOKEN" in message
    assert "env:VARIABLE or file:PATH" in message
    assert SECRET not in message


def test_each_line_of_a_secret_of_several_lines_is_masked_alone_too() -> None:
    """`echo "$KEY" | tail -1` printed the second line of a key file, which was kept unmasked."""
    from agentmux.redact import Redactor

    mask = Redactor({"KEY": "firstline-abcdef\nsecondline-ghijkl"})
    assert mask("tail: secondline-ghijkl") == "tail: [secret KEY]"
    assert mask("whole: firstline-abcdef\nsecondline-ghijkl") == "whole: [secret KEY]"
