"""`agentmux mcp`: the coordination tools over MCP's stdio transport, driven by the SDK's own client (README: MCP
server). Each session is a real `python -m agentmux --config CFG mcp --as NAME` process; effects are checked in
the store through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from agentmux.coord import messages
from agentmux.coord.locks import Locks
from agentmux.coord.mcp import MAX_WAIT, TOOLS
from agentmux.topics import topic_key, topics_dir
from tests.conftest import wait_until
from tests.coord.conftest import Coord


def server_argv(coord: Coord, *options: str) -> list[str]:
    return [sys.executable, "-m", "agentmux", "--config", str(coord.env.config_path), "mcp", *options]


@asynccontextmanager
async def session(coord: Coord, as_name: str | None = "alice", env: dict[str, str] | None = None,
                  ) -> AsyncIterator[ClientSession]:
    argv = server_argv(coord, *(["--as", as_name] if as_name else []))
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env or coord.env.environ,
                                   cwd=str(coord.env.root))
    with (coord.env.root / f"mcp-{as_name}.err").open("a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            yield client


def text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent), result
    return result.content[0].text


async def ok(client: ClientSession, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return json.loads(text(result))


async def refused(client: ClientSession, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    message = text(result)
    assert "Traceback" not in message
    return message


def fleet(coord: Coord, *names: str) -> None:
    """A config naming these agents (messages go to agents of the config)."""
    coord.env.write_config("".join(f'[[agents]]\nname = "{name}"\nkind = "shell"\n' for name in names))


def waiting_on(coord: Coord, topic: str) -> bool:
    """Does some process wait on `topic` (a note of agentmux/topics.py's)?"""
    return any(topics_dir(coord.state_dir).glob(f"{topic_key(topic)}.*"))


def cli_json(coord: Coord, *args: str) -> Any:
    done = coord.cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- the tools ------------------------------------------------------------------------------------------------


async def test_every_tool_is_listed_with_a_description_and_an_input_schema(coord: Coord) -> None:
    async with session(coord) as client:
        listed = (await client.list_tools()).tools
    assert [tool.name for tool in listed] == list(TOOLS)
    for tool in listed:
        assert tool.description and len(tool.description) > 60, tool.name  # says when to use it
        assert tool.input_schema["type"] == "object", tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name}"
    waits = [tool for tool in listed if "timeout" in tool.input_schema.get("properties", {})]
    assert waits and all(tool.input_schema["properties"]["timeout"]["maximum"] == MAX_WAIT for tool in waits)


async def test_the_lock_tools_take_renew_check_list_and_give_back_a_lock(coord: Coord) -> None:
    async with session(coord) as client:
        hold = await ok(client, "lock_acquire", name="build", ttl=30)
        assert (hold["lock"], hold["owner"], hold["mode"], hold["ttl"]) == ("build", "alice", "exclusive", 30)
        [info] = cli_json(coord, "lock", "ls")
        assert info["name"] == "build" and [h["owner"] for h in info["holders"]] == ["alice"]
        assert info["holders"][0]["token"] == hold["token"]
        assert coord.cli("lock", "check", "build", str(hold["token"])).returncode == 0

        checked = await ok(client, "lock_check", name="build", token=hold["token"])
        assert checked["holds"] is True and checked["hold"]["owner"] == "alice"
        renewed = await ok(client, "lock_renew", name="build", ttl=90)
        assert renewed["ttl"] == 90 and renewed["token"] == hold["token"]
        assert cli_json(coord, "lock", "ls")[0]["holders"][0]["ttl"] == 90
        [listed] = await ok(client, "lock_list")
        assert listed["name"] == "build" and listed["holders"][0]["remaining"] > 80

        released = await ok(client, "lock_release", name="build")
        assert released["token"] == hold["token"]
        assert cli_json(coord, "lock", "ls") == []
        assert await ok(client, "lock_check", name="build", token=hold["token"]) == {"holds": False, "holders": []}

        shared = await ok(client, "lock_acquire", name="docs", shared=True)
        assert shared["mode"] == "shared"
        assert coord.cli("lock", "acquire", "docs", "--shared", "--as", "bob", "--timeout", "0").returncode == 0
        holders = {h["owner"] for h in cli_json(coord, "lock", "ls")[0]["holders"]}
        assert holders == {"alice", "bob"}


async def test_refusals_and_bad_arguments_come_back_as_tool_errors(coord: Coord) -> None:
    assert coord.cli("lock", "acquire", "build", "--as", "bob").returncode == 0
    async with session(coord) as client:
        message = await refused(client, "lock_acquire", name="build", timeout=0)
        assert "held by bob" in message
        started = time.monotonic()
        message = await refused(client, "lock_acquire", name="build", timeout=0.3)
        assert "held by bob" in message and "waited" in message and time.monotonic() - started < 5
        assert "alice does not hold lock build" in await refused(client, "lock_release", name="build")
        assert "cannot be renewed" in await refused(client, "lock_renew", name="build")
        assert "use letters, digits" in await refused(client, "lock_acquire", name="no spaces please")
        assert "less than or equal to 120" in await refused(client, "lock_acquire", name="x", timeout=500)
        assert "name" in await refused(client, "lock_acquire")  # a required argument missing
        assert "Unknown tool" in await refused(client, "lock_steal", name="build")
        assert (await ok(client, "lock_list"))[0]["holders"][0]["owner"] == "bob"  # the session goes on


async def test_a_lock_acquire_waiting_in_one_session_is_granted_when_another_session_releases(coord: Coord) -> None:
    async with session(coord, "alice") as alice, session(coord, "bob") as bob:
        first = await ok(alice, "lock_acquire", name="build")
        got: list[dict[str, Any]] = []
        waited: list[float] = []

        async def wait_for_it() -> None:
            started = time.monotonic()
            got.append(await ok(bob, "lock_acquire", name="build", timeout=60))
            waited.append(time.monotonic() - started)

        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_it)
            with anyio.fail_after(30):
                while not any(w.owner == "bob" for info in Locks(coord.store, coord.state_dir).ls()
                              for w in info.waiters):
                    await anyio.sleep(0.02)
            assert not got
            # alice's session answers while bob's call waits: the wait is in a worker thread
            assert (await ok(alice, "lock_list"))[0]["waiters"][0]["owner"] == "bob"
            released = time.monotonic()
            await ok(alice, "lock_release", name="build")
        assert got[0]["owner"] == "bob" and got[0]["token"] == first["token"] + 1
        assert time.monotonic() - released < 5 and waited[0] > 0
        assert [h["owner"] for h in cli_json(coord, "lock", "ls")[0]["holders"]] == ["bob"]


async def test_the_reservation_tools_reserve_list_and_release_files_relative_to_the_server_s_cwd(coord: Coord
                                                                                                ) -> None:
    (coord.env.root / "src").mkdir()
    async with session(coord) as client:
        made = await ok(client, "reserve", paths=["src/parser.py", "docs/*.md"], exclusive=True, ttl=600,
                        reason="refactoring the parser")
        assert [m["pattern"] for m in made] == [f"{coord.env.root}/src/parser.py", f"{coord.env.root}/docs/*.md"]
        assert all(m["owner"] == "alice" and m["exclusive"] and m["reason"] == "refactoring the parser"
                   for m in made)
        listed = cli_json(coord, "reserve", "ls")
        assert sorted(r["pattern"] for r in listed) == sorted(m["pattern"] for m in made)
        assert sorted(r["pattern"] for r in await ok(client, "reservations_list")) == sorted(
            m["pattern"] for m in made)
        # another agent is refused through the CLI, and alice's own are refused to bob through his session
        assert coord.cli("reserve", "src/parser.py", "--as", "bob").returncode == 1
        async with session(coord, "bob") as bob:
            message = await refused(bob, "reserve", paths=["src/parser.py"])
            assert "nothing reserved" in message and "alice" in message and "refactoring the parser" in message
            assert "at least 1 item" in await refused(bob, "reserve", paths=[])
        gone = await ok(client, "reserve_release", paths=["src/parser.py"])
        assert [g["pattern"] for g in gone] == [m["pattern"] for m in made if m["pattern"].endswith("parser.py")]
        assert len(cli_json(coord, "reserve", "ls")) == 1
        assert len(await ok(client, "reserve_release")) == 1  # no paths: all of alice's here
        assert cli_json(coord, "reserve", "ls") == []


async def test_barrier_wait_passes_when_the_parties_arrive_and_breaks_on_its_timeout(coord: Coord) -> None:
    async with session(coord, "alice") as alice, session(coord, "bob") as bob:
        passed: list[dict[str, Any]] = []

        async def arrive(client: ClientSession) -> None:
            passed.append(await ok(client, "barrier_wait", name="phase-1", parties=3, timeout=60))

        async with anyio.create_task_group() as group:
            group.start_soon(arrive, alice)
            group.start_soon(arrive, bob)
            with anyio.fail_after(30):
                while not [b for b in await ok(alice, "barrier_list") if len(b["arrived"]) == 2]:
                    await anyio.sleep(0.05)
            arrived = coord.cli("barrier", "wait", "phase-1", "--parties", "3", "--as", "carol", "--timeout", "30")
            assert arrived.returncode == 0, arrived.stderr
        assert len(passed) == 2 and all(sorted(p["arrived"]) == ["alice", "bob", "carol"] for p in passed)
        [info] = cli_json(coord, "barrier", "ls")
        assert info["name"] == "phase-1" and info["state"] == "passed"

        message = await refused(alice, "barrier_wait", name="phase-2", parties=2, timeout=0.3)
        assert "phase-2" in message
        assert "less than or equal to 120" in await refused(alice, "barrier_wait", name="x", parties=2, timeout=121)
        states = {b["name"]: b["state"] for b in await ok(bob, "barrier_list")}
        assert states == {"phase-1": "passed", "phase-2": "broken"}


async def test_the_message_tools_send_receive_once_wait_and_list(coord: Coord) -> None:
    fleet(coord, "alice", "bob", "carol")
    async with session(coord, "alice") as alice, session(coord, "bob") as bob:
        sent = await ok(alice, "msg_send", to=["bob"], body="the parser API changed", importance="high")
        assert (sent["sender"], sent["recipients"], sent["importance"]) == ("alice", ["bob"], "high")
        assert [m["body"] for m in cli_json(coord, "msg", "ls", "--as", "bob")] == ["the parser API changed"]
        assert [m["id"] for m in await ok(bob, "msg_list", unread=True)] == [sent["id"]]
        [got] = await ok(bob, "msg_recv")
        assert got["body"] == "the parser API changed" and got["thread"] == sent["thread"]
        assert await ok(bob, "msg_recv") == []  # received once
        assert await ok(bob, "msg_list", unread=True) == []
        assert len(await ok(bob, "msg_list")) == 1

        everyone = await ok(alice, "msg_send", to="all", body="lunch", thread="social", importance="low")
        assert everyone["recipients"] == ["bob", "carol"] and everyone["thread"] == "social"
        assert [m["body"] for m in cli_json(coord, "msg", "ls", "--as", "carol")] == ["lunch"]
        assert "nobody" in await refused(alice, "msg_send", to=["nobody"], body="hi")
        assert (await ok(alice, "msg_send", to="carol", body="one name", thread="social"))["recipients"] == ["carol"]
        assert [m["body"] for m in cli_json(coord, "msg", "ls", "--as", "carol")] == ["lunch", "one name"]
        assert await refused(alice, "msg_send", to=["bob"], body="hi", importance="whenever")

        waited: list[list[dict[str, Any]]] = []

        async def wait_for_one() -> None:
            waited.append(await ok(bob, "msg_recv", wait=60, thread="review"))

        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_one)
            with anyio.fail_after(30):
                while not waiting_on(coord, messages.topic("bob")):
                    await anyio.sleep(0.02)
            assert not waited
            sent_at = time.monotonic()
            done = coord.cli("msg", "send", "bob", "please review", "--thread", "review", "--as", "carol")
            assert done.returncode == 0, done.stderr
        assert [m["body"] for m in waited[0]] == ["please review"] and time.monotonic() - sent_at < 5
        assert [m["body"] for m in await ok(bob, "msg_recv", limit=5)] == ["lunch"]


async def test_the_state_tools_get_set_cas_delete_list_and_watch(coord: Coord) -> None:
    async with session(coord, "alice") as alice, session(coord, "bob") as bob:
        assert await ok(alice, "state_get", key="build/status") is None
        entry = await ok(alice, "state_set", key="build/status", value={"state": "green", "tests": 812})
        assert entry["version"] == 1 and entry["updated_by"] == "alice"
        shown = coord.cli("state", "get", "build/status")
        assert shown.returncode == 0 and json.loads(shown.stdout) == {"state": "green", "tests": 812}
        assert (await ok(bob, "state_get", key="build/status"))["value"] == {"state": "green", "tests": 812}

        swapped = await ok(bob, "state_cas", key="build/status", version=1, value="red")
        assert swapped["version"] == 2 and swapped["updated_by"] == "bob"
        message = await refused(alice, "state_cas", key="build/status", version=1, value="green")
        assert "not swapped" in message and "version 2" in message
        assert (await ok(alice, "state_cas", key="tasks/next", version=0, value=[1, 2]))["version"] == 1

        listing = await ok(alice, "state_list", prefix="build/")
        assert [e["key"] for e in listing["entries"]] == ["build/status"] and listing["revision"] == 3
        assert [e["key"] for e in (await ok(alice, "state_list"))["entries"]] == ["build/status", "tasks/next"]

        # the changes after a revision come at once; a later one is waited for
        seen = await ok(alice, "state_watch", after=1, prefix="build/")
        assert [c["value"] for c in seen["changes"]] == ["red"] and seen["revision"] == 2
        assert await ok(alice, "state_watch", after=3, timeout=0.2) == {"changes": [], "revision": 3}
        watched: list[dict[str, Any]] = []

        async def watch() -> None:
            watched.append(await ok(alice, "state_watch", after=3, prefix="build/", timeout=60))

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            with anyio.fail_after(30):
                while not waiting_on(coord, "state"):
                    await anyio.sleep(0.02)
            await ok(bob, "state_set", key="other", value=1)  # not under the prefix: still waiting
            assert not watched
            set_at = time.monotonic()
            assert coord.cli("state", "set", "build/status", '"green"', "--as", "carol").returncode == 0
        assert [(c["key"], c["value"], c["by"]) for c in watched[0]["changes"]] == [("build/status", "green",
                                                                                     "carol")]
        assert watched[0]["revision"] == 5 and time.monotonic() - set_at < 5

        gone = await ok(bob, "state_delete", key="tasks/next")
        assert gone["value"] == [1, 2]
        assert await ok(bob, "state_delete", key="tasks/next") is None
        assert coord.cli("state", "get", "tasks/next").returncode == 1
        assert "less than or equal to 120" in await refused(alice, "state_watch", after=0, timeout=600)


async def test_a_watch_from_a_compacted_revision_tells_the_model_to_read_again(coord: Coord) -> None:
    from agentmux.coord.kv import SharedState

    state = SharedState(coord.store, coord.state_dir, keep=2)  # the log keeps the newest 2 changes
    for number in range(5):
        state.set("counter", number, "script")
    assert state.compacted() >= 1
    async with session(coord) as client:
        message = await refused(client, "state_watch", after=1)
        assert "resync" in message and "state_list" in message


# --- the server process ---------------------------------------------------------------------------------------


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(request_id: int, tool: str, **arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}


def lines(*messages: dict[str, Any]) -> str:
    return "".join(json.dumps(message) + "\n" for message in messages)


NOISY = """
import os
import sys
import agentmux.coord.locks as locks
real = locks.Locks.acquire
def noisy(self, *args, **kwargs):
    print("a stray print in the server")
    sys.stdout.flush()
    os.system("echo a child writing to its stdout")
    return real(self, *args, **kwargs)
locks.Locks.acquire = noisy
from agentmux.cli import main
sys.exit(main(sys.argv[1:]))
"""


@contextmanager
def raw_server(coord: Coord, as_name: str) -> Iterator[subprocess.Popen[bytes]]:
    """An `agentmux mcp` process the test speaks JSON-RPC lines to itself; killed at the end if still running."""
    server = subprocess.Popen(server_argv(coord, "--as", as_name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=coord.env.environ, cwd=coord.env.root)
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=30)
        for stream in (server.stdin, server.stdout, server.stderr):
            if stream is not None:
                stream.close()


def test_stdout_carries_nothing_but_protocol_even_when_the_server_prints(coord: Coord) -> None:
    argv = [sys.executable, "-c", NOISY, "--config", str(coord.env.config_path), "mcp", "--as", "alice"]
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=coord.env.environ, cwd=coord.env.root)
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write(lines(INITIALIZE, INITIALIZED, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                                 call(3, "lock_acquire", name="build"), call(4, "lock_list")).encode())
        server.stdin.flush()
        raw = [server.stdout.readline() for _ in range(4)]
        rest, stderr = server.communicate(timeout=30)  # closes its input: the session ends
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert rest == b""
    replies = [json.loads(line) for line in raw]  # every line is JSON-RPC, and nothing else came
    assert all(reply["jsonrpc"] == "2.0" and line.endswith(b"}\n") for reply, line in zip(replies, raw, strict=True))
    by_id = {reply["id"]: reply for reply in replies}
    assert sorted(by_id) == [1, 2, 3, 4], replies
    assert not by_id[3]["result"].get("isError")
    assert json.loads(by_id[3]["result"]["content"][0]["text"])["owner"] == "alice"
    assert "a stray print in the server" in stderr.decode() and "a child writing to its stdout" in stderr.decode()
    assert "serving the coordination tools for alice" in stderr.decode()


def test_a_session_that_ends_while_a_call_waits_ends_the_server_at_once(coord: Coord) -> None:
    assert coord.cli("lock", "acquire", "build", "--as", "bob").returncode == 0
    with raw_server(coord, "alice") as server:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(lines(INITIALIZE, INITIALIZED, call(2, "lock_acquire", name="build", timeout=100)).encode())
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == 1
        wait_until(lambda: any(w["owner"] == "alice" for w in cli_json(coord, "lock", "ls")[0]["waiters"]),
                   timeout=30, message="alice waiting")
        closed = time.monotonic()
        server.stdin.close()
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - closed < 10  # not the 100 s the call would wait


def test_a_lock_granted_after_the_client_cancelled_the_call_is_given_back(coord: Coord) -> None:
    assert coord.cli("lock", "acquire", "build", "--as", "bob").returncode == 0
    with raw_server(coord, "alice") as server:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(lines(INITIALIZE, INITIALIZED, call(2, "lock_acquire", name="build", timeout=100)).encode())
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == 1
        wait_until(lambda: any(w["owner"] == "alice" for w in cli_json(coord, "lock", "ls")[0]["waiters"]),
                   timeout=30, message="alice waiting")
        server.stdin.write(lines({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                  "params": {"requestId": 2, "reason": "the user pressed Escape"}}).encode())
        server.stdin.flush()
        assert coord.cli("lock", "release", "build", "--as", "bob").returncode == 0
        # alice's thread is granted the lock nobody waits for any more, and gives it back
        wait_until(lambda: cli_json(coord, "lock", "ls") == [], timeout=30, message="the lock free")
        server.stdin.write(lines(call(3, "lock_list")).encode())
        server.stdin.flush()
        reply = json.loads(server.stdout.readline())
        assert reply["id"] == 3 and json.loads(reply["result"]["content"][0]["text"]) == []
        server.stdin.close()
        assert server.wait(timeout=30) == 0


def cancel(server: subprocess.Popen[bytes], request_id: int) -> None:
    assert server.stdin is not None
    server.stdin.write(lines({"jsonrpc": "2.0", "method": "notifications/cancelled",
                              "params": {"requestId": request_id, "reason": "the user pressed Escape"}}).encode())
    server.stdin.flush()


def started(server: subprocess.Popen[bytes], *requests: dict[str, Any]) -> None:
    """Initialize a raw server and send it `requests`."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(lines(INITIALIZE, INITIALIZED, *requests).encode())
    server.stdin.flush()
    assert json.loads(server.stdout.readline())["id"] == 1


def test_messages_received_for_a_cancelled_msg_recv_are_unread_again(coord: Coord) -> None:
    fleet(coord, "alice", "bob")
    with raw_server(coord, "alice") as server:
        started(server, call(2, "msg_recv", wait=100))
        wait_until(lambda: waiting_on(coord, messages.topic("alice")), timeout=30, message="alice's recv waiting")
        cancel(server, 2)
        assert coord.cli("msg", "send", "alice", "are you there?", "--as", "bob").returncode == 0
        # the abandoned wait takes it (nobody reads the answer) and hands it back as unread
        wait_until(lambda: [m["body"] for m in cli_json(coord, "msg", "ls", "--as", "alice", "--unread")]
                   == ["are you there?"], timeout=30, message="the message unread")
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(lines(call(3, "msg_recv")).encode())
        server.stdin.flush()
        reply = json.loads(server.stdout.readline())
        assert [m["body"] for m in json.loads(reply["result"]["content"][0]["text"])] == ["are you there?"]


def test_a_cancelled_barrier_wait_leaves_the_barrier(coord: Coord) -> None:
    with raw_server(coord, "alice") as server:
        started(server, call(2, "barrier_wait", name="phase-1", parties=2, timeout=100))
        wait_until(lambda: [b for b in cli_json(coord, "barrier", "ls") if b["arrived"] == ["alice"]], timeout=30,
                   message="alice arrived")
        cancel(server, 2)
        wait_until(lambda: cli_json(coord, "barrier", "ls")[0]["state"] == "broken", timeout=30,
                   message="the barrier broken")
        [info] = cli_json(coord, "barrier", "ls")
        assert "alice left" in info["reason"]


# --- who is calling -------------------------------------------------------------------------------------------


def test_without_a_caller_it_says_so_on_stderr_and_exits_2(coord: Coord) -> None:
    done = subprocess.run(server_argv(coord), input="", capture_output=True, text=True, env=coord.env.environ,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "who is asking?" in done.stderr and "Traceback" not in done.stderr


async def test_inside_an_agent_the_caller_is_the_agent_it_runs_in(coord: Coord) -> None:
    async with session(coord, None, env={**coord.env.environ, "AGENTMUX_AGENT": "builder"}) as client:
        assert (await ok(client, "lock_acquire", name="build"))["owner"] == "builder"
    assert cli_json(coord, "lock", "ls")[0]["holders"][0]["owner"] == "builder"


@pytest.mark.parametrize("name", ["bad name", "-x"])
def test_a_bad_as_name_is_a_usage_error(coord: Coord, name: str) -> None:
    done = subprocess.run(server_argv(coord, f"--as={name}"), input="", capture_output=True, text=True,
                          env=coord.env.environ, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and "--as" in done.stderr
