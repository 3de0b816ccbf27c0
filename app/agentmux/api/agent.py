"""`agentmux api-agent NAME`: the program of an api agent, run in its pane. It reads a prompt, sends the whole
conversation to the Messages API with the official `anthropic` SDK, streams the reply to the pane, and keeps both
messages in the store (api/history.py), so a restart goes on with the conversation.

Input: one line is one prompt; a pasted block is one prompt (GNU readline's bracketed paste, when the pane is a
terminal: the block waits, editable, for Enter); a lone `<<` line begins a block, and every line up to a lone `.`
is one prompt.
A queued task of several lines arrives as a file (the line `. PATH`, PATH a task file of agentmux's own under
STATE_DIR/run/tasks), so the pane shows one line for it.
In-pane commands: `/clear`, `/export FILE` (JSON), `/history`. Ctrl-C stops a reply, Ctrl-D quits.
Its settings are its config's (`model`, `system`, `max_tokens`, `temperature`), read through AGENTMUX_CONFIG;
the key and the address come from the environment agentmux gives it (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
through the agent's `secrets` and `env`), read by the SDK. A failure is one line, `api error: ...`
(agents/detectors.py reads it as the state error); transient ones (429, 5xx, no connection) are tried again,
honouring retry-after. The one call to the API is `send`; `Meter` goes around it: a permit of the shared rate
limiter before (api/limiter.py; the wait shown in the pane), its settlement with the real usage and the
rate-limit headers after, one row of the usage ledger (api/ledger.py) per attempt, and the agent's budget.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic

from agentmux import config as config_module
from agentmux.agents.detectors import API_CANCELLED, API_ERROR, API_PROMPT, API_RETRYING, API_WAITING
from agentmux.agents.kinds import API_BLOCK_END, API_BLOCK_START
from agentmux.api.history import History, estimate_tokens
from agentmux.api.ledger import Ledger
from agentmux.api.limiter import Limiter, Permit, limits_of
from agentmux.api.prices import configured
from agentmux.api.summary import money
from agentmux.config import AgentSpec
from agentmux.config.model import HISTORY_TOKENS
from agentmux.errors import AgentmuxError
from agentmux.store import Store

RETRIES = 2
"""Further attempts after a transient failure (429, 5xx, no connection)."""
RETRY_WAIT_MAX = 60.0
"""The longest wait before another attempt, whatever retry-after says."""
BLOCK_PROMPT = "... "
"""Shown for each further line of a block."""
TASK_FILE_RE = re.compile(r"task-\d+\.sh")
"""The name of a file the dispatcher writes a task's text to (queue/dispatch.py)."""


READLINE = False
"""Whether prompts are read with GNU readline (`use_readline`)."""


def use_readline() -> bool:
    """Read prompts with GNU readline when the pane is a terminal: line editing, the arrow keys' history, and
    bracketed paste, so a pasted block arrives whole rather than as one prompt per line. Tab inserts a tab."""
    global READLINE
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        import readline
    except ImportError:  # a Python built without it: plain lines (`<<` ... `.` for a block)
        return False
    readline.parse_and_bind("tab: tab-insert")
    readline.parse_and_bind("set enable-bracketed-paste on")
    READLINE = True
    return True


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def send(client: anthropic.Anthropic, request: dict[str, Any], on_text: Callable[[str], None],
         headers: dict[str, str] | None = None) -> Any:
    """One request to the Messages API (`request`: the keyword arguments of `messages.stream`), its reply text
    handed to `on_text` as it streams in; returns the final message, and puts its response headers in `headers`
    (for the limiter). `Meter` goes around this call."""
    with client.messages.stream(**request) as stream:
        response = getattr(stream, "response", None)
        if headers is not None and response is not None:
            headers.update(response.headers)
        for text in stream.text_stream:
            on_text(text)
        return stream.get_final_message()


class BudgetSpent(AgentmuxError):
    """The agent's budget is spent and its `on_budget` is stop."""


class Meter:
    """The shared rate limiter and the usage ledger around each attempt of one agent (README: Rate limits and
    usage): `before` reserves a permit (waiting in line, said in the pane) after checking the budget; `after` and
    `failed` settle it and record the attempt."""

    def __init__(self, spec: AgentSpec, limiter: Limiter, ledger: Ledger) -> None:
        self.spec, self.limiter, self.ledger = spec, limiter, ledger
        self.warned = False

    def before(self, request: dict[str, Any]) -> tuple[Permit, float, int]:
        over = self.ledger.over_budget(self.spec.name, self.spec)
        if over is not None:
            spent, budget = over
            if self.spec.on_budget == "stop":
                raise BudgetSpent(f"budget spent: {money(spent)} of {money(budget)} (on_budget = \"stop\")")
            if not self.warned:
                _write(f"api warning: budget spent: {money(spent)} of {money(budget)}\n")
                self.warned = True
        estimate = estimate_tokens(request["messages"]) + (len(request.get("system") or "") // 4)

        def waiting(reason: str, seconds: float) -> None:
            if reason.startswith("queued behind"):  # its turn comes when theirs are served: no estimate to give
                _write(f"{API_WAITING} for the rate limit of key {self.spec.api_key}: {reason}'s requests\n")
            else:
                _write(f"{API_WAITING} about {seconds:.0f} s for the rate limit of key {self.spec.api_key}: "
                       f"{reason}\n")

        permit = self.limiter.reserve(self.spec.api_key, self.spec.name, estimate, self.spec.max_tokens,
                                      on_wait=waiting, share=self.spec.share)
        return permit, time.monotonic(), estimate

    def after(self, ticket: tuple[Permit, float, int], message: Any, first: float | None,
              headers: dict[str, str]) -> None:
        permit, started, _ = ticket
        usage = getattr(message, "usage", None)

        def count(name: str) -> int:
            value = getattr(usage, name, None)
            return value if isinstance(value, int) else 0

        inputs = count("input_tokens") + count("cache_creation_input_tokens") + count("cache_read_input_tokens")
        permit.settle(inputs, count("output_tokens"), headers)
        self.ledger.record(agent=self.spec.name, key=self.spec.api_key, model=str(getattr(message, "model", "")
                                                                                  or self.spec.model or ""),
                           input=count("input_tokens"), output=count("output_tokens"),
                           cache_write=count("cache_creation_input_tokens"),
                           cache_read=count("cache_read_input_tokens"), latency=time.monotonic() - started,
                           first_token=None if first is None else first - started, status=200, via="agent")

    def failed(self, ticket: tuple[Permit, float, int], exc: BaseException) -> None:
        permit, started, estimate = ticket
        status: int | str = "error"
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status == 429:
                permit.refused(_retry_after(exc) or 1.0)
            else:
                permit.settle(estimate, 0, dict(exc.response.headers) if exc.response is not None else None)
        else:
            permit.cancel()  # nothing answered: counted as not sent
        self.ledger.record(agent=self.spec.name, key=self.spec.api_key, model=self.spec.model or "",
                           latency=time.monotonic() - started, status=status, via="agent")


def _body_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


STATUS_WORDS = {400: "bad request", 401: "authentication failed", 403: "permission denied", 404: "not found",
                413: "request too large", 429: "rate limited", 500: "server error", 529: "overloaded"}


def describe(exc: Exception, base_url: str) -> str:
    """A failed request in one line, without the `api error: ` prefix."""
    if isinstance(exc, anthropic.APITimeoutError):
        return f"no reply from {base_url} in time"
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__
        reason = str(cause) if cause is not None else str(exc)
        if "refused" in reason.lower():
            reason = "connection refused"
        return f"cannot reach {base_url}: {' '.join(reason.split())[:200]}"
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        word = STATUS_WORDS.get(status, "server error" if status >= 500 else "request failed")
        text = f"{word} ({status})"
        if status == 429:
            after = _retry_after(exc)
            return text + (f", retry after {after:g} s" if after is not None else "")
        message = " ".join(_body_message(exc).split())[:200]
        return f"{text}: {message}" if message and status not in (529,) else text
    if isinstance(exc, anthropic.APIError):
        return " ".join(str(exc.message).split())[:200] or type(exc).__name__
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def transient(exc: Exception) -> bool:
    """Worth another attempt: rate limited, the server's trouble, or no connection."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    return isinstance(exc, anthropic.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


class ApiAgent:
    """One api agent's loop: prompt, request, reply, history."""

    def __init__(self, spec: AgentSpec, history: History, client: anthropic.Anthropic,
                 budget: int = HISTORY_TOKENS, tasks: Path | None = None, meter: Meter | None = None) -> None:
        self.tasks = tasks
        """Where the dispatcher writes a task's text (STATE_DIR/run/tasks): a line `. PATH` there is a task."""
        self.spec = spec
        self.history = history
        self.client = client
        self.budget = budget
        self.meter = meter

    def request(self) -> dict[str, Any]:
        """The keyword arguments of the next request: the config's settings and the whole (trimmed) history."""
        kwargs: dict[str, Any] = {"model": self.spec.model, "max_tokens": self.spec.max_tokens,
                                  "messages": self.history.messages()}
        if self.spec.system:
            kwargs["system"] = self.spec.system
        if self.spec.temperature is not None:  # this SDK's (2.x) signature has no temperature: sent as it is
            kwargs["extra_body"] = {"temperature": self.spec.temperature}
        return kwargs

    @staticmethod
    def _line(prompt: str) -> str:
        """Show `prompt` and read one line (without its end); EOFError at Ctrl-D. In a terminal the line is
        read by GNU readline (`use_readline`): editable, with the session's earlier prompts on the arrow keys,
        and a pasted block is one line that holds its newlines."""
        if READLINE:
            try:
                return input(prompt).rstrip("\r\n")
            except EOFError:
                _write("\n")
                raise
        _write(prompt)
        line = sys.stdin.readline()
        if not line:
            _write("\n")
            raise EOFError
        return line.rstrip("\r\n")

    def read_prompt(self) -> str:
        """The next prompt: a line, a pasted block, or the lines of a block (`<<` ... `.`). EOFError at Ctrl-D."""
        line = self._line(API_PROMPT)
        if "\n" in line:  # pasted: one prompt as it is
            return line
        task = self.task_file(line)
        if task is not None:
            return task
        if line.strip() != API_BLOCK_START:
            return line
        lines: list[str] = []
        while True:
            more = self._line(BLOCK_PROMPT)
            if more.strip() == API_BLOCK_END:
                return "\n".join(lines)
            lines.append(more)

    def task_file(self, line: str) -> str | None:
        """The text of the task file a line `. PATH` names (the dispatcher's, under `tasks`), else None."""
        if self.tasks is None or not line.startswith(". "):
            return None
        try:
            words = shlex.split(line[2:])
        except ValueError:
            return None
        if len(words) != 1:
            return None
        path = Path(words[0])
        if not TASK_FILE_RE.fullmatch(path.name) or path.parent.resolve() != self.tasks.resolve():
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return text[:-1] if text.endswith("\n") else text  # the dispatcher ends it with a newline

    def command(self, line: str) -> bool:
        """Run an in-pane command (`/clear`, `/export FILE`, `/history`); False when the line is none."""
        word, _, rest = line.strip().partition(" ")
        if word == "/clear":
            print(f"history cleared ({self.history.clear()} messages)", flush=True)
        elif word == "/history":
            count = self.history.count()
            print(f"{count} messages, about {self.history.tokens():,} tokens", flush=True)
        elif word == "/export":
            if not rest.strip():
                print("usage: /export FILE", flush=True)
                return True
            path = Path(os.path.expanduser(rest.strip()))
            try:
                messages = self.history.export()
                path.write_text(json.dumps(messages, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            except OSError as exc:
                print(f"cannot write {path}: {exc.strerror or exc}", flush=True)
            else:
                print(f"exported {len(messages)} messages to {path}", flush=True)
        else:
            return False
        return True

    def ask(self, prompt: str) -> None:
        """Send one prompt with the conversation; stream the reply; keep both messages, or neither."""
        content = [{"type": "text", "text": prompt}]
        prompt_id = self.history.append("user", content, estimate_tokens(content))
        kept = False
        try:
            self.history.trim(self.budget)
            kept = self._attempts()
        except KeyboardInterrupt:
            _write(f"\n{API_CANCELLED}\n")
        finally:
            if not kept:
                self.history.remove(prompt_id)

    def _attempts(self) -> bool:
        """Up to 1 + RETRIES attempts; True when the reply came and was kept."""
        base_url = str(self.client.base_url).rstrip("/")
        for attempt in range(RETRIES + 1):
            printed: list[str] = []
            first: list[float] = []

            def show(text: str, printed: list[str] = printed, first: list[float] = first) -> None:
                if not first:
                    first.append(time.monotonic())
                printed.append(text)
                _write(text)

            request = self.request()
            try:
                ticket = self.meter.before(request) if self.meter is not None else None
            except AgentmuxError as exc:
                _write(f"{API_ERROR}{exc}\n")
                return False
            try:
                headers: dict[str, str] = {}
                message = send(self.client, request, show, headers)
            except Exception as exc:  # noqa: BLE001 - a failed request is one line in the pane, never a traceback
                if ticket is not None and self.meter is not None:
                    with contextlib.suppress(Exception):
                        self.meter.failed(ticket, exc)
                if printed:
                    _write("\n")
                reason = describe(exc, base_url)
                if printed or not transient(exc) or attempt == RETRIES:
                    _write(f"{API_ERROR}{reason}\n")
                    return False
                after = _retry_after(exc) if isinstance(exc, anthropic.APIStatusError) else None
                wait = min(2.0 ** attempt if after is None else after, RETRY_WAIT_MAX)
                reason = reason.split(", retry after")[0]
                _write(f"{API_ERROR}{reason}{API_RETRYING}{wait:g} s\n")
                time.sleep(wait)
                continue
            except KeyboardInterrupt:
                if ticket is not None:
                    with contextlib.suppress(Exception):
                        ticket[0].settle(ticket[2], 0)  # sent: it counts
                raise
            if ticket is not None and self.meter is not None:
                with contextlib.suppress(Exception):  # a store that failed must not lose the reply
                    self.meter.after(ticket, message, first[0] if first else None, headers)
            text = "".join(printed)
            if text and not text.endswith("\n"):
                _write("\n")
            blocks = [block.model_dump(exclude_none=True) for block in message.content]
            usage = getattr(message, "usage", None)
            tokens = getattr(usage, "output_tokens", None) if usage is not None else None
            self.history.append("assistant", blocks, tokens if isinstance(tokens, int) and tokens > 0 else None)
            return True
        return False

    def run(self) -> None:
        if self.history.drop_unanswered():
            print("api: the last prompt had no reply (the agent was stopped while it asked): dropped from the "
                  "conversation", flush=True)
        count = self.history.count()
        kept = f", {count} messages of history" if count else ""
        print(f"api agent {self.spec.name} ({self.spec.model}{kept}): type or paste a prompt; {API_BLOCK_START} "
              f"begins a block up to a lone {API_BLOCK_END}; /clear /history /export FILE; Ctrl-D quits", flush=True)
        while True:
            try:
                prompt = self.read_prompt()
            except KeyboardInterrupt:
                _write("\n")
                continue
            if not prompt.strip():
                continue
            if prompt.startswith("/") and "\n" not in prompt and self.command(prompt):
                continue
            self.ask(prompt)


def main(name: str, config_path: str | os.PathLike[str] | None = None) -> int:
    """Run the api agent `name` of the config (`config_path`, else the fleet's own: AGENTMUX_CONFIG)."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    use_readline()
    loaded = config_module.load(config_path, check_dirs=False)
    spec = loaded.agent(name)
    if spec.kind != "api":
        raise AgentmuxError(f"agent {name!r} is of kind {spec.kind!r}, not 'api'")
    store = Store(loaded.store_path)
    try:
        client = anthropic.Anthropic(max_retries=0)
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            print(f"{API_ERROR}ANTHROPIC_API_KEY is not set (give the agent secrets = {{ ANTHROPIC_API_KEY = "
                  '"env:..." })', flush=True)
        tasks = loaded.settings.state_dir / "run" / "tasks"
        meter = Meter(spec, Limiter(store, loaded.settings.state_dir, limits_of(loaded.api)),
                      Ledger(store, configured(loaded.api)))
        ApiAgent(spec, History(store, name), client, budget=spec.history_tokens, tasks=tasks, meter=meter).run()
    except (EOFError, KeyboardInterrupt):
        pass
    except BrokenPipeError:
        return 0
    finally:
        store.close()
    _write("bye\n")
    return 0
