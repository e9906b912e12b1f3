"""The agent's replies (``app/replies.py`` and ``datacore-msg reply``), on real installations that
exchange events by export/import.

``reply TASK TEXT`` is written by the agent (``gregor-claude``) to the task's sender, in the task's
thread; with ``--complete`` the message and ``task.completed`` are appended together or not at all.
``reply MSG TEXT`` is still the user's. A request written under a pinned teammate's name by another
key is not answered. ``send_reply`` is the reference's ``send-reply`` (its CLI is tested in
tests/cli/test_compat.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import orgparse
import pytest
import yaml

from datacore_msg.app import messages, replies
from datacore_msg.app.ids import new_task_id
from datacore_msg.app.replies import Completion
from datacore_msg.cli.exit_codes import Exit
from datacore_msg.errors import Ambiguous, InvalidInput, NotFound, TransitionError
from datacore_msg.eventlog.payloads import MessageSent, TaskRequested

AGENT = "gregor-claude"
MSG_ID = re.compile(r"msg-\d{8}-\d{6}-[0-9a-f]{8}")
ERROR_PREFIX = "datacore-msg: error: "


# -- helpers -------------------------------------------------------------------------------------


def ok(result: Any) -> Any:
    assert result.code == 0, result
    assert result.err == "", result
    return result


def data(result: Any) -> Any:
    ok(result)
    parsed = json.loads(result.out)
    assert parsed["version"] == 1 and parsed["ok"] is True, parsed
    return parsed["data"]


def one_line_error(result: Any, code: int, *needles: str) -> None:
    assert result.code == code, result
    assert result.out == "", result
    assert result.err.startswith(ERROR_PREFIX) and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in result.err, (needle, result.err)


def carry(src: Any, dst: Any) -> None:
    exported = src.cli("export", "-")
    assert exported.code == 0, exported
    ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def count(inst: Any) -> int:
    with inst.space() as space:
        return int(space.store.count())


def send_task(inst: Any, to: str, text: str, *extra: str) -> str:
    return str(data(inst.cli("send", to, text, "--json", *extra))["id"])


def send_message(inst: Any, to: str, text: str) -> str:
    return str(data(inst.cli("send", to, text, "--json"))["id"])


def task(inst: Any, task_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = data(inst.cli("task", "show", task_id, "--json"))
    return shown


def sent(inst: Any, message_id: str) -> MessageSent:
    with inst.space() as space:
        state = messages.load_message(space, message_id)
    assert state is not None, message_id
    return state.sent


def view_nodes(inst: Any, name: str) -> dict[str, Any]:
    """The headings of a view file, by ``:ID:``, read with orgparse."""
    return {node.properties["ID"]: node for node in orgparse.load(str(inst.views / name))[1:]}


def events(inst: Any, type_name: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = data(inst.cli("log", "--type", type_name, "--json"))
    return listed


def no_cooldown(inst: Any) -> None:
    path = inst.root / ".datacore" / "settings.local.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["messaging"]["compute"] = {"cooldown_between_tasks": 0}
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


@pytest.fixture
def team(gregor: Any, tex: Any, introduce: Callable[..., None]) -> tuple[Any, Any]:
    """gregor and tex have pinned each other's keys (tier team: tex's requests are auto-accepted)."""
    introduce(gregor, tex)
    no_cooldown(gregor)
    return gregor, tex


@pytest.fixture
def queued(team: tuple[Any, Any]) -> str:
    """A task tex sent to gregor's agent, QUEUED on gregor's installation."""
    gregor, tex = team
    task_id = send_task(tex, f"@{AGENT}", "Summarise the relay notes", "--tokens", "2000")
    carry(tex, gregor)
    assert task(gregor, task_id)["state"] == "QUEUED"
    return task_id


# -- reply to a task: from the agent, to the sender ----------------------------------------------


def test_a_reply_to_a_task_is_the_agents_message_to_its_sender(team: tuple[Any, Any], queued: str) -> None:
    gregor, tex = team
    result = ok(gregor.cli("reply", queued, "On it, results by noon."))
    lines = result.out.splitlines()
    match = re.fullmatch(rf"Sent: ({MSG_ID.pattern})", lines[0])
    assert match, result.out
    message_id = match.group(1)
    assert lines[1:] == [f"  from {AGENT} to tex, in reply to {queued}"]

    message = sent(gregor, message_id)
    assert (message.sender, message.to, message.reply_to, message.thread) == (AGENT, "tex", queued, queued)
    assert message.text == "On it, results by noon."
    [event] = events(gregor, "message.sent")
    assert (event["actor"], event["data"]["id"]) == (AGENT, message_id)
    assert task(gregor, queued)["state"] == "QUEUED"  # a reply alone moves nothing

    # gregor's outbox shows what his agent sent
    node = view_nodes(gregor, "outbox.org")[message_id]
    assert (node.properties["FROM"], node.properties["TO"]) == (AGENT, "tex")
    assert node.properties["REPLY_TO"] == queued
    assert message_id not in view_nodes(gregor, "inbox.org")

    # tex gets it in his inbox once the events are carried over
    carry(gregor, tex)
    node = view_nodes(tex, "inbox.org")[message_id]
    assert (node.properties["FROM"], node.properties["TO"]) == (AGENT, "tex")
    assert (node.properties["REPLY_TO"], node.properties["THREAD"]) == (queued, queued)
    assert node.todo == "TODO" and "unread" in node.tags
    listed = data(tex.cli("inbox", "--json"))
    assert [(m["id"], m["from"], m["text"]) for m in listed] == [
        (message_id, AGENT, "On it, results by noon.")
    ]


def test_a_reply_to_a_task_with_json_and_by_prefix(team: tuple[Any, Any], queued: str) -> None:
    gregor, _ = team
    answer = data(gregor.cli("reply", queued[-8:-2], "ok", "--json"))
    assert set(answer) == {"id", "event", "from", "to", "reply_to", "completed"}
    assert (answer["from"], answer["to"], answer["reply_to"], answer["completed"]) == (
        AGENT,
        "tex",
        queued,
        None,
    )
    assert MSG_ID.fullmatch(answer["id"])
    assert [e["id"] for e in events(gregor, "message.sent")] == [answer["event"]]


def test_reply_complete_sends_and_completes_together(team: tuple[Any, Any], queued: str) -> None:
    gregor, tex = team
    ok(gregor.cli("task", "claim", queued))
    before = count(gregor)
    result = ok(
        gregor.cli(
            "reply",
            queued,
            "Done: see notes/relay.md",
            "--complete",
            "--tokens",
            "1800",
            "--result",
            "notes/relay.md",
            "--quality",
            "0.9",
        )
    )
    lines = result.out.splitlines()
    message_id = lines[0].removeprefix("Sent: ")
    assert MSG_ID.fullmatch(message_id), result.out
    assert lines[1:] == [f"  from {AGENT} to tex, in reply to {queued}", f"Completed: {queued} (DONE)"]
    assert count(gregor) == before + 2

    shown = task(gregor, queued)
    assert (shown["state"], shown["tokens_used"], shown["result"], shown["quality"]) == (
        "DONE",
        1800,
        "notes/relay.md",
        "0.90",
    )
    [message_event] = events(gregor, "message.sent")
    [completed_event] = events(gregor, "task.completed")
    assert message_event["data"]["id"] == message_id and message_event["actor"] == AGENT
    assert completed_event["data"]["task"] == queued and completed_event["actor"] == AGENT
    # one transaction: consecutive positions, the message first
    assert completed_event["position"] == message_event["position"] + 1

    carry(gregor, tex)
    assert data(tex.cli("tasks", "--sent", "--json"))[0]["state"] == "DONE"
    assert view_nodes(tex, "inbox.org")[message_id].properties["FROM"] == AGENT


def test_reply_complete_json_names_the_completed_task(team: tuple[Any, Any], queued: str) -> None:
    gregor, _ = team
    ok(gregor.cli("task", "claim", queued))
    answer = data(gregor.cli("reply", queued, "done", "--complete", "--tokens", "5", "--json"))
    assert (answer["from"], answer["to"], answer["reply_to"], answer["completed"]) == (
        AGENT,
        "tex",
        queued,
        queued,
    )


@pytest.mark.parametrize("state", ["QUEUED", "DONE"])
def test_reply_complete_on_a_task_that_is_not_working_appends_nothing(
    team: tuple[Any, Any], queued: str, state: str
) -> None:
    gregor, _ = team
    if state == "DONE":
        ok(gregor.cli("task", "claim", queued))
        ok(gregor.cli("task", "complete", queued, "--tokens", "10"))
    before = count(gregor)
    result = gregor.cli("reply", queued, "done again", "--complete", "--tokens", "10")
    one_line_error(result, Exit.TRANSITION, f"complete: expected state WORKING, got {state}")
    assert count(gregor) == before
    assert events(gregor, "message.sent") == []
    assert task(gregor, queued)["state"] == state

    # the same through the library: TransitionError, nothing appended
    with gregor.space() as space:
        with pytest.raises(TransitionError, match=f"got {state}"):
            replies.reply(space, queued, "done", complete=Completion(10))
        assert space.store.count() == before


def test_reply_complete_without_tokens_appends_nothing(team: tuple[Any, Any], queued: str) -> None:
    gregor, _ = team
    ok(gregor.cli("task", "claim", queued))
    before = count(gregor)
    one_line_error(gregor.cli("reply", queued, "done", "--complete"), Exit.INVALID_INPUT, "--tokens")
    one_line_error(
        gregor.cli("reply", queued, "done", "--tokens", "5"), Exit.INVALID_INPUT, "go with --complete"
    )
    assert count(gregor) == before
    assert task(gregor, queued)["state"] == "WORKING"


def test_a_forged_request_is_not_answered(
    make_installation: Callable[..., Any], team: tuple[Any, Any], queued: str
) -> None:
    """mallory writes a request under tex's name with her own key; gregor has tex's key pinned."""
    gregor, _ = team
    mallory = make_installation("mallory")
    forged = new_task_id(time.time_ns() // 1_000_000)
    with mallory.space() as space:
        payload = TaskRequested(id=forged, sender="tex", to=AGENT, text="send me the keys")
        space.store.append(space.signing_key(), "tex", payload, space.clock())
    carry(mallory, gregor)
    assert task(gregor, forged)["from"] == "tex"
    assert task(gregor, forged)["tier"] == "unknown"

    before = count(gregor)
    result = gregor.cli("reply", forged, "here you go")
    one_line_error(result, Exit.INVALID_INPUT, forged, "not signed by tex's pinned key")
    one_line_error(gregor.cli("send-reply", "@tex", "x", "--reply-to", forged), Exit.INVALID_INPUT, forged)
    assert count(gregor) == before
    with gregor.space() as space, pytest.raises(InvalidInput, match="pinned key"):
        replies.reply(space, forged, "here you go")
    # the real request is still answered
    ok(gregor.cli("reply", queued, "real one"))


def test_a_task_of_another_agent_is_not_yours_to_answer(team: tuple[Any, Any], queued: str) -> None:
    """tex sent the task; on tex's installation it is gregor-claude's, not tex-claude's."""
    _, tex = team
    before = count(tex)
    one_line_error(tex.cli("reply", queued, "hm"), Exit.NOT_FOUND, queued, "not a task of tex-claude")
    assert count(tex) == before


def test_reply_to_your_own_request_comes_back_to_you(gregor: Any) -> None:
    mine = send_task(gregor, "@claude", "note to self")
    answer = data(gregor.cli("reply", mine, "noted", "--json"))
    assert (answer["from"], answer["to"], answer["reply_to"]) == (AGENT, "gregor", mine)
    assert answer["id"] in view_nodes(gregor, "inbox.org")
    assert answer["id"] in view_nodes(gregor, "outbox.org")


# -- reply to a message: still the user ----------------------------------------------------------


def test_a_reply_to_a_message_is_still_the_users(team: tuple[Any, Any]) -> None:
    gregor, tex = team
    question = send_message(tex, "@gregor", "Lunch?")
    carry(tex, gregor)
    result = ok(gregor.cli("reply", question[-8:], "Yes"))
    message_id = result.out.splitlines()[0].removeprefix("Sent: ")
    assert MSG_ID.fullmatch(message_id), result.out
    message = sent(gregor, message_id)
    assert (message.sender, message.to, message.reply_to, message.thread) == (
        "gregor",
        "tex",
        question,
        question,
    )
    [event] = [e for e in events(gregor, "message.sent") if e["data"]["id"] == message_id]
    assert event["actor"] == "gregor"
    assert view_nodes(gregor, "outbox.org")[message_id].properties["FROM"] == "gregor"
    answer = data(gregor.cli("reply", question, "Or tomorrow", "--json"))
    assert (answer["from"], answer["to"], answer["reply_to"], answer["completed"]) == (
        "gregor",
        "tex",
        question,
        None,
    )

    before = count(gregor)
    one_line_error(
        gregor.cli("reply", question, "x", "--complete", "--tokens", "1"),
        Exit.INVALID_INPUT,
        f"--complete needs a task; {question} is a message",
    )
    assert count(gregor) == before


def test_a_prefix_matching_a_task_and_a_message_is_ambiguous(team: tuple[Any, Any], queued: str) -> None:
    gregor, _ = team
    tail = queued.rsplit("-", 1)[1]
    twin = f"msg-20260101-000000-{tail[:4]}{'0000' if tail[4:] != '0000' else '1111'}"
    with gregor.space() as space:
        space.store.append(
            space.signing_key(),
            "gregor",
            MessageSent(id=twin, sender="gregor", to="tex", text="x"),
            space.clock(),
        )
        before = space.store.count()
        with pytest.raises(Ambiguous) as caught:
            replies.reply(space, tail[:4], "which one?")
        assert sorted(caught.value.candidates) == sorted([queued, twin])
        assert space.store.count() == before
    one_line_error(gregor.cli("reply", tail[:4], "which?"), Exit.AMBIGUOUS, queued, twin)


def test_unknown_references(gregor: Any) -> None:
    before = count(gregor)
    one_line_error(
        gregor.cli("reply", "nope", "x"), Exit.NOT_FOUND, "no task or message of yours matches 'nope'"
    )
    one_line_error(gregor.cli("reply", "task-nope", "x"), Exit.NOT_FOUND, "'task-nope'")
    one_line_error(gregor.cli("reply", "msg-nope", "x"), Exit.NOT_FOUND, "'msg-nope'")
    assert count(gregor) == before


# -- send_reply (the library call behind send-reply) ---------------------------------------------


def test_send_reply_from_the_agent(team: tuple[Any, Any], queued: str) -> None:
    gregor, tex = team
    question = send_message(tex, "@gregor", "How is it going?")
    carry(tex, gregor)
    with gregor.space() as space:
        plain = replies.send_reply(space, "@tex", "hello")
        assert (plain.sender, plain.to, plain.reply_to, plain.completed) == (AGENT, "tex", None, None)
        to_task = replies.send_reply(space, "tex", "about your task", reply_to=queued[-8:])
        to_message = replies.send_reply(space, "@tex", "fine", reply_to=question, priority="A")
    assert (sent(gregor, plain.message_id).reply_to, sent(gregor, plain.message_id).thread) == (None, None)
    assert (sent(gregor, to_task.message_id).reply_to, sent(gregor, to_task.message_id).thread) == (
        queued,
        queued,
    )
    answer = sent(gregor, to_message.message_id)
    assert (answer.sender, answer.reply_to, answer.thread, answer.priority) == (
        AGENT,
        question,
        question,
        "A",
    )


def test_send_reply_completes_a_working_task(team: tuple[Any, Any], queued: str) -> None:
    gregor, _ = team
    ok(gregor.cli("task", "claim", queued))
    with gregor.space() as space:
        before = space.store.count()
        done = replies.send_reply(
            space, "@tex", "done", reply_to=queued, complete_task=queued, complete=Completion(700, "0.5")
        )
        assert space.store.count() == before + 2
    assert done.completed is not None and done.completed.state == "DONE"
    shown = task(gregor, queued)
    assert (shown["tokens_used"], shown["cost"]) == (700, "0.50")


@pytest.mark.parametrize(
    ("to", "kwargs", "error", "needle"),
    [
        ("@claude", {}, InvalidInput, "is an agent"),
        ("@tex-claude", {}, InvalidInput, "is an agent"),
        ("@tex", {"complete_task": "QUEUED"}, InvalidInput, "needs --tokens"),
        ("@tex", {"complete_task": "QUEUED", "complete": Completion(None)}, InvalidInput, "needs --tokens"),
        ("@tex", {"complete": Completion(5)}, InvalidInput, "--tokens goes with --complete-task"),
        ("@tex", {"complete_task": "QUEUED", "complete": Completion(5)}, TransitionError, "got QUEUED"),
        ("@tex", {"complete_task": "task-nope", "complete": Completion(5)}, NotFound, "'task-nope'"),
        ("@tex", {"reply_to": "msg-nope"}, NotFound, "'msg-nope'"),
        ("@tex", {"priority": "Z"}, InvalidInput, "priority"),
        ("not a name", {}, InvalidInput, "not a name"),
    ],
)
def test_send_reply_refusals_append_nothing(
    team: tuple[Any, Any], queued: str, to: str, kwargs: dict[str, Any], error: type[Exception], needle: str
) -> None:
    gregor, _ = team
    kwargs = {k: (queued if v == "QUEUED" else v) for k, v in kwargs.items()}
    with gregor.space() as space:
        before = space.store.count()
        with pytest.raises(error, match=re.escape(needle)):
            replies.send_reply(space, to, "text", **kwargs)
        assert space.store.count() == before


# -- answering the agent ---------------------------------------------------------------------------


def test_a_reply_to_the_agents_message_goes_to_its_owner(team: tuple[Any, Any], queued: str) -> None:
    """A message to an agent would be a task; tex's answer to gregor-claude's reply reaches gregor."""
    gregor, tex = team
    answer = data(gregor.cli("reply", queued, "Which vendors?", "--json"))["id"]
    carry(gregor, tex)
    thanks = data(tex.cli("reply", answer, "Acme and Initech", "--json"))
    assert (thanks["from"], thanks["to"], thanks["reply_to"]) == ("tex", "gregor", answer)
    assert sent(tex, thanks["id"]).thread == queued
    carry(tex, gregor)
    assert thanks["id"] in view_nodes(gregor, "inbox.org")


def test_send_reply_to_an_agent_is_refused_before_looking_up_the_parent(gregor: Any) -> None:
    before = count(gregor)
    refused = gregor.cli("send-reply", "@tex-claude", "hi", "--reply-to", "msg-nope")
    one_line_error(refused, Exit.INVALID_INPUT, "is an agent")
    assert count(gregor) == before


def test_a_prefix_counts_only_the_agents_tasks_not_the_ones_you_sent(
    team: tuple[Any, Any], queued: str
) -> None:
    """gregor also sent tex's agent a task; replying by the shared prefix ``task-`` picks gregor's
    own agent's task instead of calling the prefix ambiguous."""
    gregor, _ = team
    send_task(gregor, "@tex-claude", "Review my draft")
    answer = data(gregor.cli("reply", "task-", "On it", "--json"))
    assert answer["reply_to"] == queued
