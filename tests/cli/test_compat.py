"""The reference system's commands through the real CLI (in-process, through ``main``):
``send-reply`` (a message from the user's agent, optionally replying to a task or message and
completing a task), ``task-queue {status,approve,reject,cancel}`` (the id as ``--task-id`` or
positionally) and ``mark-message``; their text and ``--json`` output; and a table of bad input, each
refused with one line on standard error, its typed exit status and nothing appended."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import click
import orgparse
import pytest
import yaml

from datacore_msg.app import messages
from datacore_msg.cli.exit_codes import Exit, name_of
from datacore_msg.cli.main import cli
from datacore_msg.eventlog.payloads import MessageSent

AGENT = "gregor-claude"
MSG_ID = re.compile(r"msg-\d{8}-\d{6}-[0-9a-f]{8}")
ERROR_PREFIX = "datacore-msg: error: "


# -- helpers -------------------------------------------------------------------------------------


def ok(result: Any) -> Any:
    assert result.code == 0, result
    assert result.err == "", result
    return result


def data(result: Any) -> Any:
    """The data of a successful ``--json`` answer, after checking the envelope."""
    ok(result)
    parsed = json.loads(result.out)
    assert set(parsed) == {"version", "ok", "data"}
    assert parsed["version"] == 1 and parsed["ok"] is True
    return parsed["data"]


def one_line_error(result: Any, code: int, *needles: str) -> None:
    assert result.code == code, result
    assert result.out == "", result
    assert "Traceback" not in result.err, result.err
    assert result.err.startswith(ERROR_PREFIX) and result.err.count("\n") == 1, result.err
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
    return {node.properties["ID"]: node for node in orgparse.load(str(inst.views / name))[1:]}


def no_cooldown(inst: Any) -> None:
    path = inst.root / ".datacore" / "settings.local.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["messaging"]["compute"] = {"cooldown_between_tasks": 0}
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


@attrs.frozen
class Team:
    """gregor (tex pinned as ``tier``) and tex (gregor pinned as team); tex asked gregor "Status?"
    and sent gregor's agent a task, carried to gregor's installation."""

    gregor: Any
    tex: Any
    question: str
    task: str


def make_team(gregor: Any, tex: Any, tier: str) -> Team:
    gregor.pin(tex, tier)
    tex.pin(gregor, "team")
    no_cooldown(gregor)
    question = send_message(tex, "@gregor", "Status?")
    task_id = send_task(tex, f"@{AGENT}", "Draft the pricing memo", "--tokens", "3000")
    carry(tex, gregor)
    return Team(gregor, tex, question, task_id)


@pytest.fixture
def team(gregor: Any, tex: Any) -> Team:
    """tex is team: his task is QUEUED on gregor's installation."""
    made = make_team(gregor, tex, "team")
    assert task(gregor, made.task)["state"] == "QUEUED"
    return made


@pytest.fixture
def trusted(gregor: Any, tex: Any) -> Team:
    """tex is trusted: his task is WAITING for gregor's approval."""
    made = make_team(gregor, tex, "trusted")
    assert task(gregor, made.task)["state"] == "WAITING"
    return made


def sent_id(result: Any) -> str:
    first: str = result.out.splitlines()[0]
    assert first.startswith("Sent: "), result.out
    message_id = first.removeprefix("Sent: ")
    assert MSG_ID.fullmatch(message_id), result.out
    return message_id


# -- send-reply ----------------------------------------------------------------------------------


def test_send_reply_to_a_user_comes_from_the_agent(team: Team) -> None:
    gregor, tex = team.gregor, team.tex
    result = ok(gregor.cli("send-reply", "@tex", "Working on it."))
    message_id = sent_id(result)
    assert result.out == f"Sent: {message_id}\n  from {AGENT} to tex\n"
    message = sent(gregor, message_id)
    assert (message.sender, message.to, message.reply_to, message.thread) == (AGENT, "tex", None, None)
    assert message.text == "Working on it."
    assert view_nodes(gregor, "outbox.org")[message_id].properties["FROM"] == AGENT
    carry(gregor, tex)
    node = view_nodes(tex, "inbox.org")[message_id]
    assert (node.properties["FROM"], node.properties["TO"]) == (AGENT, "tex")
    # without the @, too
    assert sent(gregor, sent_id(ok(gregor.cli("send-reply", "tex", "again")))).to == "tex"


def test_send_reply_to_a_task_and_to_a_message(team: Team) -> None:
    gregor = team.gregor
    to_task = ok(gregor.cli("send-reply", "@tex", "About your memo", "--reply-to", team.task[-8:]))
    message_id = sent_id(to_task)
    assert to_task.out.splitlines()[1:] == [f"  from {AGENT} to tex, in reply to {team.task}"]
    message = sent(gregor, message_id)
    assert (message.sender, message.reply_to, message.thread) == (AGENT, team.task, team.task)
    assert task(gregor, team.task)["state"] == "QUEUED"

    to_message = ok(
        gregor.cli("send-reply", "@tex", "All fine", "--reply-to", team.question, "--priority", "B")
    )
    message_id = sent_id(to_message)
    assert to_message.out.splitlines()[1:] == [f"  from {AGENT} to tex, in reply to {team.question}"]
    message = sent(gregor, message_id)
    assert (message.sender, message.reply_to, message.thread, message.priority) == (
        AGENT,
        team.question,
        team.question,
        "B",
    )


def test_send_reply_reads_standard_input(team: Team) -> None:
    result = ok(team.gregor.cli("send-reply", "@tex", "-", stdin=b"line one\nline two\n"))
    message_id = sent_id(result)
    assert sent(team.gregor, message_id).text == "line one\nline two\n"


@pytest.mark.parametrize("option", ["--complete-task", "--complete"])
def test_send_reply_completes_the_task(team: Team, option: str) -> None:
    gregor, tex = team.gregor, team.tex
    ok(gregor.cli("task", "claim", team.task))
    before = count(gregor)
    result = ok(
        gregor.cli(
            "send-reply",
            "@tex",
            "Memo in notes/memo.md",
            "--reply-to",
            team.task,
            option,
            team.task[-8:],
            "--tokens",
            "2500",
            "--cost",
            "0.04",
            "--result",
            "notes/memo.md",
            "--quality",
            "0.8",
        )
    )
    message_id = sent_id(result)
    assert result.out.splitlines()[1:] == [
        f"  from {AGENT} to tex, in reply to {team.task}",
        f"Completed: {team.task} (DONE)",
    ]
    assert count(gregor) == before + 2
    shown = task(gregor, team.task)
    assert (shown["state"], shown["tokens_used"], shown["cost"], shown["result"], shown["quality"]) == (
        "DONE",
        2500,
        "0.04",
        "notes/memo.md",
        "0.80",
    )
    assert shown["history"][-1]["actor"] == AGENT
    carry(gregor, tex)
    assert data(tex.cli("tasks", "--sent", "--json"))[0]["state"] == "DONE"
    assert message_id in view_nodes(tex, "inbox.org")


def test_send_reply_completes_without_replying_to_anything(team: Team) -> None:
    gregor = team.gregor
    ok(gregor.cli("task", "claim", team.task))
    result = ok(gregor.cli("send-reply", "@tex", "done", "--complete-task", team.task, "--tokens", "7"))
    message_id = sent_id(result)
    assert result.out.splitlines()[1:] == [f"  from {AGENT} to tex", f"Completed: {team.task} (DONE)"]
    assert sent(gregor, message_id).reply_to is None
    # the alias and the option may both be given when they name the same task
    other = send_task(gregor, "@claude", "mine")
    ok(gregor.cli("task", "claim", other))
    ok(
        gregor.cli(
            "send-reply", "@gregor", "done", "--complete-task", other, "--complete", other, "--tokens", "1"
        )
    )
    assert task(gregor, other)["state"] == "DONE"


def test_send_reply_json(team: Team) -> None:
    gregor = team.gregor
    ok(gregor.cli("task", "claim", team.task))
    answer = data(
        gregor.cli(
            "send-reply",
            "@tex",
            "done",
            "--reply-to",
            team.question,
            "--complete-task",
            team.task,
            "--tokens",
            "3",
            "--json",
        )
    )
    assert set(answer) == {"id", "event", "from", "to", "reply_to", "completed"}
    assert MSG_ID.fullmatch(answer["id"])
    assert (answer["from"], answer["to"], answer["reply_to"], answer["completed"]) == (
        AGENT,
        "tex",
        team.question,
        team.task,
    )
    logged = data(gregor.cli("log", "--type", "message.sent", "--json"))
    assert [e["id"] for e in logged if e["data"]["id"] == answer["id"]] == [answer["event"]]
    plain = data(gregor.cli("send-reply", "@tex", "hi", "--json"))
    assert (plain["reply_to"], plain["completed"], plain["from"]) == (None, None, AGENT)


def test_send_reply_refusals_append_nothing(team: Team) -> None:
    gregor = team.gregor
    before = count(gregor)
    one_line_error(
        gregor.cli("send-reply", "@tex-claude", "hi"), Exit.INVALID_INPUT, "tex-claude is an agent"
    )
    one_line_error(gregor.cli("send-reply", "@claude", "hi"), Exit.INVALID_INPUT, f"{AGENT} is an agent")
    one_line_error(
        gregor.cli("send-reply", "@tex", "done", "--complete-task", team.task),
        Exit.INVALID_INPUT,
        "--complete-task needs --tokens",
    )
    one_line_error(
        gregor.cli("send-reply", "@tex", "done", "--tokens", "5"),
        Exit.INVALID_INPUT,
        "go with --complete-task",
    )
    one_line_error(
        gregor.cli("send-reply", "@tex", "done", "--complete-task", team.task, "--tokens", "5"),
        Exit.TRANSITION,
        "complete: expected state WORKING, got QUEUED",
    )
    one_line_error(
        gregor.cli("send-reply", "@tex", "x", "--reply-to", "msg-nope"), Exit.NOT_FOUND, "'msg-nope'"
    )
    one_line_error(
        gregor.cli("send-reply", "@tex", "x", "--complete-task", "task-nope", "--tokens", "1"),
        Exit.NOT_FOUND,
        "'task-nope'",
    )
    assert count(gregor) == before
    assert task(gregor, team.task)["state"] == "QUEUED"


def test_send_reply_hides_the_old_complete_alias() -> None:
    command = cli.commands["send-reply"]
    hidden = {o for p in command.params if isinstance(p, click.Option) and p.hidden for o in p.opts}
    assert hidden == {"--complete"}


# -- task-queue ----------------------------------------------------------------------------------


def test_task_queue_status_lists_open_tasks_with_counts(trusted: Team) -> None:
    gregor = trusted.gregor
    queued = send_task(gregor, "@claude", "queued one")
    working = send_task(gregor, "@claude", "working one")
    ok(gregor.cli("task", "claim", working))
    cancelled = send_task(gregor, "@claude", "cancelled one")
    ok(gregor.cli("task", "cancel", cancelled))

    lines = ok(gregor.cli("task-queue", "status")).out.splitlines()
    listed = ok(gregor.cli("tasks")).out.splitlines()  # also shows today's cancellations
    assert lines[:-1] == [line for line in listed if "  CANCELLED " not in line]
    assert [line.split()[0] for line in lines[:-1]] == [trusted.task, queued, working]
    assert re.match(
        rf"{trusted.task}  WAITING \s+\d+m  tex \(trusted\) → {AGENT}: Draft the pricing memo", lines[0]
    ), lines[0]
    assert lines[-1] == f"3 open task(s) for {AGENT}: 1 WAITING, 1 QUEUED, 1 WORKING"

    answer = data(gregor.cli("task-queue", "status", "--json"))
    assert answer["agent"] == AGENT
    assert answer["counts"] == {"WAITING": 1, "QUEUED": 1, "WORKING": 1}
    assert [t["id"] for t in answer["tasks"]] == [trusted.task, queued, working]
    assert [t["state"] for t in answer["tasks"]] == ["WAITING", "QUEUED", "WORKING"]


def test_task_queue_status_when_empty(gregor: Any) -> None:
    assert ok(gregor.cli("task-queue", "status")).out == f"No open tasks for {AGENT}.\n"
    assert data(gregor.cli("task-queue", "status", "--json")) == {"agent": AGENT, "counts": {}, "tasks": []}


def test_task_queue_status_of_one_task(trusted: Team) -> None:
    gregor, task_id = trusted.gregor, trusted.task
    shown = ok(gregor.cli("task", "show", task_id)).out
    assert shown.startswith(f"{task_id}  (WAITING)\n")
    assert ok(gregor.cli("task-queue", "status", task_id)).out == shown
    assert ok(gregor.cli("task-queue", "status", "--task-id", task_id[-8:])).out == shown
    assert ok(gregor.cli("task-queue", "status", task_id, "--task-id", task_id)).out == shown
    as_json = data(gregor.cli("task-queue", "status", "--task-id", task_id, "--json"))
    assert as_json["id"] == task_id and as_json["state"] == "WAITING"
    assert set(as_json) == set(task(gregor, task_id))


@pytest.mark.parametrize("how", ["option", "positional"])
def test_task_queue_approve_a_waiting_task(trusted: Team, how: str) -> None:
    gregor, task_id = trusted.gregor, trusted.task
    where = ("--task-id", task_id) if how == "option" else (task_id[-8:],)
    result = ok(gregor.cli("task-queue", "approve", *where, "--reason", "go ahead"))
    assert result.out == f"Approve: {task_id} is now QUEUED\n"
    shown = task(gregor, task_id)
    assert (shown["state"], shown["approval"]) == ("QUEUED", "approved")
    assert (shown["history"][-1]["action"], shown["history"][-1]["note"]) == ("approve", "go ahead")
    assert "QUEUED" in ok(gregor.cli("task-queue", "status")).out.splitlines()[-1]


def test_task_queue_reject_with_a_reason(trusted: Team) -> None:
    gregor, task_id = trusted.gregor, trusted.task
    answer = data(
        gregor.cli("task-queue", "reject", "--task-id", task_id, "--reason", "not this quarter", "--json")
    )
    assert (answer["id"], answer["state"], answer["approval"], answer["rejection_reason"]) == (
        task_id,
        "CANCELLED",
        "rejected",
        "not this quarter",
    )
    assert ok(gregor.cli("task-queue", "status")).out == f"No open tasks for {AGENT}.\n"
    # tex learns of it once the events are carried back
    carry(gregor, trusted.tex)
    assert task(trusted.tex, task_id)["state"] == "CANCELLED"


def test_task_queue_cancel(team: Team) -> None:
    gregor, task_id = team.gregor, team.task
    result = ok(gregor.cli("task-queue", "cancel", task_id, "--reason", "duplicate"))
    assert result.out == f"Cancel: {task_id} is now CANCELLED\n"
    assert task(gregor, task_id)["cancellation_reason"] == "duplicate"


def test_task_queue_cancel_by_the_sender(team: Team) -> None:
    """The sender withdraws a request from his own installation (it is REQUESTED there)."""
    tex = team.tex
    mine = send_task(tex, f"@{AGENT}", "never mind")
    assert ok(tex.cli("task-queue", "cancel", "--task-id", mine)).out == f"Cancel: {mine} is now CANCELLED\n"


def test_task_queue_refusals_append_nothing(trusted: Team) -> None:
    gregor, task_id = trusted.gregor, trusted.task
    queued = send_task(gregor, "@claude", "mine")
    before = count(gregor)
    for action in ("approve", "reject", "cancel"):
        one_line_error(
            gregor.cli("task-queue", action), Exit.INVALID_INPUT, f"task-queue {action}", "--task-id"
        )
    one_line_error(
        gregor.cli("task-queue", "approve", task_id, "--task-id", queued),
        Exit.INVALID_INPUT,
        "given twice",
        task_id,
        queued,
    )
    one_line_error(
        gregor.cli("task-queue", "approve", "--task-id", queued),
        Exit.TRANSITION,
        "approve: expected state WAITING, got QUEUED",
    )
    one_line_error(gregor.cli("task-queue", "approve", "task-nope"), Exit.NOT_FOUND, "'task-nope'")
    one_line_error(gregor.cli("task-queue", "status", "task-nope"), Exit.NOT_FOUND, "'task-nope'")
    one_line_error(gregor.cli("task-queue", "status", "--reason", "x"), Exit.INVALID_INPUT, "--reason")
    assert count(gregor) == before
    assert task(gregor, task_id)["state"] == "WAITING"


# -- mark-message --------------------------------------------------------------------------------


def test_mark_message_read_and_archive(team: Team) -> None:
    gregor, question = team.gregor, team.question
    node = view_nodes(gregor, "inbox.org")[question]
    assert node.todo == "TODO" and "unread" in node.tags
    assert [m["id"] for m in data(gregor.cli("inbox", "--json"))] == [question]

    assert ok(gregor.cli("mark-message", question[-8:], "read")).out == f"Marked {question} read\n"
    node = view_nodes(gregor, "inbox.org")[question]
    assert node.todo == "DONE" and "unread" not in node.tags
    assert data(gregor.cli("inbox", "--json")) == []
    assert ok(gregor.cli("mark-message", question, "read")).out == f"Marked {question} read (already)\n"

    answer = data(gregor.cli("mark-message", question, "archive", "--json"))
    assert answer == {"id": question, "mark": "archive", "changed": True}
    assert question not in view_nodes(gregor, "inbox.org")
    [archive] = sorted((gregor.views / "archive").glob("inbox-*.org_archive"))
    node = {n.properties["ID"]: n for n in orgparse.load(str(archive))[1:]}[question]
    assert node.todo == "ARCHIVED" and node.closed
    assert [(m["id"], m["status"]) for m in data(gregor.cli("inbox", "--all", "--json"))] == [
        (question, "archived")
    ]
    # only gregor's views: tex's outbox still shows it as sent
    carry(gregor, team.tex)
    assert view_nodes(team.tex, "outbox.org")[question].todo != "ARCHIVED"


def test_mark_message_todo_and_done(team: Team) -> None:
    gregor, question = team.gregor, team.question
    assert ok(gregor.cli("mark-message", question, "todo")).out == f"Marked {question} todo\n"
    assert [m["status"] for m in data(gregor.cli("inbox", "--json"))] == ["todo"]
    assert ok(gregor.cli("mark-message", question, "done")).out == f"Marked {question} done\n"
    assert data(gregor.cli("inbox", "--json")) == []


def test_mark_message_refusals(team: Team) -> None:
    gregor, question = team.gregor, team.question
    ok(gregor.cli("mark-message", question, "archive"))
    before = count(gregor)
    one_line_error(gregor.cli("mark-message", "msg-nope", "read"), Exit.NOT_FOUND, "'msg-nope'")
    one_line_error(gregor.cli("mark-message", question, "read"), Exit.TRANSITION, question, "archived")
    assert count(gregor) == before


# -- bad input: one line, a typed exit status, nothing stored ------------------------------------


@attrs.frozen
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    #: Commands run before the events are counted.
    setup: tuple[tuple[str, ...], ...] = ()


ROWS = [
    # send-reply
    Row("send-reply-to-an-agent", ("send-reply", "@tex-claude", "hi"), Exit.INVALID_INPUT, ("is an agent",)),
    Row("send-reply-to-own-agent", ("send-reply", "@claude", "hi"), Exit.INVALID_INPUT, ("is an agent",)),
    Row("send-reply-bad-name", ("send-reply", "@bad name", "hi"), Exit.INVALID_INPUT, ("'bad name'",)),
    Row("send-reply-empty-text", ("send-reply", "@tex", ""), Exit.INVALID_INPUT, ("text is empty",)),
    Row(
        "send-reply-unknown-reply-to",
        ("send-reply", "@tex", "hi", "--reply-to", "msg-nope"),
        Exit.NOT_FOUND,
        ("'msg-nope'",),
    ),
    Row(
        "send-reply-unknown-task",
        ("send-reply", "@tex", "hi", "--complete-task", "task-nope", "--tokens", "1"),
        Exit.NOT_FOUND,
        ("'task-nope'",),
    ),
    Row(
        "send-reply-complete-without-tokens",
        ("send-reply", "@tex", "hi", "--complete-task", "{task}"),
        Exit.INVALID_INPUT,
        ("--complete-task needs --tokens",),
    ),
    Row(
        "send-reply-tokens-without-complete",
        ("send-reply", "@tex", "hi", "--tokens", "10"),
        Exit.INVALID_INPUT,
        ("--complete-task",),
    ),
    Row(
        "send-reply-result-without-complete",
        ("send-reply", "@tex", "hi", "--result", "x.md"),
        Exit.INVALID_INPUT,
        ("--complete-task",),
    ),
    Row(
        "send-reply-two-different-tasks",
        (
            "send-reply",
            "@tex",
            "hi",
            "--complete-task",
            "{task}",
            "--complete",
            "task-other",
            "--tokens",
            "1",
        ),
        Exit.INVALID_INPUT,
        ("--complete-task", "--complete", "task-other"),
    ),
    Row(
        "send-reply-complete-a-queued-task",
        ("send-reply", "@tex", "hi", "--complete-task", "{task}", "--tokens", "1"),
        Exit.TRANSITION,
        ("complete: expected state WORKING, got QUEUED",),
    ),
    Row(
        "send-reply-bad-cost",
        ("send-reply", "@tex", "hi", "--complete-task", "{task}", "--tokens", "1", "--cost", "lots"),
        Exit.INVALID_INPUT,
        ("--cost 'lots' is not a number",),
        setup=(("task", "claim", "{task}"),),
    ),
    Row(
        "send-reply-complete-twice",
        ("send-reply", "@tex", "hi", "--complete-task", "{task}", "--tokens", "1"),
        Exit.TRANSITION,
        ("complete: expected state WORKING, got DONE",),
        setup=(("task", "claim", "{task}"), ("task", "complete", "{task}", "--tokens", "1")),
    ),
    # task-queue
    Row("task-queue-approve-no-id", ("task-queue", "approve"), Exit.INVALID_INPUT, ("--task-id",)),
    Row(
        "task-queue-reject-no-id",
        ("task-queue", "reject", "--reason", "no"),
        Exit.INVALID_INPUT,
        ("--task-id",),
    ),
    Row("task-queue-cancel-no-id", ("task-queue", "cancel"), Exit.INVALID_INPUT, ("--task-id",)),
    Row(
        "task-queue-two-ids",
        ("task-queue", "cancel", "{task}", "--task-id", "{message}"),
        Exit.INVALID_INPUT,
        ("given twice", "{task}", "{message}"),
    ),
    Row(
        "task-queue-empty-id",
        ("task-queue", "cancel", "--task-id", " "),
        Exit.INVALID_INPUT,
        ("task id is empty",),
    ),
    Row("task-queue-unknown-id", ("task-queue", "cancel", "task-nope"), Exit.NOT_FOUND, ("'task-nope'",)),
    Row(
        "task-queue-status-unknown",
        ("task-queue", "status", "--task-id", "nope"),
        Exit.NOT_FOUND,
        ("'nope'",),
    ),
    Row(
        "task-queue-approve-queued",
        ("task-queue", "approve", "--task-id", "{task}"),
        Exit.TRANSITION,
        ("approve: expected state WAITING, got QUEUED",),
    ),
    Row(
        "task-queue-cancel-cancelled",
        ("task-queue", "cancel", "{task}"),
        Exit.TRANSITION,
        ("cancel: expected state", "got CANCELLED"),
        setup=(("task", "cancel", "{task}"),),
    ),
    Row(
        "task-queue-status-reason",
        ("task-queue", "status", "--reason", "x"),
        Exit.INVALID_INPUT,
        ("--reason",),
    ),
    # mark-message
    Row("mark-message-unknown", ("mark-message", "msg-nope", "read"), Exit.NOT_FOUND, ("'msg-nope'",)),
    Row("mark-message-empty-id", ("mark-message", "", "read"), Exit.INVALID_INPUT, ("message id is empty",)),
    Row(
        "mark-message-ambiguous",
        ("mark-message", "msg-", "archive"),
        Exit.AMBIGUOUS,
        ("matches 2 messages", "{message}"),
        setup=(("send", "@tex", "another"),),
    ),
    Row(
        "mark-message-archived",
        ("mark-message", "{message}", "todo"),
        Exit.TRANSITION,
        ("{message} is archived",),
        setup=(("mark-message", "{message}", "archive"),),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(team: Team, row: Row) -> None:
    gregor = team.gregor

    def fill(args: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.replace("{task}", team.task).replace("{message}", team.question) for a in args)

    for step in row.setup:
        ok(gregor.cli(*fill(step)))
    before = count(gregor)
    result = gregor.cli(*fill(row.args))
    one_line_error(result, row.code, *fill(row.needles))
    assert count(gregor) == before
    as_json = gregor.cli(*fill(row.args), "--json")
    assert as_json.code == row.code
    error = json.loads(as_json.out)
    assert error["ok"] is False and error["error"]["code"] == str(name_of(row.code)).lower()
    assert count(gregor) == before


@pytest.mark.parametrize(
    "args",
    [
        ("task-queue", "frob"),
        ("task-queue",),
        ("mark-message", "msg-x", "unread"),
        ("mark-message", "msg-x"),
        ("send-reply", "@tex"),
        ("send-reply", "@tex", "hi", "--priority", "Z"),
        ("send-reply", "@tex", "hi", "--complete-task", "t", "--tokens", "-1"),
    ],
)
def test_usage_errors(team: Team, args: tuple[str, ...]) -> None:
    before = count(team.gregor)
    result = team.gregor.cli(*args)
    assert result.code == Exit.USAGE, result
    assert "Error:" in result.err and "Traceback" not in result.err
    assert result.out == ""
    assert count(team.gregor) == before


def test_every_compat_command_has_the_common_options() -> None:
    for name in ("send-reply", "task-queue", "mark-message"):
        command = cli.commands[name]
        options = {o for p in command.params for o in p.opts}
        assert {"--json", "--space", "--root"} <= options, name
        assert command.help and len(command.help.split(". ")) <= 2, name


def test_send_reply_runs_as_a_process(team: Team) -> None:
    """Scripts parse the first line of send-reply: check it from a real process, with stdin."""
    result = team.gregor.run("send-reply", "@tex", "-", stdin=b"from a script\n")
    assert result.code == 0, result
    message_id = sent_id(result)
    assert sent(team.gregor, message_id).text == "from a script\n"
