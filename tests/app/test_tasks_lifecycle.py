"""The agent task life cycle through the real CLI on real installations: every (state, action) pair,
who may act on whose installation, what ``complete``/``revise``/``retry`` record, the agent view
(``agents/<user>-claude.org``) and its archive, and hostile task text that must never change the
view's structure."""

from __future__ import annotations

import json
import re
from typing import Any

import orgparse
import pytest

from datacore_msg.eventlog.payloads import TaskClaimed, TaskDecided
from datacore_msg.projections.orgtext import decode_body, safe_title
from datacore_msg.projections.render import ARCHIVE_HEADER, FILE_HEADER

AGENT_VIEW = "agents/gregor-claude.org"

ACTIONS = ("approve", "reject", "cancel", "claim", "complete", "retry", "revise", "archive")
STATES = ("WAITING", "QUEUED", "WORKING", "DONE", "CANCELLED", "ARCHIVED")

#: The allowed moves (REFERENCE.md "Task life cycle"), with two deliberate extensions of the code's
#: RULES: ``cancel`` also withdraws a WAITING task (the owner, or the sender before approval), and the
#: owner (or the agent, on a timeout) may cancel a WORKING task.
ALLOWED: dict[tuple[str, str], str] = {
    ("WAITING", "approve"): "QUEUED",
    ("WAITING", "reject"): "CANCELLED",
    ("WAITING", "cancel"): "CANCELLED",
    ("QUEUED", "cancel"): "CANCELLED",
    ("QUEUED", "claim"): "WORKING",
    ("WORKING", "complete"): "DONE",
    ("WORKING", "retry"): "QUEUED",
    ("WORKING", "cancel"): "CANCELLED",
    ("DONE", "revise"): "QUEUED",
    ("DONE", "archive"): "ARCHIVED",
}
#: The "expected state" each action names when it is refused (REQUESTED is the state a request has
#: on the sender's installation until the owner's decision arrives).
EXPECTED = {
    "approve": "WAITING",
    "reject": "WAITING",
    "cancel": "REQUESTED or WAITING or QUEUED or WORKING",
    "claim": "QUEUED",
    "complete": "WORKING",
    "retry": "WORKING",
    "revise": "DONE",
    "archive": "DONE",
}
#: Options each action is given in the table (the ones it needs, or a reason where it takes one).
ACTION_ARGS = {
    "approve": ("--reason", "fine"),
    "reject": ("--reason", "not now"),
    "cancel": ("--reason", "changed my mind"),
    "claim": (),
    "complete": ("--tokens", "1200"),
    "retry": ("--reason", "flaky"),
    "revise": ("--reason", "more detail"),
    "archive": (),
}


# -- helpers -----------------------------------------------------------------------------------


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def send_task(inst: Any, to: str, text: str, *extra: str) -> str:
    data = json.loads(ok(inst.cli("send", to, text, "--json", *extra)).out)["data"]
    return str(data["id"])


def act(inst: Any, action: str, task: str, *extra: str) -> Any:
    return inst.cli("task", action, task, *extra)


def show(inst: Any, task: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(inst.cli("task", "show", task, "--json")).out)["data"]
    return data


def state_of(inst: Any, task: str) -> str:
    return str(show(inst, task)["state"])


def event_count(inst: Any) -> int:
    with inst.space() as space:
        return space.store.count()


def events(inst: Any, type_name: str | None = None) -> list[dict[str, Any]]:
    args = ("log", "--json") if type_name is None else ("log", "--type", type_name, "--json")
    data: list[dict[str, Any]] = json.loads(ok(inst.cli(*args)).out)["data"]
    return data


def carry(src: Any, dst: Any) -> None:
    exported = ok(src.cli("export", "-"))
    ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def assert_views_match(inst: Any) -> None:
    check = inst.cli("rebuild", "--check")
    assert check.code == 0 and check.out.strip() == "Views match the log.", check


def bring_to(gregor: Any, tex: Any, state: str) -> str:
    """A task for gregor-claude in ``state`` on gregor's installation (WAITING: from tex, whose key
    gregor has not pinned, so the governor holds it for approval)."""
    if state == "WAITING":
        task = send_task(tex, "@gregor-claude", "a request from tex")
        carry(tex, gregor)
        assert state_of(gregor, task) == "WAITING"
        return task
    task = send_task(gregor, "@claude", f"a task to bring to {state}")
    steps = {
        "QUEUED": [],
        "WORKING": [("claim",)],
        "DONE": [("claim",), ("complete", "--tokens", "10")],
        "CANCELLED": [("cancel", "--reason", "to close it")],
        "ARCHIVED": [("claim",), ("complete", "--tokens", "10"), ("archive",)],
    }[state]
    for action, *extra in steps:
        ok(act(gregor, action, task, *extra))
    assert state_of(gregor, task) == state
    return task


# -- every (state, action) pair -----------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_state_and_action(gregor: Any, tex: Any, state: str, action: str) -> None:
    task = bring_to(gregor, tex, state)
    before = event_count(gregor)
    agent_view_before = gregor.read(AGENT_VIEW)
    result = act(gregor, action, task, *ACTION_ARGS[action])
    target = ALLOWED.get((state, action))
    if target is not None:
        assert result.code == 0, result
        assert result.out == f"{action.capitalize()}: {task} is now {target}\n"
        assert state_of(gregor, task) == target
        assert event_count(gregor) == before + 1
        last = events(gregor)[-1]
        assert last["type"] == f"task.{_event_name(action)}"
        assert last["data"]["task"] == task
        # the agent's actions are the agent's, the others the owner's
        assert last["actor"] == ("gregor-claude" if action in ("claim", "complete", "retry") else "gregor")
    else:
        assert result.code == 6, result
        assert result.out == ""
        assert result.err == (
            f"datacore-msg: error: {action}: expected state {EXPECTED[action]}, got {state}\n"
        )
        assert state_of(gregor, task) == state
        assert event_count(gregor) == before
        assert gregor.read(AGENT_VIEW) == agent_view_before
    assert_views_match(gregor)


def _event_name(action: str) -> str:
    return {
        "approve": "approved",
        "reject": "rejected",
        "cancel": "cancelled",
        "claim": "claimed",
        "complete": "completed",
        "retry": "retried",
        "revise": "revised",
        "archive": "archived",
    }[action]


def test_the_table_covers_every_final_state_as_final() -> None:
    for final in ("CANCELLED", "ARCHIVED"):
        assert not [action for action in ACTIONS if (final, action) in ALLOWED]


def test_json_error_for_a_refused_transition(gregor: Any) -> None:
    task = send_task(gregor, "@claude", "x")
    result = act(gregor, "archive", task, "--json")
    assert result.code == 6 and result.err == ""
    assert json.loads(result.out) == {
        "version": 1,
        "ok": False,
        "error": {"code": "transition", "message": "archive: expected state DONE, got QUEUED"},
    }


# -- who may -----------------------------------------------------------------------------------


def test_sender_cancels_his_queued_task_on_his_own_installation(
    gregor: Any, tex: Any, introduce: Any
) -> None:
    introduce(gregor, tex)  # both pin each other: tex is team for gregor (auto-accepted)
    task = send_task(tex, "@gregor-claude", "please summarise the notes")
    assert state_of(tex, task) == "REQUESTED"  # only gregor's governor decides
    carry(tex, gregor)
    assert state_of(gregor, task) == "QUEUED"
    carry(gregor, tex)
    assert state_of(tex, task) == "QUEUED"
    assert show(tex, task)["tier"] == "team"

    moved = act(tex, "cancel", task, "--reason", "no longer needed", "--json")
    assert moved.code == 0, moved
    assert json.loads(moved.out)["data"]["state"] == "CANCELLED"
    assert events(tex, "task.cancelled")[-1]["actor"] == "tex"
    carry(tex, gregor)
    data = show(gregor, task)
    assert data["state"] == "CANCELLED"
    assert data["cancellation_reason"] == "no longer needed"
    assert data["history"][-1]["actor"] == "tex" and data["history"][-1]["superseded"] is None
    # the closed task left gregor's live agent view for the archive
    assert task not in gregor.read(AGENT_VIEW)
    archived = [p for p in (gregor.views / "archive").glob("agents-gregor-claude-*.org_archive")]
    assert len(archived) == 1 and task in archived[0].read_text(encoding="utf-8")
    assert "    tex (cancel): no longer needed" in archived[0].read_text(encoding="utf-8")
    assert_views_match(gregor)
    assert_views_match(tex)


def test_sender_may_not_act_for_the_owner_or_the_agent(gregor: Any, tex: Any) -> None:
    gregor.pin(tex, "trusted")  # trusted: held for approval
    tex.pin(gregor, "team")
    task = send_task(tex, "@gregor-claude", "a trusted request")
    carry(tex, gregor)
    assert state_of(gregor, task) == "WAITING"

    def refused(action: str, state: str, who: str, *extra: str) -> None:
        carry(gregor, tex)
        assert state_of(tex, task) == state
        before = event_count(tex)
        result = act(tex, action, task, *extra)
        assert result.code == 6, result
        assert result.err == (
            f"datacore-msg: error: {action}: only {who} may {action} task {task} in state {state}\n"
        )
        assert event_count(tex) == before

    refused("approve", "WAITING", "the owner")
    refused("reject", "WAITING", "the owner", "--reason", "no")
    ok(act(gregor, "approve", task))
    refused("claim", "QUEUED", "the agent")
    ok(act(gregor, "claim", task))
    refused("complete", "WORKING", "the agent", "--tokens", "5")
    refused("retry", "WORKING", "the agent")
    # once work has started, the sender can no longer withdraw it
    refused("cancel", "WORKING", "the agent or the owner", "--reason", "stop")
    ok(act(gregor, "complete", task, "--tokens", "5"))
    refused("archive", "DONE", "the owner")
    refused("revise", "DONE", "the owner", "--reason", "again")
    assert state_of(gregor, task) == "DONE"


def test_sender_withdraws_a_waiting_task(gregor: Any, tex: Any) -> None:
    tex.pin(gregor, "team")  # gregor has not pinned tex: unknown, held
    task = send_task(tex, "@gregor-claude", "maybe")
    carry(tex, gregor)
    carry(gregor, tex)
    assert state_of(tex, task) == "WAITING"
    ok(act(tex, "cancel", task, "--reason", "never mind"))
    carry(tex, gregor)
    assert state_of(gregor, task) == "CANCELLED"
    assert show(gregor, task)["cancellation_reason"] == "never mind"


def test_owner_and_agent_act_from_one_installation(gregor: Any, tex: Any) -> None:
    """On the owner's installation the user is both roles: the owner's actions are written as
    ``gregor``, the agent's as ``gregor-claude``, both signed by gregor's key; and the owner may cancel
    a sender's task even while it is WORKING."""
    task = send_task(tex, "@gregor-claude", "from an unknown sender")
    carry(tex, gregor)
    ok(act(gregor, "approve", task))
    ok(act(gregor, "claim", task))
    ok(act(gregor, "cancel", task, "--reason", "taking too long"))
    assert state_of(gregor, task) == "CANCELLED"
    log = [e for e in events(gregor) if e["type"] in ("task.approved", "task.claimed", "task.cancelled")]
    assert [(e["type"], e["actor"]) for e in log] == [
        ("task.approved", "gregor"),
        ("task.claimed", "gregor-claude"),
        ("task.cancelled", "gregor"),
    ]
    assert len({e["origin"] for e in log}) == 1
    assert log[0]["origin"] == gregor.public_key


def test_the_agents_name_signed_by_another_key_acts_as_nobody(gregor: Any, tex: Any, introduce: Any) -> None:
    """tex's installation writes a claim as ``gregor-claude``: gregor keeps it, but it does not count
    (the LOGBOOK shows it superseded), and the real agent can still claim."""
    introduce(gregor, tex)
    task = send_task(tex, "@gregor-claude", "x")
    carry(tex, gregor)
    carry(gregor, tex)
    with tex.space() as space:
        space.store.append(space.signing_key(), "gregor-claude", TaskClaimed(task=task), space.clock())
    carry(tex, gregor)
    data = show(gregor, task)
    assert data["state"] == "QUEUED"
    assert data["history"][-1]["superseded"] == (
        f"claim: only the agent may claim task {task} in state QUEUED"
    )
    assert "  - Superseded claim by gregor-claude" in gregor.read(AGENT_VIEW)
    ok(act(gregor, "claim", task))
    assert state_of(gregor, task) == "WORKING"
    assert_views_match(gregor)


def test_a_request_withdrawn_before_the_decision_is_never_decided(gregor: Any, tex: Any) -> None:
    tex.pin(gregor, "team")
    task = send_task(tex, "@gregor-claude", "oops")
    ok(act(tex, "cancel", task, "--reason", "sent too early"))
    assert state_of(tex, task) == "CANCELLED"
    carry(tex, gregor)
    data = show(gregor, task)
    assert (data["state"], data["decision"], data["cancellation_reason"]) == (
        "CANCELLED",
        None,
        "sent too early",
    )
    assert events(gregor, "task.decided") == []
    assert_views_match(gregor)


def test_a_decision_signed_by_another_key_does_not_count(gregor: Any, tex: Any) -> None:
    """tex writes a ``task.decided`` accepting his own request as ``gregor-claude``: gregor's fold
    supersedes it and gregor's governor decides (holds) the request as usual."""
    task = send_task(tex, "@gregor-claude", "let me in")
    with tex.space() as space:
        forged = TaskDecided(task=task, outcome="accepted", rule="auto_accept", reason="sure", tier="owner")
        space.store.append(space.signing_key(), "gregor-claude", forged, space.clock())
    carry(tex, gregor)
    data = show(gregor, task)
    assert (data["state"], data["tier"]) == ("WAITING", "unknown")
    superseded = [h for h in data["history"] if h["superseded"] is not None]
    assert [(h["action"], h["superseded"]) for h in superseded] == [
        ("decide", "only the agent's owner decides its requests")
    ]
    assert len(events(gregor, "task.decided")) == 2
    assert_views_match(gregor)


def test_a_stranger_cannot_see_or_touch_the_task(gregor: Any, tex: Any, make_installation: Any) -> None:
    mia = make_installation("mia")
    task = send_task(gregor, "@claude", "private")
    carry(gregor, mia)
    before = event_count(mia)
    result = act(mia, "cancel", task)
    assert result.code == 4, result
    assert result.err.startswith("datacore-msg: error: no task of yours matches")
    assert event_count(mia) == before


# -- what the actions record -------------------------------------------------------------------


def test_complete_records_tokens_cost_result_and_quality(gregor: Any) -> None:
    task = send_task(gregor, "@claude", "write the report", "--tokens", "4200", "--effort", "3")
    ok(act(gregor, "claim", task))
    ok(act(gregor, "complete", task, "--tokens", "4200", "--result", "out/report.md", "--quality", "0.9"))
    data = show(gregor, task)
    assert data["tokens_used"] == 4200
    assert data["cost"] == "0.06"  # not given: $0.015 per 1K tokens, 4200 -> 0.063 -> 0.06
    assert data["result"] == "out/report.md"
    assert data["quality"] == "0.90"
    node = entries(gregor)[task]
    assert str(node.properties["TOKENS_USED"]) == "4200"
    assert str(node.properties["COST"]) == "0.06"  # 4200 x $0.015/1K = 0.063
    assert str(node.properties["ESTIMATED_COST"]) == "0.06"
    assert node.properties["RESULT_PATH"] == "out/report.md"
    assert str(node.properties["QUALITY_SCORE"]) == "0.90"
    assert str(node.properties["EFFORT"]) == "3"


@pytest.mark.parametrize(
    ("tokens", "cost", "quality", "shown_cost", "shown_quality"),
    [
        ("1000", None, "1", "0.02", "1.00"),  # 0.015 rounds half up
        ("333", None, "0.905", "0.00", "0.91"),
        ("0", "1.5", "0.004", "1.50", "0.00"),
        ("100000", "12.345", "99", "12.35", "99.00"),
    ],
)
def test_cost_and_quality_have_two_decimals(
    gregor: Any, tokens: str, cost: str | None, quality: str, shown_cost: str, shown_quality: str
) -> None:
    task = send_task(gregor, "@claude", "x")
    ok(act(gregor, "claim", task))
    extra = ("--cost", cost) if cost is not None else ()
    ok(act(gregor, "complete", task, "--tokens", tokens, "--quality", quality, *extra))
    text = gregor.read(AGENT_VIEW)
    assert re.search(rf"^  :COST:\s+{re.escape(shown_cost)}$", text, re.M), text
    assert re.search(rf"^  :QUALITY_SCORE: {re.escape(shown_quality)}$", text, re.M), text


def test_revise_requeues_with_feedback_and_retry_counts(gregor: Any) -> None:
    task = send_task(gregor, "@claude", "draft the plan")
    ok(act(gregor, "claim", task))
    ok(act(gregor, "retry", task, "--reason", "lost the context"))
    data = show(gregor, task)
    assert (data["state"], data["retry_count"], data["retry_reason"]) == ("QUEUED", 1, "lost the context")
    ok(act(gregor, "claim", task))
    ok(act(gregor, "retry", task, "--reason", "again"))
    assert show(gregor, task)["retry_count"] == 2
    ok(act(gregor, "claim", task))
    ok(act(gregor, "complete", task, "--tokens", "100"))
    ok(act(gregor, "revise", task, "--reason", "add the costs"))
    data = show(gregor, task)
    assert (data["state"], data["revision_feedback"]) == ("QUEUED", "add the costs")
    node = entries(gregor)[task]
    assert node.todo == "QUEUED"
    assert node.properties["REVISION_FEEDBACK"] == "add the costs"
    assert str(node.properties["RETRY_COUNT"]) == "2"
    assert node.properties["RETRY_REASON"] == "again"
    ok(act(gregor, "claim", task))
    ok(act(gregor, "complete", task, "--tokens", "300"))
    data = show(gregor, task)
    assert (data["state"], data["tokens_used"]) == ("DONE", 300)
    assert [h["action"] for h in data["history"]] == [
        "decide",
        "claim",
        "retry",
        "claim",
        "retry",
        "claim",
        "complete",
        "revise",
        "claim",
        "complete",
    ]


def test_reject_records_the_reason(gregor: Any, tex: Any) -> None:
    task = send_task(tex, "@gregor-claude", "can you?")
    carry(tex, gregor)
    ok(act(gregor, "reject", task, "--reason", "out of scope"))
    data = show(gregor, task)
    assert (data["state"], data["approval"], data["rejection_reason"]) == (
        "CANCELLED",
        "rejected",
        "out of scope",
    )


# -- the agent view ----------------------------------------------------------------------------


def entries(inst: Any, name: str = AGENT_VIEW) -> dict[str, Any]:
    root = orgparse.loads(inst.read(name))
    return {node.properties["ID"]: node for node in root[1:]}


def entry_lines(text: str, task: str) -> list[str]:
    """The lines of one entry (from its heading to the next heading) of a view file's text."""
    lines = text.split("\n")[:-1]
    starts = [i for i, line in enumerate(lines) if line.startswith("* ")]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        if f"  :ID:       {task}" in lines[start:end]:
            return lines[start:end]
    raise AssertionError(f"{task} not in the file")


def split_entry(lines: list[str]) -> tuple[str, list[str], dict[str, str], list[str], list[str]]:
    """(heading, planning lines, properties, logbook lines, body lines) of one rendered entry."""
    heading, rest = lines[0], lines[1:]
    planning = []
    while rest and rest[0].startswith("  CLOSED: "):
        planning.append(rest.pop(0))
    assert rest.pop(0) == "  :PROPERTIES:"
    props: dict[str, str] = {}
    while rest[0] != "  :END:":
        match = re.fullmatch(r"  :([A-Z_]+):\s+(\S.*)", rest.pop(0))
        assert match, lines
        props[match.group(1)] = match.group(2)
    rest.pop(0)
    logbook: list[str] = []
    if rest and rest[0] == "  :LOGBOOK:":
        rest.pop(0)
        while rest[0] != "  :END:":
            logbook.append(rest.pop(0))
        rest.pop(0)
    return heading, planning, props, logbook, rest


def test_agent_view_follows_the_whole_life_cycle(gregor: Any, tex: Any) -> None:
    """Keyword, REFERENCE.md properties in order, LOGBOOK lines; closed tasks move to the archive
    with CLOSED:; ``rebuild --check`` is clean after every step."""
    gregor.pin(tex, "trusted")
    task = send_task(
        tex,
        "@gregor-claude",
        "Plan the offsite",
        "--tag",
        "ops",
        "--tokens",
        "2000",
        "--effort",
        "2",
        "--priority",
        "B",
    )
    carry(tex, gregor)
    assert_views_match(gregor)

    def entry() -> tuple[str, list[str], dict[str, str], list[str], list[str]]:
        return split_entry(entry_lines(gregor.read(AGENT_VIEW), task))

    heading, planning, props, logbook, body = entry()
    assert heading == "* WAITING [#B] Plan the offsite :ops:"
    assert planning == []
    assert list(props) == [
        "ID",
        "FROM",
        "TRUST_TIER",
        "SUBMITTED",
        "AWAITING",
        "EFFORT",
        "ESTIMATED_TOKENS",
        "ESTIMATED_COST",
        "CREATED",
    ]
    assert props["ID"] == task and props["FROM"] == "tex" and props["TRUST_TIER"] == "trusted"
    assert props["AWAITING"] == "owner-approval"
    assert (props["EFFORT"], props["ESTIMATED_TOKENS"], props["ESTIMATED_COST"]) == ("2", "2000", "0.03")
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d [A-Z][a-z]{2} \d\d:\d\d\]", props["SUBMITTED"])
    assert props["CREATED"] == props["SUBMITTED"]
    assert logbook[0].startswith('  - State "WAITING"    from "REQUESTED"  [')
    assert logbook[1] == "    gregor-claude (decide): Awaiting owner approval (tier trusted)"
    assert body == ["  Plan the offsite"]

    ok(act(gregor, "approve", task, "--reason", "go ahead"))
    assert_views_match(gregor)
    heading, _, props, logbook, _ = entry()
    assert heading.startswith("* QUEUED ")
    assert props["APPROVAL"] == "approved" and "AWAITING" not in props
    assert logbook[-1] == "    gregor (approve): go ahead"

    ok(act(gregor, "claim", task))
    assert_views_match(gregor)
    heading, _, props, logbook, _ = entry()
    assert heading.startswith("* WORKING ") and "STARTED" in props
    assert logbook[-1] == "    gregor-claude (claim)"

    ok(act(gregor, "retry", task, "--reason", "ran out of context"))
    assert_views_match(gregor)
    _, _, props, logbook, _ = entry()
    assert (props["RETRY_COUNT"], props["RETRY_REASON"]) == ("1", "ran out of context")
    ok(act(gregor, "claim", task))
    ok(act(gregor, "complete", task, "--tokens", "4200", "--result", "notes/offsite.org", "--quality", "0.9"))
    assert_views_match(gregor)
    heading, _, props, logbook, _ = entry()
    assert heading.startswith("* DONE ")
    assert list(props)[-9:] == [
        "CREATED",
        "STARTED",
        "COMPLETED",
        "TOKENS_USED",
        "COST",
        "RESULT_PATH",
        "QUALITY_SCORE",
        "RETRY_COUNT",
        "RETRY_REASON",
    ]
    assert (props["TOKENS_USED"], props["COST"], props["RESULT_PATH"], props["QUALITY_SCORE"]) == (
        "4200",
        "0.06",
        "notes/offsite.org",
        "0.90",
    )
    ok(act(gregor, "revise", task, "--reason", "add the budget"))
    _, _, props, _, _ = entry()
    assert props["REVISION_FEEDBACK"] == "add the budget"
    _archive_and_check(gregor, task)


def _archive_and_check(gregor: Any, task: str) -> None:
    ok(act(gregor, "claim", task))
    ok(act(gregor, "complete", task, "--tokens", "100"))
    ok(act(gregor, "archive", task))
    assert_views_match(gregor)

    assert task not in gregor.read(AGENT_VIEW)
    assert gregor.read(AGENT_VIEW) == FILE_HEADER
    closed = show(gregor, task)["closed"]
    name = f"archive/agents-gregor-claude-{closed[:7]}.org_archive"
    text = gregor.read(name)
    assert text.startswith(ARCHIVE_HEADER)
    heading, planning, props, logbook, _ = split_entry(entry_lines(text, task))
    assert heading == "* ARCHIVED [#B] Plan the offsite :ops:"
    assert (props["ID"], props["APPROVAL"], props["TOKENS_USED"]) == (task, "approved", "100")
    assert len(planning) == 1 and re.fullmatch(r"  CLOSED: \[[^]]+\]", planning[0])
    states = [line.split('"')[1] for line in logbook if line.startswith("  - State ")]
    assert states == [
        "WAITING",
        "QUEUED",
        "WORKING",
        "QUEUED",
        "WORKING",
        "DONE",
        "QUEUED",
        "WORKING",
        "DONE",
        "ARCHIVED",
    ]
    assert [n.todo for n in orgparse.loads(text)[1:]] == ["ARCHIVED"]


def test_a_cancelled_task_is_archived_with_closed(gregor: Any) -> None:
    keep = send_task(gregor, "@claude", "keep me")
    drop = send_task(gregor, "@claude", "drop me")
    ok(act(gregor, "cancel", drop, "--reason", "duplicate"))
    assert list(entries(gregor)) == [keep]
    closed = show(gregor, drop)["closed"]
    name = f"archive/agents-gregor-claude-{closed[:7]}.org_archive"
    node = entries(gregor, name)[drop]
    assert node.todo == "CANCELLED"
    assert node.closed.start is not None
    assert node.properties["CANCELLATION_REASON"] == "duplicate"
    assert_views_match(gregor)


# -- hostile text ------------------------------------------------------------------------------


def _big_text() -> str:
    chunk = '* heading? :tag:\n:END:\n#+TODO: A | B\n  CLOSED: [2026-01-01 Thu]\n- State "DONE" x\n'
    text = (chunk * (65536 // len(chunk) + 1)).encode("utf-8")[:65536].decode("utf-8")
    assert len(text.encode("utf-8")) == 65536
    return text


HOSTILE = {
    "newlines": "first line\nsecond line\n\nfourth",
    "leading star": "* not a heading\n** nor this",
    "tag suffix": "ship it :urgent:",
    "tags anywhere": "word:tag: and :more:tags:",
    "end line": "summary\n:END:\n:PROPERTIES:\n:ID: task-forged\n:END:",
    "todo line": "#+TODO: HACKED | GONE\nthen text",
    "keyword start": "DONE already [#A]",
    "priority cookie": "[#A] urgent",
    "planning": "CLOSED: [2026-01-01 Thu 10:00]\nSCHEDULED: <2026-01-02>",
    "state note": '- State "DONE"       from "TODO"',
    "local variables": 'Local Variables:\neval: (shell-command "id")\nEnd:',
    "controls": "carriage\rreturn\x0cform\x1cfeed\u2028sep\x85nel",
    "leading comma": ",comma\n\\backslash\\",
    "trailing newline": "ends with newline\n",
    "only structure": "*\n:\n#\n",
    "64 KiB": _big_text(),
}


def test_hostile_task_text_never_changes_the_view_structure(gregor: Any) -> None:
    tasks: dict[str, str] = {}
    for label, text in HOSTILE.items():
        result = gregor.cli("send", "@claude", "-", "--json", "--tag", "t1", stdin=text.encode("utf-8"))
        assert result.code == 0, (label, result)
        tasks[json.loads(result.out)["data"]["id"]] = text
    for n, task in enumerate(tasks):  # and in every state the view can show
        if n % 3 == 1:
            ok(act(gregor, "claim", task))
        elif n % 3 == 2:
            ok(act(gregor, "claim", task))
            ok(act(gregor, "complete", task, "--tokens", "1"))
    assert_views_match(gregor)

    view = gregor.read(AGENT_VIEW)
    root = orgparse.loads(view)
    nodes = list(root[1:])
    assert len(nodes) == len(tasks)
    assert [node.properties["ID"] for node in nodes] == list(tasks)
    assert sum(1 for line in view.split("\n") if line.startswith("*")) == len(tasks)
    assert [line for line in view.split("\n") if line.startswith("#+")] == [FILE_HEADER.strip()]
    for node in nodes:
        task = node.properties["ID"]
        text = tasks[task]
        assert node.level == 1
        assert node.todo in ("QUEUED", "WORKING", "DONE")
        assert node.heading == safe_title(text), task
        assert node.shallow_tags == {"t1"}
        assert node.priority is None
        assert list(node.children) == []
        assert node.properties["FROM"] == "gregor"
        assert node.properties["TRUST_TIER"] == "owner"
        assert node.properties["APPROVAL"] == "auto_accepted"
        heading, planning, props, logbook, body = split_entry(entry_lines(view, task))
        assert heading == f"* {node.todo} {safe_title(text)} :t1:"
        assert planning == []
        assert props["ID"] == task
        assert all(line.startswith(("  - State ", "    gregor")) for line in logbook)
        assert decode_body(body) == text, task
        assert show(gregor, task)["text"] == text
    # no body line can close a drawer: only the PROPERTIES and LOGBOOK drawers of each entry do
    assert sum(1 for line in view.split("\n") if line.strip().upper() == ":END:") == 2 * len(tasks)


def test_text_over_64_kib_is_refused(gregor: Any) -> None:
    before = event_count(gregor)
    result = gregor.cli("send", "@claude", "-", stdin=b"x" * 65537)
    assert result.code == 3, result
    # standard input is read only up to the limit + 1 byte (issue 10: bounded reads), so its size is not known
    assert result.err == "datacore-msg: error: standard input is over the limit of 65536 bytes for a text\n"
    assert event_count(gregor) == before


HOSTILE_REASON = "first\n:END:\n* fake heading :x:\n#+TODO: A | B\n:PROPERTIES:\n:ID: task-forged"


def test_hostile_reasons_and_paths_never_change_the_view_structure(gregor: Any, tex: Any) -> None:
    rejected = send_task(tex, "@gregor-claude", "tex asks")
    carry(tex, gregor)
    ok(act(gregor, "reject", rejected, "--reason", HOSTILE_REASON))
    worked = send_task(gregor, "@claude", "mine")
    ok(act(gregor, "claim", worked))
    ok(act(gregor, "retry", worked, "--reason", HOSTILE_REASON))
    ok(act(gregor, "claim", worked))
    ok(act(gregor, "complete", worked, "--tokens", "1", "--result", "out/:END: * x :tag:"))
    ok(act(gregor, "revise", worked, "--reason", HOSTILE_REASON))
    cancelled = send_task(gregor, "@claude", "cancel me")
    ok(act(gregor, "cancel", cancelled, "--reason", HOSTILE_REASON))
    assert_views_match(gregor)
    assert show(gregor, worked)["revision_feedback"] == HOSTILE_REASON  # the exact text is kept
    assert show(gregor, rejected)["rejection_reason"] == HOSTILE_REASON

    files = [AGENT_VIEW] + [f"archive/{p.name}" for p in (gregor.views / "archive").glob("*.org_archive")]
    found: dict[str, Any] = {}
    for name in files:
        text = gregor.read(name)
        nodes = list(orgparse.loads(text)[1:])
        assert sum(1 for line in text.split("\n") if line.startswith("*")) == len(nodes)
        assert sum(1 for line in text.split("\n") if line.startswith("#+")) == 1
        assert sum(1 for line in text.split("\n") if line.strip().upper() == ":END:") == 2 * len(nodes)
        for node in nodes:
            found[node.properties["ID"]] = node
            assert list(node.children) == []
            _, _, props, logbook, body = split_entry(entry_lines(text, node.properties["ID"]))
            assert decode_body(body) == show(gregor, node.properties["ID"])["text"]
            assert all(line.startswith(("  - State ", "  - Superseded ", "    ")) for line in logbook)
            assert all("\n" not in value for value in props.values())
    assert set(found) == {rejected, worked, cancelled}
    # a property shows the first line of the reason; the whole text is in the log and 'task show'
    assert found[worked].properties["REVISION_FEEDBACK"] == "first"
    assert found[worked].properties["RETRY_REASON"] == "first"
    assert found[rejected].properties["REJECTION_REASON"] == "first"
    assert found[cancelled].properties["CANCELLATION_REASON"] == "first"
    assert found[worked].properties["RESULT_PATH"] == "out/: END: * x :tag"  # cannot end the drawer
    assert show(gregor, worked)["result"] == "out/:END: * x :tag:"
