"""The task commands through the real CLI (in-process, through ``main``): ``send`` to an agent,
``tasks`` and its filters, ``task show`` by id or prefix, every action, ``budget``, ``whoami`` and
``contacts``, in text and in the ``--json`` envelope; and a table of bad input, each refused with one
line on standard error, its typed exit status and nothing appended."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from datacore_msg.app import exchange, tasks
from datacore_msg.cli.exit_codes import Exit
from datacore_msg.errors import InvalidInput

TASK_ID = re.compile(r"task-\d{8}-\d{6}-[0-9a-f]{8}")
ERROR_PREFIX = "datacore-msg: error: "


# -- helpers -----------------------------------------------------------------------------------


def ok(result: Any) -> Any:
    assert result.code == 0, result
    assert result.err == "", result
    return result


def envelope(result: Any) -> Any:
    """The data of a successful ``--json`` answer, after checking the envelope."""
    ok(result)
    parsed = json.loads(result.out)
    assert set(parsed) == {"version", "ok", "data"}
    assert parsed["version"] == 1 and parsed["ok"] is True
    return parsed["data"]


def unknown_name_warning(name: str) -> str:
    return (
        f"datacore-msg: warning: @{name} is not in contacts.yaml and was never seen in the log "
        "(a typo?); sent anyway (--strict refuses such names)\n"
    )


def send_task(inst: Any, to: str, text: str, *extra: str) -> str:
    """Send a task; a teammate's agent this installation never heard of gets the one warning."""
    result = inst.cli("send", to, text, "--json", *extra)
    assert result.err in ("", unknown_name_warning(to.removeprefix("@"))), result
    return str(envelope(attrs.evolve(result, err=""))["id"])


def carry(src: Any, dst: Any) -> None:
    exported = src.cli("export", "-")
    assert exported.code == 0, exported
    ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def count(inst: Any) -> int:
    with inst.space() as space:
        return space.store.count()


def ids(inst: Any, *args: str) -> list[str]:
    return [task["id"] for task in envelope(inst.cli("tasks", *args, "--json"))]


def hex_part(task: str) -> str:
    return task.rsplit("-", 1)[1]


# -- send --------------------------------------------------------------------------------------


def test_send_a_task_to_your_own_agent(gregor: Any) -> None:
    result = ok(
        gregor.cli(
            "send",
            "@claude",
            "Summarise the minutes",
            "--tag",
            "x",
            "--effort",
            "3",
            "--tokens",
            "5000",
            "--priority",
            "A",
        )
    )
    match = re.fullmatch(rf"Task: ({TASK_ID.pattern}) \(QUEUED\)\n", result.out)
    assert match, result.out
    task = envelope(gregor.cli("task", "show", match.group(1), "--json"))
    assert task["id"] == match.group(1)
    assert (task["state"], task["from"], task["to"], task["tier"]) == (
        "QUEUED",
        "gregor",
        "gregor-claude",
        "owner",
    )
    assert (task["text"], task["tags"], task["effort"], task["estimated_tokens"], task["priority"]) == (
        "Summarise the minutes",
        ["x"],
        3,
        5000,
        "A",
    )
    assert task["decision"]["outcome"] == "accepted" and task["decision"]["rule"] == "auto_accept"
    assert task["approval"] == "auto_accepted"


def test_send_a_task_with_json(gregor: Any) -> None:
    data = envelope(gregor.cli("send", "@gregor-claude", "x", "--json"))
    assert set(data) == {"id", "event", "state"}
    assert TASK_ID.fullmatch(data["id"]) and data["state"] == "QUEUED"
    events = envelope(gregor.cli("log", "--type", "task.requested", "--json"))
    assert [e["id"] for e in events] == [data["event"]]


def test_a_task_to_a_teammates_agent_waits_for_their_governor(gregor: Any, tex: Any) -> None:
    result = tex.cli("send", "@gregor-claude", "please", "--tokens", "100")
    # gregor is in neither tex's contacts nor his log yet: sent, with the one warning
    assert (result.code, result.err) == (0, unknown_name_warning("gregor-claude")), result
    assert re.fullmatch(rf"Task: {TASK_ID.pattern} \(REQUESTED\)\n", result.out)
    ok(tex.cli("send", "@gregor-claude", "again"))  # seen in the log now: no warning


# -- tasks -------------------------------------------------------------------------------------


@pytest.fixture
def listing(gregor: Any, tex: Any) -> dict[str, str]:
    """gregor's agent holds: tex's WAITING task (tex is trusted), gregor's QUEUED, WORKING and
    CANCELLED tasks."""
    gregor.pin(tex, "trusted")
    tex.pin(gregor, "team")
    waiting = send_task(tex, "@gregor-claude", "from tex", "--priority", "B")
    carry(tex, gregor)
    queued = send_task(gregor, "@claude", "queued one")
    working = send_task(gregor, "@claude", "working one")
    ok(gregor.cli("task", "claim", working))
    cancelled = send_task(gregor, "@claude", "cancelled one")
    ok(gregor.cli("task", "cancel", cancelled))
    return {"WAITING": waiting, "QUEUED": queued, "WORKING": working, "CANCELLED": cancelled}


def test_tasks_lists_open_tasks_with_filters(gregor: Any, tex: Any, listing: dict[str, str]) -> None:
    order = [listing[s] for s in ("WAITING", "QUEUED", "WORKING", "CANCELLED")]
    assert ids(gregor) == order  # open tasks, and what was cancelled today
    assert ids(gregor, "--all") == order
    assert ids(gregor, "--state", "WAITING") == [listing["WAITING"]]
    assert ids(gregor, "--state", "queued", "--state", "Working") == order[1:3]
    assert ids(gregor, "--state", "CANCELLED") == [listing["CANCELLED"]]
    assert ids(gregor, "--from", "tex") == [listing["WAITING"]]
    assert ids(gregor, "--from", "gregor") == order[1:]
    assert ids(gregor, "--from", "gregor", "--all") == order[1:]
    assert ids(gregor, "--from", "nobody") == []
    assert ids(gregor, "--sent") == order[1:]  # what gregor sent (to his own agent)
    assert ids(tex) == []  # tex's agent has nothing
    assert ids(tex, "--sent") == [listing["WAITING"]]

    text = ok(gregor.cli("tasks")).out.splitlines()
    assert len(text) == 4
    assert re.fullmatch(
        rf"{listing['WAITING']}  WAITING \s+\d+m  tex \(trusted\) → gregor-claude \[#B\]: from tex", text[0]
    ), text[0]
    assert re.fullmatch(
        rf"{listing['WORKING']}  WORKING \s+\d+m  gregor \(owner\) → gregor-claude: working one", text[2]
    ), text[2]
    assert ok(gregor.cli("tasks", "--from", "nobody")).out == "No tasks for gregor-claude.\n"
    assert ok(tex.cli("tasks")).out == "No tasks for tex-claude.\n"
    assert ok(gregor.cli("tasks", "--sent", "--state", "DONE")).out == "No tasks.\n"
    # on tex's side, the decision shows once it is carried back
    assert envelope(tex.cli("tasks", "--sent", "--json"))[0]["state"] == "REQUESTED"
    carry(gregor, tex)
    assert envelope(tex.cli("tasks", "--sent", "--json"))[0]["state"] == "WAITING"


def test_the_default_list_shows_the_days_refusals_with_their_reason(gregor: Any, tex: Any) -> None:
    """A refused request stays in the owner's default ``tasks`` until the owner's day is over."""
    refused = send_task(tex, "@gregor-claude", "too hard", "--effort", "9")  # tex: tier unknown
    carry(tex, gregor)
    lines = ok(gregor.cli("tasks")).out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{refused}  CANCELLED"), lines
    assert lines[0].endswith("(Effort 9 exceeds tier limit 3)"), lines
    assert ids(gregor, "--state", "QUEUED") == []  # an explicit filter lists only what it names
    with gregor.space() as space:
        tomorrow = space.clock() + 2 * 86_400_000
    with gregor.space(clock=lambda: tomorrow) as space:
        assert [t.id for t in tasks.list_tasks(space, closed_today=True).items] == []
        assert [t.id for t in tasks.list_tasks(space, include_closed=True).items] == [refused]


def test_a_sender_is_told_why_the_owners_decision_does_not_count_yet(gregor: Any, tex: Any) -> None:
    """tex has not pinned gregor's key: gregor's decision arrives but is superseded on tex's side;
    ``task show`` and ``tasks --sent`` say why and what to run."""
    task = send_task(tex, "@gregor-claude", "draft the memo")
    carry(tex, gregor)
    carry(gregor, tex)
    note = (
        "Note: decisions by gregor are not trusted until you pin gregor's key: "
        "`datacore-msg contacts add gregor KEY`"
    )
    shown = ok(tex.cli("task", "show", task)).out
    assert f"{task}  (REQUESTED)" in shown and "SUPERSEDED" in shown
    assert note in shown
    assert envelope(tex.cli("task", "show", task, "--json"))["note"].startswith("decisions by gregor")
    listed = ok(tex.cli("tasks", "--sent")).out.splitlines()
    assert listed[0].startswith(f"{task}  REQUESTED") and listed[1].startswith(note), listed
    tex.pin(gregor)
    shown = ok(tex.cli("task", "show", task)).out
    assert f"{task}  (WAITING)" in shown and "Note:" not in shown
    assert "Note:" not in ok(tex.cli("tasks", "--sent")).out
    assert "Note:" not in ok(gregor.cli("task", "show", task)).out  # the owner's own agent


def test_tasks_json_items(gregor: Any, listing: dict[str, str]) -> None:
    items = envelope(gregor.cli("tasks", "--all", "--json"))
    assert [item["state"] for item in items] == ["WAITING", "QUEUED", "WORKING", "CANCELLED"]
    first = items[0]
    assert (first["from"], first["tier"], first["priority"], first["approval"]) == (
        "tex",
        "trusted",
        "B",
        None,
    )
    assert first["decision"]["outcome"] == "held"
    assert items[2]["started"] is not None and items[3]["closed"] is not None
    assert all(isinstance(item["age_seconds"], int) for item in items)
    assert [h["action"] for h in items[2]["history"]] == ["decide", "claim"]


# -- task show ---------------------------------------------------------------------------------


def test_task_show_by_id_and_prefix(gregor: Any) -> None:
    first = send_task(gregor, "@claude", "first task\nwith a second line")
    second = send_task(gregor, "@claude", "second task")
    by_id = envelope(gregor.cli("task", "show", first, "--json"))
    assert envelope(gregor.cli("task", "show", hex_part(first)[:6], "--json")) == by_id
    assert envelope(gregor.cli("task", "show", hex_part(first), "--json"))["id"] == first
    assert envelope(gregor.cli("task", "show", f"  {first}  ", "--json"))["id"] == first
    text = ok(gregor.cli("task", "show", hex_part(second)[:6])).out
    assert text.startswith(f"{second}  (QUEUED)\n")
    assert "  from:         gregor\n" in text and "\n    second task\n" in text
    assert "decision:     accepted by rule auto_accept: Auto-accepted (tier owner)" in text

    ambiguous = gregor.cli("task", "show", "task-")
    assert ambiguous.code == Exit.AMBIGUOUS
    assert ambiguous.err == (f"{ERROR_PREFIX}'task-' matches 2 tasks: {', '.join(sorted([first, second]))}\n")
    as_json = gregor.cli("task", "show", "task-", "--json")
    assert as_json.code == Exit.AMBIGUOUS
    error = json.loads(as_json.out)
    assert error["version"] == 1 and error["ok"] is False and error["error"]["code"] == "ambiguous"


def test_task_show_prints_org_times_like_every_other_listing(gregor: Any) -> None:
    task = send_task(gregor, "@claude", "timed")
    ok(gregor.cli("task", "claim", task))
    ok(gregor.cli("task", "complete", task, "--tokens", "5"))
    text = ok(gregor.cli("task", "show", task)).out
    org = r"\[\d{4}-\d{2}-\d{2} (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2}:\d{2}\]"
    for label in ("requested", "started", "completed"):
        assert re.search(rf"^  {label}:\s+{org}$", text, re.MULTILINE), (label, text)
    assert not re.search(r"\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", text), text  # no ISO time left
    # the same stamp as the listing of the log and the history lines
    requested = re.search(rf"requested:\s+({org})", text)
    assert requested is not None and f"{requested.group(1)} gregor-claude decide" in text
    # --json keeps ISO times for programs
    data = envelope(gregor.cli("task", "show", task, "--json"))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", data["requested"])


# -- actions -----------------------------------------------------------------------------------


def test_every_action_with_json(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "trusted")
    waiting = [send_task(tex, "@gregor-claude", "please")]
    carry(tex, gregor)

    def run(action: str, task: str, *extra: str) -> dict[str, Any]:
        data: dict[str, Any] = envelope(gregor.cli("task", action, task, *extra, "--json"))
        assert data["id"] == task
        return data

    data = run("approve", waiting[0], "--reason", "ok by me")
    assert (data["state"], data["approval"]) == ("QUEUED", "approved")
    assert data["history"][-1]["note"] == "ok by me"
    data = run("claim", waiting[0])
    assert data["state"] == "WORKING" and data["started"] is not None
    data = run("retry", waiting[0], "--reason", "try again")
    assert (data["state"], data["retry_count"], data["retry_reason"]) == ("QUEUED", 1, "try again")
    run("claim", waiting[0])
    data = run(
        "complete",
        waiting[0],
        "--tokens",
        "4200",
        "--cost",
        "0.5",
        "--result",
        "out/a.md",
        "--quality",
        "0.875",
    )
    assert (data["state"], data["tokens_used"], data["cost"], data["result"], data["quality"]) == (
        "DONE",
        4200,
        "0.50",
        "out/a.md",
        "0.88",
    )
    data = run("revise", waiting[0], "--reason", "shorter please")
    assert (data["state"], data["revision_feedback"]) == ("QUEUED", "shorter please")
    run("claim", waiting[0])
    run("complete", waiting[0], "--tokens", "10")
    data = run("archive", waiting[0])
    assert data["state"] == "ARCHIVED" and data["closed"] is not None

    rejected = send_task(gregor, "@claude", "mine")
    data = run("cancel", rejected, "--reason", "duplicate")
    assert (data["state"], data["cancellation_reason"]) == ("CANCELLED", "duplicate")


def test_every_action_prints_one_line(gregor: Any, tex: Any) -> None:
    held = send_task(tex, "@gregor-claude", "one")
    carry(tex, gregor)
    mine = send_task(gregor, "@claude", "two")
    steps = [
        ("reject", held, ("--reason", "no"), "CANCELLED"),
        ("claim", mine, (), "WORKING"),
        ("complete", mine, ("--tokens", "1"), "DONE"),
        ("revise", mine, ("--reason", "more"), "QUEUED"),
        ("claim", mine, (), "WORKING"),
        ("complete", mine, ("--tokens", "1"), "DONE"),
        ("archive", mine, (), "ARCHIVED"),
    ]
    for action, task, extra, state in steps:
        result = ok(gregor.cli("task", action, task[-8:], *extra))
        assert result.out == f"{action.capitalize()}: {task} is now {state}\n"


# -- budget, whoami, contacts ------------------------------------------------------------------


def test_budget_text_and_json(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "team")
    send_task(tex, "@gregor-claude", "from tex", "--tokens", "3000")
    carry(tex, gregor)
    mine = send_task(gregor, "@claude", "mine", "--tokens", "2000")
    ok(gregor.cli("task", "claim", mine))
    ok(gregor.cli("task", "complete", mine, "--tokens", "500"))

    data = envelope(gregor.cli("budget", "--json"))
    assert data["agent"] == "gregor-claude"
    assert data["senders"] == [
        {
            "sender": "gregor",
            "tier": "owner",
            "tokens_today": 500,
            "outstanding": 0,
            "completed_today": 500,
            "tier_limit": 0,
            "sender_limit": 0,
            "tasks_last_hour": 1,
        },
        {
            "sender": "tex",
            "tier": "team",
            "tokens_today": 3000,
            "outstanding": 3000,
            "completed_today": 0,
            "tier_limit": 100000,
            "sender_limit": 100000,
            "tasks_last_hour": 1,
        },
    ]
    assert (data["total_today"], data["daily_budget"]) == (3500, 500000)
    assert (data["queue_depth"], data["max_queue_depth"], data["working"], data["tasks_per_hour"]) == (
        1,
        20,
        0,
        5,
    )
    assert (data["unpinned_queue"], data["unpinned_queue_total"], data["unpinned_queue_per_key"]) == (0, 5, 2)
    assert data["unpinned_keys"] == []
    reset = datetime.fromisoformat(data["next_reset"])
    now = datetime.now(ZoneInfo("Europe/Ljubljana"))
    local = reset.astimezone(ZoneInfo("Europe/Ljubljana"))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert now < reset <= now + timedelta(hours=25)

    lines = ok(gregor.cli("budget")).out.splitlines()
    assert lines[0] == f"Budget of gregor-claude today (resets {local:%Y-%m-%d} 00:00 Europe/Ljubljana)"
    assert lines[1] == "  total:  3500 / 500000 tokens"
    assert lines[2] == "  queue:  1 / 20 waiting or queued, 0 working"
    assert lines[3] == (
        "  unpinned senders: 0 / 5 waiting or queued, 2 per key (not counted in the queue above)"
    )
    assert lines[5].split() == [
        "gregor",
        "owner",
        "500",
        "/",
        "unlimited",
        "tier,",
        "unlimited",
        "sender",
        "max;",
        "1/5",
        "this",
        "hour",
    ]
    assert lines[6].split()[:5] == ["tex", "team", "3000", "/", "100000"]


def test_budget_with_no_use(gregor: Any) -> None:
    lines = ok(gregor.cli("budget")).out.splitlines()
    assert lines[-1] == "  no use today"
    assert envelope(gregor.cli("budget", "--json"))["senders"] == []


def test_whoami(gregor: Any) -> None:
    data = envelope(gregor.cli("whoami", "--json"))
    assert data == {
        "name": "gregor",
        "agent": "gregor-claude",
        "public_key": gregor.public_key,
        "space": "0-personal",
    }
    text = ok(gregor.cli("whoami")).out
    assert f"public key: {gregor.public_key}\n" in text
    assert f"datacore-msg contacts add gregor {gregor.public_key} --tier team" in text


def test_contacts_add_list_remove(gregor: Any, tex: Any) -> None:
    path = gregor.root / "0-personal" / "contacts.yaml"
    assert ok(gregor.cli("contacts", "list")).out == "No contacts.\n"
    assert envelope(gregor.cli("contacts", "list", "--json")) == []
    key = tex.public_key
    assert ok(gregor.cli("contacts", "add", "tex", key, "--tier", "team")).out == f"tex: added ({path})\n"
    again = ok(gregor.cli("contacts", "add", "tex", key, "--tier", "team")).out
    assert again == f"tex: already pinned, nothing changed ({path})\n"
    changed = ok(gregor.cli("contacts", "add", "tex", key, "--tier", "trusted")).out
    assert changed == f"tex: tier now trusted ({path})\n"
    listed = envelope(gregor.cli("contacts", "list", "--json"))
    assert [(c["id"], c["tier"], c["public_keys"]) for c in listed] == [("tex", "trusted", [key])]
    assert ok(gregor.cli("contacts", "list")).out == f"{'tex':<20} {'trusted':<8} {key[:16]}…\n"

    # the tier is what the governor applies to tex's next request
    first = send_task(tex, "@gregor-claude", "one")
    carry(tex, gregor)
    assert envelope(gregor.cli("task", "show", first, "--json"))["tier"] == "trusted"
    assert ok(gregor.cli("contacts", "remove", "tex")).out == f"tex: removed ({path})\n"
    gone = gregor.cli("contacts", "remove", "tex")
    assert gone.code == Exit.NOT_FOUND and gone.err.count("\n") == 1
    assert envelope(gregor.cli("contacts", "list", "--json")) == []


def test_contacts_add_rejects_a_bad_key(gregor: Any) -> None:
    result = gregor.cli("contacts", "add", "tex", "not-a-key", "--tier", "team")
    assert result.code == Exit.INVALID_INPUT, result
    assert result.err.startswith(ERROR_PREFIX) and result.err.count("\n") == 1
    bad_tier = gregor.cli("contacts", "add", "tex", "ab" * 32, "--tier", "boss")
    assert bad_tier.code == Exit.USAGE


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def world(gregor: Any) -> dict[str, Any]:
    """gregor's agent with two QUEUED tasks (a, b) and a WORKING one (w), and a message m to tex."""
    a = send_task(gregor, "@claude", "a")
    b = send_task(gregor, "@claude", "b")
    w = send_task(gregor, "@claude", "w")
    ok(gregor.cli("task", "claim", w))
    m = send_task(gregor, "@tex", "hello")  # a message: the same send
    return {"inst": gregor, "a": a, "b": b, "w": w, "m": m}


BAD = [
    # ids
    (("task", "show", "nope"), Exit.NOT_FOUND, "no task of yours matches 'nope'"),
    (("task", "claim", "deadbeef"), Exit.NOT_FOUND, "no task of yours matches 'deadbeef'"),
    (("task", "cancel", "task-20000101-000000-00000000"), Exit.NOT_FOUND, "no task of yours matches"),
    (("task", "claim", "task-"), Exit.AMBIGUOUS, "'task-' matches 3 tasks: "),
    (("task", "show", ""), Exit.INVALID_INPUT, "task id is empty"),
    # send options
    (("send", "@claude", "x", "--tag", "a b"), Exit.INVALID_INPUT, "--tag 'a b': use letters, digits"),
    (("send", "@claude", "x", *[f"--tag=t{n}" for n in range(9)]), Exit.INVALID_INPUT, "at most 8 tags"),
    (("send", "@tex", "x", "--tokens", "5"), Exit.INVALID_INPUT, "apply to tasks for an agent"),
    (("send", "@tex", "x", "--effort", "1"), Exit.INVALID_INPUT, "apply to tasks for an agent"),
    (("send", "@tex", "x", "--tag", "y"), Exit.INVALID_INPUT, "apply to tasks for an agent"),
    (("send", "@claude", "x", "--reply-to", "{m}"), Exit.INVALID_INPUT, "cannot reply to a message"),
    (("send", "@claude", "   "), Exit.INVALID_INPUT, "text is empty"),
    # action options
    (("task", "complete", "{w}"), Exit.INVALID_INPUT, "complete: --tokens N (the tokens the task used)"),
    (
        ("task", "complete", "{w}", "--tokens", "5", "--quality", "abc"),
        Exit.INVALID_INPUT,
        "--quality 'abc' is not a number",
    ),
    (("task", "complete", "{w}", "--tokens", "5", "--quality", "nan"), Exit.INVALID_INPUT, "--quality 'nan'"),
    (("task", "complete", "{w}", "--tokens", "5", "--cost", "-1"), Exit.INVALID_INPUT, "--cost '-1'"),
    (("task", "complete", "{w}", "--tokens", "5", "--cost", "1e12"), Exit.INVALID_INPUT, "--cost '1e12'"),
    (("task", "complete", "{w}", "--tokens", "5", "--result", " "), Exit.INVALID_INPUT, "--result"),
    (("task", "complete", "{w}", "--tokens", "100000001"), Exit.INVALID_INPUT, "--tokens 100000001"),
    (("task", "claim", "{a}", "--reason", "x"), Exit.INVALID_INPUT, "claim: --reason is not used"),
    (("task", "approve", "{a}", "--tokens", "3"), Exit.INVALID_INPUT, "go with 'complete' only"),
    (("task", "cancel", "{a}", "--reason", ""), Exit.INVALID_INPUT, "--reason is empty"),
    # wrong state
    (("task", "claim", "{w}"), Exit.TRANSITION, "claim: expected state QUEUED, got WORKING"),
    (("task", "approve", "{a}"), Exit.TRANSITION, "approve: expected state WAITING, got QUEUED"),
    (
        ("task", "complete", "{a}", "--tokens", "1"),
        Exit.TRANSITION,
        "complete: expected state WORKING, got QUEUED",
    ),
    (("task", "archive", "{w}"), Exit.TRANSITION, "archive: expected state DONE, got WORKING"),
    (("task", "revise", "{a}", "--reason", "x"), Exit.TRANSITION, "revise: expected state DONE, got QUEUED"),
    (("task", "reject", "{w}"), Exit.TRANSITION, "reject: expected state WAITING, got WORKING"),
    (("task", "retry", "{b}"), Exit.TRANSITION, "retry: expected state WORKING, got QUEUED"),
]

USAGE = [
    (("send", "@claude", "x", "--effort", "0"), "--effort"),
    (("send", "@claude", "x", "--effort", "101"), "--effort"),
    (("send", "@claude", "x", "--tokens", "0"), "--tokens"),
    (("send", "@claude", "x", "--tokens", "100000001"), "--tokens"),
    (("send", "@claude", "x", "--effort", "99999999999"), "--effort"),
    (("send", "@claude", "x", "--effort", "-1"), "--effort"),
    (("send", "@claude", "x", "--tokens", "-1"), "--tokens"),
    (("send", "@claude", "x", "--priority", "Z"), "--priority"),
    (("tasks", "--state", "bogus"), "--state"),
    (("task", "frobnicate", "{a}"), "frobnicate"),
    (("task", "complete", "{w}", "--tokens", "many"), "--tokens"),
    (("task", "claim"), "TASK_ID"),
]


def fill(world: dict[str, Any], args: tuple[str, ...]) -> list[str]:
    out = []
    for arg in args:
        filled = arg
        for name in ("a", "b", "w", "m"):
            filled = filled.replace("{" + name + "}", world[name])
        out.append(filled)
    return out


def _row_id(row: tuple[Any, ...]) -> str:
    return " ".join(row[0])[:60]


@pytest.mark.parametrize(("args", "code", "needle"), BAD, ids=[_row_id(r) for r in BAD])
def test_bad_input_is_one_line_and_stores_nothing(
    world: dict[str, Any], args: tuple[str, ...], code: Exit, needle: str
) -> None:
    inst = world["inst"]
    before = count(inst)
    tasks_before = envelope(inst.cli("tasks", "--all", "--json"))
    result = inst.cli(*fill(world, args))
    assert result.code == code, result
    assert result.out == ""
    assert result.err.startswith(ERROR_PREFIX) and result.err.endswith("\n"), result.err
    assert result.err.count("\n") == 1, result.err
    assert needle in result.err, result.err
    assert count(inst) == before
    assert envelope(inst.cli("tasks", "--all", "--json")) == tasks_before

    as_json = inst.cli(*fill(world, args), "--json")
    assert as_json.code == code and as_json.err == ""
    error = json.loads(as_json.out)
    assert error["version"] == 1 and error["ok"] is False
    assert needle in error["error"]["message"]
    assert count(inst) == before


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"effort": 0}, "--effort 0: must be from 1 to 100"),
        ({"effort": 101}, "--effort 101"),
        ({"tokens": 0}, "--tokens 0: must be from 1 to"),
        ({"tokens": 100_000_001}, "--tokens 100000001"),
        ({"priority": "D"}, "priority 'D'"),
        ({"tags": ["a:b"]}, "--tag 'a:b'"),
    ],
)
def test_the_library_checks_what_the_cli_options_check(
    gregor: Any, options: dict[str, Any], needle: str
) -> None:
    """Callers of ``app.tasks.request`` other than the CLI get the same limits (exit 3 in the CLI)."""
    before = count(gregor)
    with gregor.space() as space, pytest.raises(InvalidInput) as raised:
        tasks.request(space, "gregor-claude", "x", **options)
    assert needle in str(raised.value)
    assert count(gregor) == before


@pytest.mark.parametrize(("args", "needle"), USAGE, ids=[_row_id(r) for r in USAGE])
def test_usage_errors_exit_2(world: dict[str, Any], args: tuple[str, ...], needle: str) -> None:
    inst = world["inst"]
    before = count(inst)
    result = inst.cli(*fill(world, args))
    assert result.code == Exit.USAGE, result
    assert result.out == "" and "Traceback" not in result.err
    assert "Error:" in result.err and needle in result.err, result.err
    assert count(inst) == before


# -- prefixes among many tasks ------------------------------------------------------------------


def test_a_prefix_finds_your_task_among_many_of_other_peoples(gregor: Any, tex: Any) -> None:
    """tex's 55 requests to mia's agent reached gregor's log (a full export); gregor's one task was
    requested a few seconds later, so its id sorts after all of them."""
    start = 1_736_935_200_000  # 2025-01-15 10:00 UTC
    with tex.space(clock=lambda: start) as space:
        for n in range(55):
            tasks.request(space, "mia-claude", f"for mia {n}")
        lines = [line.encode("utf-8") for line in exchange.export_lines(space)]
    with gregor.space(clock=lambda: start + 5000) as space:
        exchange.import_events(space, lines)
        mine = tasks.request(space, "gregor-claude", "mine").task_id
    assert ids(gregor, "--sent") == [mine]
    result = gregor.cli("task", "show", "task-20250115-", "--json")
    assert result.code == 0, result
    assert json.loads(result.out)["data"]["id"] == mine


# -- values only the payload's validators catch ---------------------------------------------------


def test_an_oversized_result_path_is_one_short_line_not_a_traceback(gregor: Any) -> None:
    result = gregor.cli("send", "@claude", "x", "--json")
    task_id = json.loads(result.out)["data"]["id"]
    assert gregor.cli("task", "claim", task_id).code == 0
    before = count(gregor)
    result = gregor.cli("task", "complete", task_id, "--tokens", "1", "--result", "a" * 5000)
    assert result.code == Exit.INVALID_INPUT
    assert result.err.startswith("datacore-msg: error: --result 'aaa")
    assert len(result.err) < 300 and result.err.count("\n") == 1
    assert count(gregor) == before


def test_an_own_agent_name_over_the_length_limit_is_a_clear_error(make_installation: Any) -> None:
    long_name = make_installation("a" * 60)
    result = long_name.cli("send", "@claude", "hi")
    assert result.code == Exit.INVALID_INPUT
    assert "is not an agent name" in result.err
    assert result.err.count("\n") == 1
    assert count(long_name) == 0
