"""Editing the config file (`agentmux add`, `agentmux rm`, the TUI's form): any valid layout, with every
comment and the layout kept, or refused in one line with the file untouched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentmux import config
from agentmux.config import AgentSpec
from agentmux.errors import AgentmuxError
from tests.conftest import Env

NEW = AgentSpec(name="new", command="true", cwd=Path("/tmp"), env={"A": "1"})
NEW_BLOCK = '[[agents]]\nname = "new"\nkind = "command"\ncommand = "true"\ncwd = "/tmp"\nenv = { A = "1" }\n'
NEW_INLINE = '{ name = "new", kind = "command", command = "true", cwd = "/tmp", env = { A = "1" } }'


def apply(loaded: config.Config, action: AgentSpec | str) -> config.Config:
    if isinstance(action, AgentSpec):
        return config.add_agent(loaded, action)
    return config.remove_agent(loaded, action)


def edit(tmp_path: Path, text: str | None, action: AgentSpec | str) -> str:
    """Add `action` (a spec) to, or remove it (a name) from, a file holding `text` (None: no file); the new
    text. The config returned is the one the new file loads as."""
    path = tmp_path / "agentmux.toml"
    if text is not None:
        path.write_bytes(text.encode())
    result = apply(config.load(path, must_exist=False), action)
    assert result == config.load(path)
    return path.read_bytes().decode()


INLINE = '''\
# fleet
agents = [
  # the first
  { name = "a", command = "true" },  # a's own
  { name = "b", command = "make" },
  # after b
]  # end of agents

[agentmux]
socket = "s"  # mine
'''
ONE_LINE = 'agents = [{ name = "a", command = "true" }, { name = "b", command = "make" }]  # two\n'
BLOCKS_BEFORE_SETTINGS = '''\
[[agents]]  # the first
name = "a"
command = "true"

# about b
[[agents]]
name = "b"
command = "make"

[agentmux]
socket = "s"
'''
SUBTABLES = '''\
[[agents]]
name = "a"
command = "true"

[[agents]]
name = "b"
command = "deploy"

[agents.env]
STAGE = "prod"  # b's stage
# after b's env

[[agents]]
name = "c"
command = "check"
'''
COMMENTED = '''\
# my fleet
[agentmux]
socket = "fleet"   # keep this socket

# the first agent
[[agents]]
name = "a"
command = "true"  # runs true

# b is the builder
[[agents]]
name = "b"
command = "make"
init = [
    "git pull",
]

# c is the checker
[[agents]]
name = "c"
command = "check"

# trailing notes about the fleet
'''

EDITS = [
    # An inline array stays one: the agent goes in (or out) as an inline table, the array's comments stay.
    ("inline-array-add", INLINE, NEW, INLINE.replace("  # after b\n", f"  # after b\n  {NEW_INLINE}\n")),
    ("inline-array-remove-first", INLINE, "a", INLINE.replace('  { name = "a", command = "true" },  # a\'s own\n', "")),
    ("inline-array-remove-last", INLINE, "b", INLINE.replace('  { name = "b", command = "make" },\n', "")),
    ("one-line-array-add", ONE_LINE, NEW, ONE_LINE.replace(" }]", f" }}, {NEW_INLINE}]")),
    ("one-line-array-remove", ONE_LINE, "a", 'agents = [{ name = "b", command = "make" }]  # two\n'),
    ("empty-inline-array-add", "agents = []\n", NEW, f"agents = [{NEW_INLINE}]\n"),
    # No agents yet: a block after what is there, one blank line apart.
    ("agentmux-table-only-add", '[agentmux]\nsocket = "s"  # mine\n# end\n', NEW,
     '[agentmux]\nsocket = "s"  # mine\n# end\n\n' + NEW_BLOCK),
    ("empty-file-add", "", NEW, NEW_BLOCK),
    ("missing-file-add", None, NEW, NEW_BLOCK),
    ("no-final-newline-add", '[[agents]]\nname = "a"\ncommand = "true"', NEW,
     '[[agents]]\nname = "a"\ncommand = "true"\n\n' + NEW_BLOCK),
    # Blocks followed by another table: the new block goes after the last block, blank lines kept.
    ("blocks-before-a-table-add", BLOCKS_BEFORE_SETTINGS, NEW,
     BLOCKS_BEFORE_SETTINGS.replace("\n[agentmux]", f"\n{NEW_BLOCK}\n[agentmux]")),
    ("blocks-before-a-table-remove-last", BLOCKS_BEFORE_SETTINGS, "b",
     '[[agents]]  # the first\nname = "a"\ncommand = "true"\n\n# about b\n\n[agentmux]\nsocket = "s"\n'),
    ("blocks-before-a-table-remove-first", BLOCKS_BEFORE_SETTINGS, "a",
     '# about b\n[[agents]]\nname = "b"\ncommand = "make"\n\n[agentmux]\nsocket = "s"\n'),
    ("only-block-before-a-table-remove", '# top\n[[agents]]\nname = "a"\ncommand = "true"\n# after a\n\n'
     '[agentmux]\nsocket = "s"\n', "a", '# top\n# after a\n\n[agentmux]\nsocket = "s"\n'),
    ("only-block-remove", '[agentmux]\nsocket = "s"\n\n# the only agent\n[[agents]]\nname = "a"\n'
     'command = "true"\n# notes after a\n', "a", '[agentmux]\nsocket = "s"\n\n# the only agent\n# notes after a\n'),
    # A block with [agents.env] sub-tables goes whole; the comment after its last line stays.
    ("sub-tables-remove", SUBTABLES, "b",
     '[[agents]]\nname = "a"\ncommand = "true"\n\n# after b\'s env\n\n[[agents]]\nname = "c"\ncommand = "check"\n'),
    ("sub-tables-add", SUBTABLES, NEW, SUBTABLES + "\n" + NEW_BLOCK),
    ("commented-remove-middle", COMMENTED, "b", COMMENTED.replace(
        '[[agents]]\nname = "b"\ncommand = "make"\ninit = [\n    "git pull",\n]\n\n# c', '\n# c')),
    ("commented-add", COMMENTED, NEW, COMMENTED + "\n" + NEW_BLOCK),
    # CRLF stays CRLF.
    ("crlf-add", '# c\r\n[[agents]]\r\nname = "a"\r\ncommand = "true"\r\n', NEW,
     '# c\r\n[[agents]]\r\nname = "a"\r\ncommand = "true"\r\n\r\n' + NEW_BLOCK.replace("\n", "\r\n")),
    ("crlf-remove", '# c\r\n[[agents]]\r\nname = "a"\r\ncommand = "true"\r\n\r\n[[agents]]\r\nname = "b"\r\n'
     'command = "true"\r\n', "b", '# c\r\n[[agents]]\r\nname = "a"\r\ncommand = "true"\r\n'),
]


@pytest.mark.parametrize(("text", "action", "expected"), [case[1:] for case in EDITS], ids=[case[0] for case in EDITS])
def test_an_edit_changes_only_that_agent(tmp_path: Path, text: str | None, action: AgentSpec | str,
                                         expected: str) -> None:
    assert edit(tmp_path, text, action) == expected


@pytest.mark.parametrize("text", [INLINE, ONE_LINE, BLOCKS_BEFORE_SETTINGS, SUBTABLES, COMMENTED, "", None,
                                  BLOCKS_BEFORE_SETTINGS.replace("\n", "\r\n"), COMMENTED.replace("\n", "\r\n")],
                         ids=["inline", "one-line", "blocks-before-a-table", "sub-tables", "commented", "empty",
                              "missing", "crlf-blocks-before-a-table", "crlf-commented"])
def test_add_then_remove_gives_back_the_file(tmp_path: Path, text: str | None) -> None:
    added = edit(tmp_path, text, NEW)
    assert added != (text or "")
    assert edit(tmp_path, added, "new") == (text or "")


SPLIT = ('[[agents]]\nname = "a"\ncommand = "true"\n\n[agentmux]\nsocket = "s"\n\n'
         '[[agents]]\nname = "b"\ncommand = "true"\n')


@pytest.mark.parametrize("action", [NEW, "a"], ids=["add", "remove"])
def test_a_file_tomlkit_cannot_keep_as_it_is_is_refused_untouched(tmp_path: Path, action: AgentSpec | str) -> None:
    """tomlkit moves the blocks of an array of tables that another table splits: refused, not rewritten."""
    path = tmp_path / "agentmux.toml"
    path.write_text(SPLIT)
    loaded = config.load(path)
    with pytest.raises(AgentmuxError) as caught:
        apply(loaded, action)
    assert str(caught.value) == (f"{path}: cannot edit this file without changing its layout (are its [[agents]] "
                                 "blocks apart?); the file is unchanged: edit it by hand")
    with pytest.raises(AgentmuxError):
        config.check_removal(loaded, "a")
    assert path.read_text() == SPLIT


def test_an_edit_that_would_not_read_back_as_given_is_refused_untouched(tmp_path: Path) -> None:
    """A spec whose cwd is relative reads back as another directory: the check after the edit catches it."""
    path = tmp_path / "agentmux.toml"
    path.write_text(COMMENTED)
    (tmp_path / "sub").mkdir()
    with pytest.raises(AgentmuxError) as caught:
        config.add_agent(config.load(path), AgentSpec(name="rel", command="true", cwd=Path("sub")))
    assert str(caught.value) == (f"{path}: cannot add agent 'rel' without changing the rest of the file; "
                                 "the file is unchanged: edit it by hand")
    assert path.read_text() == COMMENTED


def test_an_edit_keeps_the_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "agentmux.toml"
    path.write_text(COMMENTED)
    path.chmod(0o600)
    config.add_agent(config.load(path), NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config.remove_agent(config.load(path), "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == COMMENTED
    assert [p.name for p in tmp_path.iterdir()] == ["agentmux.toml"], "no temporary file left"


def test_an_edit_through_a_symlink_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "dotfiles").mkdir()
    target = tmp_path / "dotfiles" / "agentmux.toml"
    target.write_text(COMMENTED)
    link = tmp_path / "agentmux.toml"
    link.symlink_to(target)
    config.add_agent(config.load(link), NEW)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == COMMENTED + "\n" + NEW_BLOCK


# --- through the CLI -------------------------------------------------------------------------------------


def test_cli_add_and_rm_on_an_inline_array_keep_its_comments(env: Env) -> None:
    """The issue's case: `add` failed with "Cannot mutate immutable namespace", `rm` dropped every comment."""
    path = env.write_config()
    text = (f'# before\nagents = [\n  # a, the first\n  {{ name = "a", command = "true", cwd = "{env.root}" }},\n]'
            f"  # inline\n\n{path.read_text()}")
    path.write_text(text)
    added = env.cli("add", "b", "--command", "make", "--cwd", str(env.root))
    assert added.returncode == 0, added.stderr
    assert path.read_text() == text.replace("\n]", f'\n  {{ name = "b", kind = "command", command = "make", '
                                                  f'cwd = "{env.root}" }},\n]')
    removed = env.cli("rm", "a")
    assert removed.returncode == 0, removed.stderr
    assert "# a, the first" in path.read_text() and "# before" in path.read_text() and "# inline" in path.read_text()
    assert config.load(path).names() == ["b"]
