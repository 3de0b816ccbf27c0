"""The coordination primitives as MCP tools over stdio (`agentmux mcp`), for agents that speak MCP (Claude Code).

One tool per operation, named by its primitive (`lock_acquire`, `state_set`, ...), each acting for one owner, the
caller the server was started for (`agentmux mcp --as NAME`, or the agent whose pane it runs in). A tool's result
is the JSON of the primitive's own dataclasses (their `to_json`), the same as the CLI's `--json`; a refusal, a
timeout or a wrong argument is an MCP tool error (`isError`) carrying the message the CLI would print, never a
traceback.

Every call runs in a worker thread with a store connection of that thread's own (a SQLite connection is never
used by two threads at once), so a call that waits (a lock, a barrier, a message, a change of the shared state)
never holds up the others. A wait is capped at `MAX_WAIT` seconds, below any client's request timeout; the caller
asks again. A call the client gave up on (cancelled, or the session ended) is left to finish on its own, and what
it took is given back: a lock granted after the client stopped waiting is released, messages taken are unread
again, a barrier waited at is left (it breaks: nobody passes thinking the caller is there).

The `mcp` SDK is imported here only (and by the tests); `agentmux mcp` imports this module only when it runs.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from pydantic import Field

from agentmux.ansi import one_line
from agentmux.coord.barriers import MAX_PARTIES, Barriers
from agentmux.coord.kv import SharedState
from agentmux.coord.locks import DEFAULT_TTL as LOCK_TTL
from agentmux.coord.locks import MAX_TTL, Locks
from agentmux.coord.messages import Messages
from agentmux.coord.reservations import DEFAULT_TTL as RESERVE_TTL
from agentmux.coord.reservations import MAX_TTL as RESERVE_MAX_TTL
from agentmux.coord.reservations import Reservations
from agentmux.errors import AgentmuxError
from agentmux.store import Store

MAX_WAIT = 120.0
"""The longest any one tool call waits: well below a client's request timeout. Wait again for longer."""
DEFAULT_WAIT = 30.0

log = logging.getLogger("agentmux.mcp")

T = TypeVar("T")

LockName = Annotated[str, Field(description="the lock's name, agreed between agents: build, db-migrate, port-8080")]
Lease = Annotated[float, Field(gt=0, le=MAX_TTL, description="seconds it is yours unless renewed")]
Key = Annotated[str, Field(description="the key: any text, by convention words joined by / (build/status)")]
Wait = Annotated[float, Field(ge=0, le=MAX_WAIT, description=f"seconds to wait at most (0: do not wait; at most "
                                                             f"{MAX_WAIT:g}, call again to wait longer)")]

INSTRUCTIONS = """\
agentmux runs several AI coding agents side by side, each in its own terminal, on the same machine and often the \
same files. These tools coordinate you with the others: locks (one at a time for a build, a migration, a port), \
messages (ask or tell another agent), shared state (a small key/value store every agent reads), file \
reservations (tell the others which files you are editing) and barriers (wait until N agents reach a point). \
You act as {owner}. A tool that waits returns after at most {cap:g} seconds; call it again to wait longer."""


@dataclass(frozen=True)
class Seat:
    """Who the server acts for and where: the owner, the fleet's store and state dir, the working directory
    (relative paths of reservations), and the fleet's agent names (read when a message goes to all)."""

    owner: str
    store_path: Path
    state_dir: Path
    cwd: Path
    fleet: Callable[[], Sequence[str]] = field(default=lambda: ())


class Connections:
    """One store connection per worker thread, opened on first use, all closed at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.opened: list[Store] = []
        self.guard = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self.local, "store", None)
        if store is None:
            store = Store(self.path)
            self.local.store = store
            with self.guard:
                self.opened.append(store)
        return store

    def close(self) -> None:
        with self.guard:
            stores, self.opened = self.opened, []
        for store in stores:
            with contextlib.suppress(sqlite3.Error):
                store.close()


def tool_error(exc: BaseException) -> ToolError:
    if isinstance(exc, AgentmuxError):
        return ToolError(one_line(str(exc)))
    if isinstance(exc, sqlite3.Error):
        return ToolError(one_line(f"the store {type(exc).__name__}: {exc}"))
    log.error("internal error: %s: %s", type(exc).__name__, one_line(str(exc)))
    return ToolError(one_line(f"internal error: {type(exc).__name__}: {exc}"))


def as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


class Tools:
    """The tools of one seat. Each public coroutine is one MCP tool; its docstring is what the model reads."""

    def __init__(self, seat: Seat) -> None:
        self.seat = seat
        self.connections = Connections(seat.store_path)

    async def call(self, work: Callable[[Store], T], undo: Callable[[Store, T], object] | None = None,
                   on_cancel: Callable[[Store], object] | None = None, show: Callable[[T], object] | None = None,
                   ) -> str:
        """Run `work` in a worker thread on that thread's store connection; its result (through `show`) as JSON.
        AgentmuxError and the store's errors become tool errors. When the caller gives up while `work` runs
        (the request cancelled, the session ended), `on_cancel` runs at once (to end the wait: leave a barrier)
        and `undo` is given what `work` returns when it comes (to give back a lock granted to nobody)."""
        guard = threading.Lock()
        abandoned = False
        done: list[T] = []

        def run() -> T:
            store = self.connections.get()
            result = work(store)
            with guard:
                done.append(result)
                late = abandoned
            if late and undo is not None:
                self.quietly("giving back what a cancelled call took", lambda: undo(store, result))
            return result

        try:
            result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with guard:
                abandoned = True
                finished = list(done)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: self.cancelled(finished, undo, on_cancel))
            raise
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is the model's to read, never a traceback
            raise tool_error(exc) from None
        return as_json(show(result) if show is not None else result)

    def cancelled(self, finished: list[T], undo: Callable[[Store, T], object] | None,
                  on_cancel: Callable[[Store], object] | None) -> None:
        store = self.connections.get()
        if finished and undo is not None:  # it finished just as the caller gave up
            self.quietly("giving back what a cancelled call took", lambda: undo(store, finished[0]))
        elif on_cancel is not None:
            self.quietly("ending a cancelled call", lambda: on_cancel(store))

    @staticmethod
    def quietly(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - the caller is gone: note it, nothing more
            log.warning("%s: %s", what, one_line(str(exc)))

    def locks(self, store: Store) -> Locks:
        return Locks(store, self.seat.state_dir)

    # --- locks ----------------------------------------------------------------------------------------------

    async def lock_acquire(self, name: LockName, ttl: Lease = LOCK_TTL, timeout: Wait = DEFAULT_WAIT,
                           shared: Annotated[bool, Field(description="a shared (read) hold: others may hold it "
                                                         "shared at the same time, nobody exclusively")] = False,
                           ) -> str:
        """Take a lock before doing something only one agent may do at a time: running the build or the test
        suite, a database migration, using a port, publishing. Waits in line (first come, first served) up to
        `timeout` seconds (at most 120; call again to wait longer) and returns the hold with its fencing `token`
        and lease. The lock is yours for `ttl` seconds: renew it (lock_renew) for longer work and release it
        (lock_release) as soon as you are done. An error says who holds it."""
        owner = self.seat.owner
        return await self.call(
            lambda store: self.locks(store).acquire(name, owner, ttl=ttl, shared=shared, wait=timeout).to_json(
                time.time()),
            undo=lambda store, _: self.locks(store).release(name, owner))

    async def lock_release(self, name: LockName) -> str:
        """Give back a lock you hold (lock_acquire) the moment you are done with it, so the next agent in line
        gets it at once. An error when you do not hold it (any more: its lease may have ended)."""
        return await self.call(lambda store: self.locks(store).release(name, self.seat.owner).to_json(time.time()))

    async def lock_renew(self, name: LockName,
                         ttl: Annotated[float | None, Field(gt=0, le=MAX_TTL, description="the new lease in seconds "
                                                            "from now (default: the one it was taken with)")] = None,
                         ) -> str:
        """Extend the lease of a lock you hold while you still need it (before it ends: a lease that ended is
        never renewed, take the lock again). Returns the hold with its new end."""
        return await self.call(lambda store: self.locks(store).renew(name, self.seat.owner, ttl).to_json(time.time()))

    async def lock_check(self, name: LockName,
                         token: Annotated[int, Field(description="the fencing token lock_acquire returned")]) -> str:
        """Check that a fencing token still holds a lock before an action that must not happen without it (after
        a long pause, before writing what the lock protects). Returns {"holds": true, "hold": ...} or
        {"holds": false, "holders": [...]} with whoever holds it now."""
        def work(store: Store) -> object:
            locks = self.locks(store)
            now = time.time()
            hold = locks.check(name, token)
            if hold is not None:
                return {"holds": True, "hold": hold.to_json(now)}
            return {"holds": False, "holders": [other.to_json(now) for other in locks.holders(name)]}
        return await self.call(work)

    async def lock_list(self) -> str:
        """See which locks are held or waited for, by whom, with tokens and leases left: before waiting on a lock,
        or to find out what another agent is doing."""
        return await self.call(lambda store: [info.to_json(time.time()) for info in self.locks(store).ls()])

    # --- file reservations ----------------------------------------------------------------------------------

    def reservations(self, store: Store) -> Reservations:
        return Reservations(store, self.seat.state_dir)

    async def reserve(
        self,
        paths: Annotated[list[str], Field(min_length=1, description="files, directories or globs (src/parser/**, "
                                          "*.md), relative to your working directory or absolute")],
        exclusive: Annotated[bool, Field(description="nobody else may reserve them at all (default: shared, "
                                                     "others may share but not take them exclusively)")] = False,
        ttl: Annotated[float, Field(gt=0, le=RESERVE_MAX_TTL, description="seconds the reservation lasts")]
        = RESERVE_TTL,
        reason: Annotated[str, Field(description="what you are doing, for the others to read")] = "",
    ) -> str:
        """Before editing files another agent may be editing too, reserve them: the others see what you work on
        and a reservation in the way of theirs is refused. All or nothing: an error lists every reservation of
        another agent in the way (then work on something else, or ask its owner with msg_send). Reserve exclusive
        to edit, shared to read-only depend on files staying as they are. Release them (reserve_release) when
        done; they end after `ttl` or with your run anyway."""
        owner, cwd = self.seat.owner, self.seat.cwd
        return await self.call(
            lambda store: self.reservations(store).reserve(owner, paths, cwd, exclusive=exclusive, ttl=ttl,
                                                           reason=reason),
            show=lambda made: [reservation.to_json(time.time()) for reservation in made])

    async def reserve_release(
        self,
        paths: Annotated[list[str], Field(description="the paths as you reserved them; empty: all of yours in "
                                          "this project")] = [],  # noqa: B006 - a default for the schema only
    ) -> str:
        """Give back file reservations as soon as you are done with the files (committed, or given up), so others
        may take them. Returns the reservations given back."""
        owner, cwd = self.seat.owner, self.seat.cwd
        return await self.call(lambda store: self.reservations(store).release(owner, list(paths), cwd),
                               show=lambda gone: [reservation.to_json(time.time()) for reservation in gone])

    async def reservations_list(self) -> str:
        """See which files of this project are reserved, by whom, why and until when: before starting on files,
        to pick work nobody else is doing."""
        cwd = self.seat.cwd
        return await self.call(lambda store: self.reservations(store).ls(cwd=cwd),
                               show=lambda found: [reservation.to_json(time.time()) for reservation in found])

    # --- barriers -------------------------------------------------------------------------------------------

    def barriers(self, store: Store) -> Barriers:
        return Barriers(store, self.seat.state_dir)

    async def barrier_wait(
        self,
        name: Annotated[str, Field(description="the barrier's name, agreed between the agents: tests-green, "
                                               "phase-2")],
        parties: Annotated[int, Field(ge=1, le=MAX_PARTIES, description="how many agents must arrive (you "
                                                                        "included)")],
        timeout: Wait = DEFAULT_WAIT,
    ) -> str:
        """When agents must all reach a point before any goes on (everyone finished phase 1, all builds
        green), arrive at a barrier and wait for the others: returns who arrived, in order, once `parties`
        have. If they have not all arrived within `timeout` seconds (at most 120) the barrier breaks: you get an
        error, and so does everyone waiting, and each may try again. A barrier can be passed again and again
        (each pass is a new generation)."""
        owner = self.seat.owner
        return await self.call(lambda store: self.barriers(store).wait(name, owner, parties, timeout=timeout),
                               on_cancel=lambda store: self.barriers(store).leave(owner),
                               show=lambda passage: passage.to_json())

    async def barrier_list(self) -> str:
        """See the barriers: who has arrived, how many are missing, which passed or broke and why."""
        return await self.call(lambda store: self.barriers(store).ls(),
                               show=lambda found: [info.to_json(time.time()) for info in found])

    # --- messages -------------------------------------------------------------------------------------------

    def messages(self, store: Store) -> Messages:
        return Messages(store, self.seat.state_dir)

    async def msg_send(
        self,
        to: Annotated[list[str] | str, Field(description='agent names; one name; or "all" (every other agent of '
                                                         "the fleet)")],
        body: Annotated[str, Field(min_length=1, description="the message")],
        thread: Annotated[str, Field(description="the thread it belongs to (a reply: the thread of the message "
                                                 "answered); empty: a new thread, named by the message's id")] = "",
        importance: Annotated[Literal["low", "normal", "high", "urgent"], Field(description="how much it matters")]
        = "normal",
    ) -> str:
        """Tell or ask other agents something: that you changed a shared interface, that a file is free, a
        question about their work, an answer (in the thread of the question). They read it with msg_recv.
        Returns the message with its id and thread."""
        owner = self.seat.owner
        names = [to] if isinstance(to, str) else list(to)
        return await self.call(
            lambda store: self.messages(store).send(owner, names, body, thread=thread, importance=importance,
                                                    fleet=self.seat.fleet()),
            show=lambda message: message.to_json())

    async def msg_recv(
        self,
        wait: Annotated[float, Field(ge=0, le=MAX_WAIT, description="seconds to wait for one when none is there "
                                                                   f"(0: do not wait; at most {MAX_WAIT:g})")] = 0,
        thread: Annotated[str | None, Field(description="only messages of this thread")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="at most this many")] = 20,
    ) -> str:
        """Read the messages other agents sent you (oldest first; each is handed to you once, then it is read):
        at the start of a task, between steps, and when you are waiting on another agent (with `wait`).
        Returns [] when there is none."""
        owner = self.seat.owner
        return await self.call(
            lambda store: self.messages(store).recv(owner, wait=wait, limit=limit, thread=thread),
            undo=lambda store, taken: self.messages(store).unread(owner, [m.id for m in taken]),
            show=lambda taken: [message.to_json() for message in taken])

    async def msg_list(self, unread: Annotated[bool, Field(description="only the ones you have not read")] = False,
                       ) -> str:
        """Look over the messages sent to you, read or not, without marking any read (msg_recv takes them)."""
        owner = self.seat.owner
        return await self.call(lambda store: self.messages(store).ls(owner, unread=unread),
                               show=lambda found: [message.to_json() for message in found])

    # --- shared state ---------------------------------------------------------------------------------------

    def state(self, store: Store) -> SharedState:
        return SharedState(store, self.seat.state_dir)

    async def state_get(self, key: Key) -> str:
        """Read one key of the state the agents share (the value, its version, who set it and when); null when
        it is not set."""
        return await self.call(lambda store: self.state(store).get(key),
                               show=lambda entry: None if entry is None else entry.to_json())

    async def state_set(self, key: Key, value: Annotated[Any, Field(description="any JSON value")]) -> str:
        """Publish something the other agents should know, under a key of the shared state: a status
        (build/status = "green"), a decision, a port, the step you are on. Overwrites; to change a value others
        may change too, read it and use state_cas."""
        owner = self.seat.owner
        return await self.call(lambda store: self.state(store).set(key, value, owner), show=lambda e: e.to_json())

    async def state_delete(self, key: Key) -> str:
        """Remove a key of the shared state that no longer holds; returns what it held (null when it was not
        set)."""
        owner = self.seat.owner
        return await self.call(lambda store: self.state(store).delete(key, owner),
                               show=lambda entry: None if entry is None else entry.to_json())

    async def state_cas(
        self, key: Key,
        version: Annotated[int, Field(ge=0, description="the version you read (state_get); 0: only if the key is "
                                                        "not set")],
        value: Annotated[Any, Field(description="any JSON value")],
    ) -> str:
        """Change a key only if nobody changed it since you read it (compare and swap): claim a task from a shared
        list, bump a counter, take a free slot. Refused with its current version when it changed: read it again
        and decide again."""
        owner = self.seat.owner
        return await self.call(lambda store: self.state(store).cas(key, version, value, owner),
                               show=lambda entry: entry.to_json())

    async def state_list(self, prefix: Annotated[str, Field(description="only keys starting with this")] = "",
                         ) -> str:
        """Read every key of the shared state (under a prefix), with the state's `revision`: watch for changes
        after it with state_watch."""
        def work(store: Store) -> object:
            revision, entries = self.state(store).snapshot(prefix)
            return {"revision": revision, "entries": [entry.to_json() for entry in entries]}
        return await self.call(work)

    async def state_watch(
        self,
        after: Annotated[int, Field(ge=0, description="the revision you have seen (state_list's, or the last "
                                                      "change's `rev`)")],
        prefix: Annotated[str, Field(description="only keys starting with this")] = "",
        timeout: Annotated[float, Field(ge=0, le=MAX_WAIT, description="seconds to wait for a change (at most "
                                                                       f"{MAX_WAIT:g})")] = 10,
    ) -> str:
        """Wait for another agent to change the shared state (a status you depend on, a key you wait for): the
        changes after revision `after`, waiting up to `timeout` seconds for the first. Returns {"changes": [...],
        "revision": R}: call again with after=R. An error saying resync means changes were dropped: read the keys
        again with state_list and watch from its revision."""
        def work(store: Store) -> object:
            state = self.state(store)
            changes = state.changes(prefix, after)
            if not changes:
                for change in state.watch(prefix, after, timeout):
                    changes = [change, *state.changes(prefix, change.rev)]
                    break
            return {"changes": [change.to_json() for change in changes],
                    "revision": changes[-1].rev if changes else after}
        try:
            return await self.call(work)
        except ToolError as exc:
            if "resync" in str(exc):
                raise ToolError(f"{exc}: call state_list for the keys as they are and watch from its revision"
                                ) from None
            raise

    # --- the server -----------------------------------------------------------------------------------------

    def server(self) -> MCPServer[Any]:
        server: MCPServer[Any] = MCPServer("agentmux", instructions=INSTRUCTIONS.format(owner=self.seat.owner,
                                                                                      cap=MAX_WAIT),
                                           log_level="WARNING")
        for name in TOOLS:
            method = getattr(self, name)
            server.add_tool(method, name=name, description=inspect.cleandoc(method.__doc__ or ""),
                            structured_output=False)
        return server


TOOLS = ("lock_acquire", "lock_release", "lock_renew", "lock_check", "lock_list",
         "reserve", "reserve_release", "reservations_list",
         "barrier_wait", "barrier_list",
         "msg_send", "msg_recv", "msg_list",
         "state_get", "state_set", "state_delete", "state_cas", "state_list", "state_watch")
"""Every tool, in the order a client lists them."""


def serve(seat: Seat, wire_in: TextIO | None = None, wire_out: TextIO | None = None) -> None:
    """Serve the tools over MCP's stdio transport until the client closes the input (or the process is ended).
    `wire_out` is where the protocol goes (the process's real stdout when the caller moved fd 1 aside)."""
    tools = Tools(seat)
    server = tools.server()

    async def main() -> None:
        stdin = None if wire_in is None else anyio.wrap_file(wire_in)
        stdout = None if wire_out is None else anyio.wrap_file(wire_out)
        async with stdio_server(stdin, stdout) as (read_stream, write_stream):
            # MCPServer.run_stdio_async, with our streams: it would claim fd 1, which is stderr by now (cli/mcp.py)
            lowlevel = server._lowlevel_server
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        if threading.active_count() == 1:  # else a call given up on still uses its connection: the process ends
            tools.connections.close()
