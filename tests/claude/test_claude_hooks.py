"""A claude agent's state from Claude Code's own hooks, with the real CLI (README: The claude kind)."""

from __future__ import annotations

import json
from pathlib import Path

from agentmux.logs import LogQuery, LogStore, Severity, Stream
from agentmux.state import AgentState
from tests.claude.conftest import claude_config, needs_claude
from tests.conftest import Env, Running, Supervisors
from tests.fake_anthropic import FakeAnthropic, Reply

pytestmark = needs_claude


def idle_claude(env: Env, fake: FakeAnthropic, running: Supervisors) -> Running:
    """The claude agent `cc` started by `agentmux up` and idle by its SessionStart, with a supervisor ticked by the
    test."""
    claude_config(env, fake)
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
    return run


def waiting_for_a_tool(env: Env, fake: FakeAnthropic, running: Supervisors) -> tuple[Running, Path]:
    """`cc` asked to run a Bash command that needs permission, and waiting for the answer."""
    run = idle_claude(env, fake, running)
    target = env.root / "work" / "made-by-the-tool"
    fake.add(Reply.tool("Bash", {"command": f"touch {target}", "description": "make a file"}),
             Reply.text("Made it."))
    assert env.cli("send", "cc", "make a file").returncode == 0
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.WAITING, timeout=30, message="cc waiting")
    return run, target


def test_a_prompt_turns_the_agent_busy_then_idle_by_its_hooks(env: Env, fake: FakeAnthropic,
                                                              running: Supervisors) -> None:
    run = idle_claude(env, fake, running)
    assert "ready for a prompt" in run.fleet.store.agent("cc").reason  # SessionStart, not a guess from the screen
    fake.add(Reply.text("Hello from the fake, in several words.", chunk_delay=0.3))
    sent = env.cli("send", "cc", "say hi")
    assert sent.returncode == 0, sent.stderr
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.BUSY, timeout=30, message="cc busy")
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=30, message="cc idle again")
    assert run.fleet.store.agent("cc").reason == "turn ended (Stop)"
    assert [r.user_text for r in fake.messages()][-1] == "say hi"
    events = [e.event for e in run.fleet.store.hook_events_after(0) if e.agent == "cc"]
    assert events[:1] == ["SessionStart"] and "UserPromptSubmit" in events and events[-1] == "Stop", events


def test_a_tool_call_that_needs_permission_shows_waiting_with_the_command(env: Env, fake: FakeAnthropic,
                                                                         running: Supervisors) -> None:
    run, target = waiting_for_a_tool(env, fake, running)
    reason = run.fleet.store.agent("cc").reason
    assert reason == f"asks: Bash: touch {target}", reason
    assert not target.exists()
    status = json.loads(env.cli("ls", "--json").stdout)[0]
    assert status["state"] == "waiting" and "touch" in status["reason"]
    # seconds later Claude Code notifies permission_prompt, without the command: the question stays the same
    run.until(lambda: any(e.detail == "permission_prompt" for e in run.fleet.store.hook_events_after(0)),
              timeout=30, message="the permission_prompt notification")
    run.tick()
    assert run.fleet.store.agent("cc").reason == f"asks: Bash: touch {target}"
    status = json.loads(env.cli("ls", "--json").stdout)[0]  # a fresh look, from the newest events
    assert (status["state"], status["reason"]) == ("waiting", f"asks: Bash: touch {target}"), status


def test_two_prompts_sent_back_to_back_arrive_as_two_turns(env: Env, fake: FakeAnthropic,
                                                           running: Supervisors) -> None:
    """Pasted and followed at once by Enter, the first prompt sat unsubmitted in the input box and the second
    was appended to it: both went out as one prompt."""
    run = idle_claude(env, fake, running)
    for text in ("first prompt", "second prompt"):
        sent = env.cli("send", "cc", text)
        assert sent.returncode == 0 and "Claude Code took the prompt" in sent.stdout, sent
    run.until(lambda: [r.user_text for r in fake.messages()][-2:] == ["first prompt", "second prompt"],
              timeout=30, message="two turns")
    prompts = [json.loads(e.payload)["prompt"] for e in run.fleet.store.hook_events_after(0)
               if e.event == "UserPromptSubmit"]
    assert prompts == ["first prompt", "second prompt"]


def test_an_agentmux_started_from_inside_claude_code_starts_a_clean_claude(env: Env, fake: FakeAnthropic,
                                                                           running: Supervisors) -> None:
    """An inherited CLAUDECODE=1 stops a child Claude Code from starting; it must not reach the agent."""
    claude_config(env, fake)
    env.environ.update(CLAUDECODE="1", CLAUDE_CODE_ENTRYPOINT="cli")
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
    shown = env.tmux("show-environment", "-t", "=cc:").stdout + env.tmux("show-environment", "-g").stdout
    assert "CLAUDECODE" not in shown and "CLAUDE_CODE_ENTRYPOINT" not in shown


def test_approving_from_agentmux_runs_the_tool_and_the_agent_goes_idle(env: Env, fake: FakeAnthropic,
                                                                      running: Supervisors) -> None:
    """The answer goes to Claude Code as its PermissionRequest hook's decision (no key into the dialog)."""
    run, target = waiting_for_a_tool(env, fake, running)
    answered = env.cli("answer", "cc", "yes")
    assert answered.returncode == 0, answered
    assert answered.stdout.strip() == "answered cc: yes (through Claude Code's hook)", answered
    run.until(lambda: target.exists(), timeout=30, message="the tool's file")
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=30, message="cc idle again")
    assert "Allowed by PermissionRequest hook" in env.screen("cc")
    assert fake.messages()[-1].user_text == "Made it." or "tool_result" in json.dumps(fake.messages()[-1].body)
    assert any("answered yes (by the user" in message for _, _, _, message in run.fleet.store.events("cc"))


def test_denying_from_agentmux_does_not_run_the_tool(env: Env, fake: FakeAnthropic, running: Supervisors) -> None:
    run, target = waiting_for_a_tool(env, fake, running)
    answered = env.cli("answer", "cc", "no")
    assert answered.returncode == 0 and answered.stdout.strip() == "answered cc: no (through Claude Code's hook)"
    # refused through the hook, the turn goes on: Claude Code tells the model, which replies, and Stop comes
    run.until(lambda: run.fleet.store.agent("cc").reason == "turn ended (Stop)", timeout=30, message="the turn ends")
    assert not target.exists()
    assert "said no" in json.dumps(fake.messages()[-1].body)
    refused = env.cli("answer", "cc", "yes")
    assert refused.returncode == 1 and "shows no question" in refused.stderr, refused


def test_keys_answer_what_the_hook_cannot_and_the_waiting_hook_then_ends(env: Env, fake: FakeAnthropic,
                                                                         running: Supervisors) -> None:
    """`always` is a choice of the dialog (by its digit key); the hook that waited for an answer sees the
    question is over and ends instead of lingering."""
    run, target = waiting_for_a_tool(env, fake, running)
    assert waiting_hooks(env), "a PermissionRequest hook waits for the answer"
    answered = env.cli("answer", "cc", "always")
    assert answered.returncode == 0 and answered.stdout.startswith("answered cc: 2. Yes, and "), answered
    run.until(lambda: target.exists(), timeout=30, message="the tool's file")
    run.until(lambda: not waiting_hooks(env), timeout=10, message="the waiting hook ends")


def test_denying_inside_the_pane_ends_the_waiting_hook(env: Env, fake: FakeAnthropic, running: Supervisors) -> None:
    run, target = waiting_for_a_tool(env, fake, running)
    env.tmux("send-keys", "-t", "=cc:", "Escape")  # the user, attached, says no
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=30, message="cc idle")
    run.until(lambda: not waiting_hooks(env), timeout=10, message="the waiting hook ends")
    assert not target.exists()


def waiting_hooks(env: Env) -> list[int]:
    """Pids of this test's PermissionRequest hooks still running (their AGENTMUX_HOME is its state dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"agentmux.hook" in command and b"PermissionRequest" in command \
                and f"AGENTMUX_HOME={env.state_dir}\0".encode() in environ + b"\0":
            found.append(int(entry.name))
    return found


def test_the_policy_approves_an_allowed_command_and_leaves_a_denied_one_waiting(
        env: Env, fake: FakeAnthropic, running: Supervisors) -> None:
    claude_config(env, fake, extra='approve = { allow = ["Bash(touch *)"], deny = ["Bash(rm *)"] }')
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
    made, kept = env.root / "work" / "allowed", env.root / "work" / "kept"
    kept.write_text("keep me")
    fake.add(Reply.tool("Bash", {"command": f"touch {made}", "description": "make a file"}), Reply.text("Made."),
             Reply.tool("Bash", {"command": f"rm {kept}", "description": "remove a file"}), Reply.text("Removed."))
    states: list[AgentState] = []

    def turn_ended() -> bool:
        record = run.fleet.store.agent("cc")
        states.append(record.state)
        return made.exists() and record.reason == "turn ended (Stop)"

    assert env.cli("send", "cc", "make a file").returncode == 0
    run.until(turn_ended, timeout=30, message="allowed")
    assert AgentState.WAITING not in states, states  # answered by the rule at once: never asked
    assert env.cli("send", "cc", "remove a file").returncode == 0
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.WAITING, timeout=30, message="cc waiting")
    assert run.fleet.store.agent("cc").reason == f"asks: Bash: rm {kept}"
    assert kept.exists()
    shown = env.cli("events", "cc")
    assert f"allowed Bash: touch {made} (policy rule Bash(touch *))" in shown.stdout, shown
    assert f"left Bash: rm {kept} to the user (policy deny rule Bash(rm *))" in shown.stdout, shown
    # the turns are in the agent's log as structured entries, next to its screen lines
    reader = LogStore(run.fleet.config.logs_path)

    def logged() -> list[str]:
        return [e.text for e in reader.search(LogQuery(agents=("cc",), limit=10_000)) if e.stream is Stream.EVENT]

    run.until(lambda: f"permission Bash: rm {kept}: deny rule Bash(rm *): left to the user" in logged(), timeout=10,
              message="the turns logged")
    expected = ["prompt: make a file", f"tool Bash: touch {made}",
                f"permission Bash: touch {made}: allowed by rule Bash(touch *)", "turn ended", "prompt: remove a file",
                f"tool Bash: rm {kept}", f"permission Bash: rm {kept}: deny rule Bash(rm *): left to the user"]
    assert [text for text in logged() if not text.startswith(("SessionStart", "notification"))] == expected
    severities = {e.text: e.severity for e in reader.search(LogQuery(agents=("cc",), limit=10_000))}
    assert severities[expected[-1]] is Severity.WARNING

    def screen() -> list[str]:
        return [e.text for e in reader.search(LogQuery(agents=("cc",), limit=10_000)) if e.stream is Stream.SCREEN]

    # its reply, once the line settled on screen (1.5 s unchanged)
    run.until(lambda: any(text.startswith("● Made.") for text in screen()), timeout=10, message="the reply logged")
    reader.close()


def test_a_policy_that_fails_on_deny_refuses_and_fails_the_task(env: Env, fake: FakeAnthropic,
                                                                running: Supervisors) -> None:
    claude_config(env, fake, extra='approve = { deny = ["Bash(rm *)"], on_deny = "fail" }')
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    kept = env.root / "work" / "kept"
    kept.write_text("keep me")
    fake.add(Reply.tool("Bash", {"command": f"rm -f {kept}", "description": "remove"}), Reply.text("I could not."))
    task = run.queue.add("cc", "remove the file")
    run.until(lambda: run.ended(task), timeout=60, message="the task ends")
    ended = run.task(task.id)
    assert ended.state.value == "failed", ended
    assert ended.reason == f"the approval policy refused by rule Bash(rm *) (fatal): Bash: rm -f {kept}", ended.reason
    assert ended.result == "I could not."
    assert kept.exists()


def test_queued_tasks_run_one_after_another_each_with_its_reply(env: Env, fake: FakeAnthropic,
                                                               running: Supervisors) -> None:
    claude_config(env, fake)
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    fake.add(Reply.text("The first answer.", match="task one"),
             Reply.text("The second answer,\non two lines.", match="task two"),
             *[Reply.failure(400, "invalid_request_error", "the fake refuses this one", match="task three")] * 3)
    tasks = [run.queue.add("cc", f"task {n}") for n in ("one", "two", "three")]
    run.until(lambda: run.ended(*tasks), timeout=60, message="the three tasks end")
    one, two, three = (run.task(t.id) for t in tasks)
    assert (one.state.value, one.result, one.reason) == ("succeeded", "The first answer.", "the turn ended (Stop)")
    assert (two.state.value, two.result) == ("succeeded", "The second answer,\non two lines.")
    assert three.state.value == "failed" and "the fake refuses this one" in three.reason, three
    assert [r.user_text for r in fake.messages()][:3] == ["task one", "task two", "task three"]
    assert one.finished_at <= two.started_at  # type: ignore[operator]
    # the failed turn (StopFailure) shows as error, with what Claude Code said
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.ERROR, timeout=10, message="cc error")
    assert run.fleet.store.agent("cc").reason == "turn failed: API Error: 400 the fake refuses this one"


def test_a_restart_resumes_the_conversation(env: Env, fake: FakeAnthropic, running: Supervisors) -> None:
    run = idle_claude(env, fake, running)
    fake.add(Reply.text("I will remember the apple."))
    assert env.cli("send", "cc", "remember: apple").returncode == 0
    run.until(lambda: run.fleet.store.agent("cc").reason == "turn ended (Stop)", timeout=30, message="the turn")
    first = json.loads((env.state_dir / "claude" / "cc" / "session").read_text())["session_id"]
    restarted = env.cli("restart", "cc")
    assert restarted.returncode == 0, restarted.stderr
    assert (env.state_dir / "claude" / "cc" / "session-args").read_text().split() == ["--resume", first]
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE
              and run.fleet.store.agent("cc").started_at > run.fleet.store.agent("cc").state_since - 60,
              timeout=60, message="cc idle after the restart")
    sent = env.cli("send", "cc", "what did I ask you to remember?")
    assert sent.returncode == 0, sent.stderr
    run.until(lambda: fake.messages()[-1].user_text == "what did I ask you to remember?", timeout=30,
              message="the second prompt")
    earlier = json.dumps(fake.messages()[-1].body["messages"])
    assert "remember: apple" in earlier and "I will remember the apple." in earlier  # the earlier turn went along


def test_a_turns_reply_and_tokens_are_read_from_its_transcript(env: Env, fake: FakeAnthropic,
                                                               running: Supervisors) -> None:
    """A task's result is the whole reply of its turn (every message's text, not only the last), and the turn's
    token usage is recorded, each model call counted once."""
    claude_config(env, fake)
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    made = env.root / "work" / "listed"
    usage = {"cache_creation_input_tokens": 5, "cache_read_input_tokens": 40}
    fake.add(Reply.tool("Bash", {"command": f"touch {made}", "description": "make"}, text="First I make the file.",
                        usage={"input_tokens": 100, "output_tokens": 20, **usage}),
             Reply.text("Then it is there.", usage={"input_tokens": 150, "output_tokens": 30, **usage}))
    task = run.queue.add("cc", "make the file")
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.WAITING, timeout=60, message="cc asks")
    assert env.cli("answer", "cc", "yes").returncode == 0
    run.until(lambda: run.ended(task), timeout=60, message="the task ends")
    ended = run.task(task.id)
    assert (ended.state.value, ended.result) == ("succeeded", "First I make the file.\n\nThen it is there.")
    [turn] = run.fleet.store.turns("cc")
    assert (turn.input_tokens, turn.output_tokens, turn.cache_read_tokens, turn.cache_write_tokens, turn.calls) == (
        250, 50, 80, 10, 2)
    assert not turn.failed and turn.model and turn.prompt_id


def test_the_supervisor_goes_on_looking_while_a_prompt_is_on_its_way(env: Env, fake: FakeAnthropic,
                                                                    running: Supervisors) -> None:
    """The dispatcher types a claude task and confirms it look by look, not by waiting inside one look (which
    held every agent's mirror and state still for as long as Claude Code took to confirm)."""
    import time

    run = idle_claude(env, fake, running)
    fake.add(Reply.text("Typed and taken."))
    task = run.queue.add("cc", "a task on its way")
    run.until(lambda: run.task(task.id).state.value == "dispatched", timeout=10, message="dispatched")
    assert run.task(task.id).sent_at is None  # pasted; Enter and Claude Code's confirmation come in later looks
    longest = 0.0

    def sent() -> bool:
        nonlocal longest
        started = time.monotonic()
        run.tick()
        longest = max(longest, time.monotonic() - started)
        return run.task(task.id).sent_at is not None

    wait = time.monotonic() + 20
    while not sent():
        assert time.monotonic() < wait, "the prompt was not confirmed"
        time.sleep(0.05)
    run.until(lambda: run.ended(task), timeout=30, message="the task ends")
    assert run.task(task.id).result == "Typed and taken."
    assert longest < 1.0, f"a look took {longest:.2f}s while the prompt was on its way"


def test_without_hooks_the_screen_confirms_a_prompt_and_says_the_state(env: Env, fake: FakeAnthropic,
                                                                       running: Supervisors) -> None:
    """Hooks disabled in the user's own Claude Code settings (disableAllHooks): no event ever comes, so the
    screen says idle and busy, and confirms that a prompt went in, one turn per prompt."""
    claude_config(env, fake)
    (env.root / "claude-config" / "settings.json").write_text(json.dumps({"disableAllHooks": True}))
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE, timeout=60, message="cc idle")
    assert run.fleet.store.agent("cc").reason == "at its prompt (its screen)"
    fake.add(Reply.text("One.", chunk_delay=0.2), Reply.text("Two."))
    for text in ("first without hooks", "second without hooks"):
        sent = env.cli("send", "cc", text)
        assert sent.returncode == 0 and "Claude Code took the prompt" in sent.stdout, sent
        run.until(lambda said=text: fake.messages() and fake.messages()[-1].user_text == said, timeout=30,
                  message=text)
        run.until(lambda: run.fleet.store.agent("cc").state == AgentState.IDLE and "One." in env.screen("cc"),
                  timeout=30, message="idle again")
    assert [r.user_text for r in fake.messages()] == ["first without hooks", "second without hooks"]
    assert run.fleet.store.hook_events_after(0) == []


def test_without_hooks_a_queued_task_ends_when_the_screen_is_idle_again(env: Env, fake: FakeAnthropic,
                                                                        running: Supervisors) -> None:
    claude_config(env, fake)
    (env.root / "claude-config" / "settings.json").write_text(json.dumps({"disableAllHooks": True}))
    assert env.cli("up", "--no-serve").returncode == 0
    run = running(start=False)
    fake.add(Reply.text("Done without hooks."))
    task = run.queue.add("cc", "a task without hooks")
    run.until(lambda: run.ended(task), timeout=60, message="the task ends")
    ended = run.task(task.id)
    assert ended.state.value == "succeeded", ended
    assert "Done without hooks." in ended.result
