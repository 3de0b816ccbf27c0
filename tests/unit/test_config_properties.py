"""Property-based tests over config files (hypothesis, a bounded number of examples).

- An edit by `add` or `rm` of any valid config, in any layout agentmux supports (an array of tables, an
  inline array on one line or several, comments between, inside and after the agents, settings before or
  after), keeps every comment that is not the removed agent's own, and the file reads back as exactly the
  expected config. Adding an agent and removing it again gives back the file.
- Any text in a name, env key or value, secret, command, path or setting either loads or is refused with
  one ConfigError line; never any other exception.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmux import config
from agentmux.config import NAME_RE, RESERVED_ENV, AgentSpec
from agentmux.config import edit as config_edit
from agentmux.errors import ConfigError

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.from_regex(NAME_RE, fullmatch=True)
env_names = st.from_regex(config.ENV_NAME_RE, fullmatch=True).filter(lambda name: name not in RESERVED_ENV)
texts = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)
commands = texts.filter(lambda text: text.strip() != "")
# A comment's text: anything TOML allows there (no control characters but tab), unique enough to find.
comments = st.builds(lambda words, n: f"# c{n} {words}".rstrip(),
                     st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=15),
                     st.integers(0, 10**9))


@dataclass(frozen=True)
class Agent:
    name: str
    command: str
    env: dict[str, str]
    before: tuple[str, ...]  # comment lines above it: they stay when it is removed
    own: tuple[str, ...]  # comments on its own lines: they go with it


@st.composite
def agents(draw: st.DrawFn) -> list[Agent]:
    chosen = draw(st.lists(names, max_size=4, unique_by=str.lower))
    return [Agent(name, draw(commands), draw(st.dictionaries(env_names, texts, max_size=2)),
                  tuple(draw(st.lists(comments, max_size=2))), tuple(draw(st.lists(comments, max_size=2))))
            for name in chosen]


def value(item: object) -> str:
    return config_edit._toml_value(item)


def block(agent: Agent, blank_after: bool, env_table: bool) -> str:
    """The agent as a [[agents]] block; its env inline or as an [agents.env] sub-table."""
    own = list(agent.own) + [""] * 3
    lines = [*agent.before, f"[[agents]]  {own[0]}".rstrip(), f"name = {value(agent.name)}  {own[1]}".rstrip(),
             f"command = {value(agent.command)}"]
    if agent.env and env_table:
        lines += ["", "[agents.env]", *(f"{key} = {value(item)}" for key, item in agent.env.items())]
    elif agent.env:
        lines.append(f"env = {value(agent.env)}")
    return "\n".join(lines) + "\n" + ("\n" if blank_after else "")


def inline(agent: Agent, one_line: bool) -> str:
    table = {"name": agent.name, "command": agent.command, **({"env": agent.env} if agent.env else {})}
    if one_line:
        return value(table)
    return "".join(f"  {line}\n" for line in agent.before) + f"  {value(table)},  {' '.join(agent.own)}".rstrip()


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[Agent], list[str]]:
    """A valid config text in one of the layouts, its agents and every comment in it."""
    fleet = draw(agents())
    layout = draw(st.sampled_from(["blocks", "inline", "one-line"] if fleet else ["blocks", "inline", "empty"]))
    if layout == "one-line":  # no room for comments between the agents
        fleet = [replace(agent, before=(), own=()) for agent in fleet]
    top, tail = draw(st.lists(comments, max_size=2)), draw(st.lists(comments, max_size=2))
    settings_table = draw(st.sampled_from(["", '[agentmux]\nidle_after = 2.5  # quick\n']))
    settings_first = layout == "blocks" and draw(st.booleans())
    parts = [line + "\n" for line in top]
    if settings_first and settings_table:
        parts.append(settings_table + "\n")
    if layout in ("blocks", "empty"):
        parts += [block(agent, draw(st.booleans()), draw(st.booleans())) for agent in fleet]
        parts += [line + "\n" for line in tail]
    elif layout == "one-line":
        parts.append(f"agents = [{', '.join(inline(agent, True) for agent in fleet)}]  {' '.join(tail)}".rstrip()
                     + "\n")
    elif layout == "inline":
        body = "".join(inline(agent, False) + "\n" for agent in fleet) + "".join(f"  {line}\n" for line in tail)
        parts.append(f"agents = [\n{body}]\n")
    if not settings_first and settings_table:
        parts.append("\n" + settings_table)
    every = [*top, *tail, *(c for agent in fleet for c in (*agent.before, *agent.own))]
    if settings_table:
        every.append("# quick")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return "".join(parts).replace("\n", newline), fleet, every


new_agents = st.builds(
    lambda name, command, env, restart: AgentSpec(name=name, command=command, cwd=Path("/"), env=env,
                                                  restart=restart),
    names, commands, st.dictionaries(env_names, texts, max_size=2), st.sampled_from([None, "on-failure"]))


@BOUNDED
@given(document=documents(), spec=new_agents)
def test_add_then_rm_keeps_every_comment_and_gives_back_the_config(
        tmp_path: Path, document: tuple[str, list[Agent], list[str]], spec: AgentSpec) -> None:
    text, fleet, every_comment = document
    path = tmp_path / "agentmux.toml"
    path.write_bytes(text.encode())
    old = config.load(path)
    assert old.names() == [agent.name for agent in fleet]
    if spec.name.lower() in {name.lower() for name in old.names()}:
        return

    config.add_agent(old, spec)
    added = path.read_bytes().decode()
    assert config.load(path) == replace(old, agents=(*old.agents, spec))
    for comment in every_comment:
        assert comment in added, f"{comment!r} lost by add:\n{added}"

    config.remove_agent(config.load(path), spec.name)
    removed = path.read_bytes().decode()
    assert config.load(path) == old
    for comment in every_comment:
        assert comment in removed, f"{comment!r} lost by add then rm:\n{removed}"
    assert removed.rstrip("\r\n") == text.rstrip("\r\n"), f"add then rm changed the file:\n{text}\n---\n{removed}"
    assert ("\r\n" in removed) == ("\r\n" in text) and ("\r\n" in added) == ("\r\n" in text)


@BOUNDED
@given(document=documents(), data=st.data())
def test_rm_keeps_every_comment_but_the_agents_own(
        tmp_path: Path, document: tuple[str, list[Agent], list[str]], data: st.DataObject) -> None:
    text, fleet, every_comment = document
    if not fleet:
        return
    gone = data.draw(st.sampled_from(fleet))
    path = tmp_path / "agentmux.toml"
    path.write_bytes(text.encode())
    old = config.load(path)

    config.remove_agent(old, gone.name)

    after = path.read_bytes().decode()
    assert config.load(path) == replace(old, agents=tuple(a for a in old.agents if a.name != gone.name))
    for comment in every_comment:
        if comment not in gone.own:
            assert comment in after, f"{comment!r} lost by rm {gone.name}:\n{text}\n---\n{after}"


# --- any text --------------------------------------------------------------------------------------------

FIELDS = ["name", "kind", "command", "cwd", "env key", "env value", "secret key", "secret reference", "init",
          "socket", "state_dir", "tmux_config", "pass_env"]


def document_with(field: str, text: str, kind: str, directory: Path) -> str:
    agent: dict[str, object] = {"name": "a", "kind": kind, "command": "--speed 0" if kind == "demo" else "true",
                                "cwd": str(directory)}
    settings_table: dict[str, object] = {"socket": "s"}
    if field in ("name", "kind", "command", "cwd"):
        agent[field] = text
    elif field == "env key":
        agent["env"] = {text: "x"}
    elif field == "env value":
        agent["env"] = {"X": text}
    elif field == "secret key":
        agent["secrets"] = {text: "env:HOME"}
    elif field == "secret reference":
        agent["secrets"] = {"X": text}
    elif field == "init":
        agent["init"] = [text]
    elif field == "pass_env":
        settings_table["pass_env"] = [text]
    else:
        settings_table[field] = text
    return tomlkit.dumps({"agentmux": settings_table, "agents": [agent]})


@BOUNDED
@given(field=st.sampled_from(FIELDS), text=st.text(), kind=st.sampled_from(["command", "shell", "demo"]))
def test_any_text_in_a_config_loads_or_is_one_config_error(tmp_path: Path, field: str, text: str, kind: str) -> None:
    path = tmp_path / "agentmux.toml"
    try:
        config.parse(path, document_with(field, text, kind, tmp_path))
    except ConfigError as error:
        assert "\n" not in str(error), str(error)


@BOUNDED
@given(text=st.text())
def test_any_file_loads_or_is_one_config_error(tmp_path: Path, text: str) -> None:
    try:
        config.parse(tmp_path / "agentmux.toml", text)
    except ConfigError as error:
        assert "\n" not in str(error), str(error)


@BOUNDED
@given(name=st.text(), command=st.text(), cwd=st.text(), pairs=st.lists(st.text(), max_size=3),
       kind=st.sampled_from(["command", "shell", "demo", "robot"]))
def test_any_add_arguments_give_an_agent_or_one_usage_error(
        tmp_path: Path, name: str, command: str, cwd: str, pairs: list[str], kind: str) -> None:
    """`agentmux add NAME --command C --cwd D --env K=V...` as the CLI and the TUI's form check it."""
    from agentmux.config import new_agent as validate_new_agent
    from agentmux.config import parse_pairs
    from agentmux.errors import UsageError

    loaded = config.Config(path=tmp_path / "agentmux.toml", settings=config.Settings())
    try:
        table: dict[str, object] = {"name": name, "kind": kind, "command": command, "cwd": cwd or str(tmp_path),
                                    "env": parse_pairs(pairs, "--env")}
        spec = validate_new_agent(loaded, table)
    except UsageError as error:
        assert "\n" not in str(error), str(error)
    else:
        assert spec.name == name and spec.command == command
