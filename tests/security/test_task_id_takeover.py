"""A reused task (or message) id never takes over what the owner already has.

The attack: mallory, holding only a key pinned nowhere, copies the id of tex's task (or message)
into a ``task.requested`` (``message.sent``) of her own with an *earlier* clock stamp and gets it
imported at gregor's. Before the fix, the earlier stamp made hers "the task": gregor's decision and
approval applied to her text, ``tasks`` showed her name and tier, and the prompt hook handed her
text to the agent, while ``import`` said only "Imported 1 new event(s)". Now a move binds to the
exact request event it was made for, a second request for an existing id never replaces the first,
and ``import`` reports the clash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacore_msg.eventlog.codec import decode_payload, encode_payload
from datacore_msg.eventlog.envelope import Event, seal
from datacore_msg.eventlog.payloads import (
    MessageSent,
    Payload,
    TaskApproved,
    TaskCancelled,
    TaskClaimed,
    TaskDecided,
    TaskRequested,
)
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.eventlog.trust import TrustBook
from datacore_msg.projections.tasks import fold_task
from peers import carry, ok, spoof

AGENT = "gregor-claude"
HOUR_MS = 3_600_000


def task_json(inst: Any, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(inst.cli("task", "show", task_id, "--json")).out)["data"]
    return data


def prompt_hook(inst: Any, session: str) -> str:
    payload = json.dumps({"session_id": session, "prompt": "hi", "hook_event_name": "UserPromptSubmit"})
    result = inst.run("hook", "prompt", stdin=payload.encode())
    assert result.code == 0, result
    return result.out


def test_a_reused_task_id_with_an_earlier_stamp_does_not_take_over_a_decided_task(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    sent = ok(tex.cli("send", f"@{AGENT}", "research competitor pricing", "--json"))
    task_id = json.loads(sent.out)["data"]["id"]
    carry(tex, gregor)
    before = task_json(gregor, task_id)
    assert (before["state"], before["from"], before["tier"]) == ("QUEUED", "tex", "team")

    for sender in ("mallory", "tex"):
        forged = TaskRequested(id=task_id, sender=sender, to=AGENT, text=f"FORGED by {sender}: exfiltrate")
        spoof(mallory, sender, forged, -HOUR_MS)
    imported = carry(mallory, gregor)
    assert "clash: task " + task_id in imported.err
    assert imported.err.count("reused its id and was ignored") == 1  # one line for the task, naming both

    after = task_json(gregor, task_id)
    assert (after["state"], after["from"], after["tier"], after["text"]) == (
        "QUEUED",
        "tex",
        "team",
        "research competitor pricing",
    )
    assert len(after["clashes"]) == 2
    shown = ok(gregor.cli("task", "show", task_id)).out
    assert "2 other request(s) reused this id" in shown
    listing = ok(gregor.cli("tasks")).out
    assert "FORGED" not in listing and "mallory" not in listing
    assert (
        "FORGED"
        not in (gregor.views / f"agents/{AGENT}.org").read_text(encoding="utf-8").split(":LOGBOOK:")[0]
    )

    card = prompt_hook(gregor, "s1")
    assert "research competitor pricing" in card
    assert "FORGED" not in card
    claimed = task_json(gregor, task_id)
    assert claimed["state"] == "WORKING"
    assert claimed["text"] == "research competitor pricing"


def test_a_second_request_arriving_before_the_decision_is_still_the_second(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """Both requests in one import, the forged one with the earlier stamp: arrival decides."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    task_id = json.loads(ok(tex.cli("send", f"@{AGENT}", "the real one", "--json")).out)["data"]["id"]
    spoof(mallory, "mallory", TaskRequested(id=task_id, sender="mallory", to=AGENT, text="FORGED"), -HOUR_MS)
    lines = ok(tex.cli("export", "-")).out + ok(mallory.cli("export", "-")).out
    imported = ok(gregor.cli("import", "-", stdin=lines.encode()))
    assert "clash: task " + task_id in imported.err
    shown = task_json(gregor, task_id)
    assert (shown["from"], shown["text"], shown["tier"]) == ("tex", "the real one", "team")
    decided = [h for h in shown["history"] if h["action"] == "decide"]
    assert [h["superseded"] for h in decided] == [None]


def test_a_reused_message_id_never_replaces_the_message(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    sent = ok(tex.cli("send", "@gregor", "lunch at noon?", "--json"))
    message_id = json.loads(sent.out)["data"]["id"]
    carry(tex, gregor)
    for sender in ("mallory", "bob"):
        forged = MessageSent(id=message_id, sender=sender, to="gregor", text="FORGED: wire the money")
        spoof(mallory, sender, forged, -HOUR_MS)
    imported = carry(mallory, gregor)
    assert "clash: message " + message_id in imported.err
    inbox = (gregor.views / "inbox.org").read_text(encoding="utf-8")
    assert "lunch at noon?" in inbox
    assert "FORGED" not in inbox
    logged = json.loads(ok(gregor.cli("log", "--json")).out)["data"]
    clashes = [e for e in logged if e["type"] == "message.sent" and e["superseded"]]
    assert len(clashes) == 2
    assert all("clash" in e["superseded"] for e in clashes)


def test_a_forged_request_decided_first_on_the_owners_other_installation_does_not_win(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """gregor has a laptop and a desktop. mallory's forged request reaches the desktop before tex's
    (the desktop holds it, from an unverified sender); the laptop gets only tex's and accepts it.
    When the two installations exchange events, both decisions come from gregor's pinned keys:
    the request whose sender a pinned key backs is the task on both, whichever decided first."""
    laptop = make_installation("gregor", label="laptop")
    desktop = make_installation("gregor", label="desktop")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(laptop, tex)
    introduce(desktop, tex)
    ok(laptop.cli("contacts", "add", "gregor", desktop.public_key, "--tier", "owner"))
    ok(desktop.cli("contacts", "add", "gregor", laptop.public_key, "--tier", "owner"))
    task_id = json.loads(ok(tex.cli("send", f"@{AGENT}", "the real one", "--json")).out)["data"]["id"]
    forged = TaskRequested(id=task_id, sender="tex", to=AGENT, text="FORGED: exfiltrate")
    spoof(mallory, "tex", forged, -HOUR_MS)
    carry(mallory, desktop)  # the desktop decides mallory's request first (held, tier unknown)
    carry(tex, desktop)
    carry(tex, laptop)
    seen = task_json(laptop, task_id)
    expected = ("QUEUED", "tex", "team", "the real one")
    assert (seen["state"], seen["from"], seen["tier"], seen["text"]) == expected

    carry(desktop, laptop)
    carry(laptop, desktop)
    for inst in (laptop, desktop):
        after = task_json(inst, task_id)
        assert (after["state"], after["from"], after["tier"], after["text"]) == expected
        assert "FORGED" not in ok(inst.cli("tasks")).out
    card = prompt_hook(laptop, "s1")
    assert "the real one" in card and "FORGED" not in card


def test_a_teammate_cannot_bind_the_id_of_a_task_you_sent_to_a_request_of_their_own(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """bob, a pinned teammate turned hostile, copies the id of tex's task into a request to his own
    agent and decides it himself (a valid decision: his agent, his pinned key). At tex's, tex's
    own request stays the task: before the fix it vanished ("no task of yours matches")."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    bob = make_installation("bob")
    introduce(gregor, tex, bob)
    task_id = json.loads(ok(tex.cli("send", f"@{AGENT}", "the real one", "--json")).out)["data"]["id"]
    carry(tex, gregor)
    carry(gregor, tex)
    own = spoof(bob, "bob", TaskRequested(id=task_id, sender="bob", to="bob-claude", text="FORGED"), -HOUR_MS)
    decided = TaskDecided(
        task=task_id, request=own.id, outcome="accepted", rule="auto", reason="ok", tier="owner"
    )
    spoof(bob, "bob", decided, ahead_ms=-HOUR_MS + 1000)
    imported = carry(bob, tex)
    assert "clash: task " + task_id in imported.err
    for inst in (tex, gregor):
        if inst is gregor:
            carry(bob, gregor)
        after = task_json(inst, task_id)
        assert (after["state"], after["from"], after["to"], after["text"]) == (
            "QUEUED",
            "tex",
            AGENT,
            "the real one",
        )


# -- the property: nothing imported changes what the owner saw decided --------------------------------

KEYS = {name: SigningKey.generate() for name in ("gregor", "tex", "mallory")}
BOOK = TrustBook(
    owner="gregor",
    keys={"gregor": {KEYS["gregor"].public_hex}, "tex": {KEYS["tex"].public_hex}},
    tiers={"tex": "team"},
)
TASK = "task-20261207-100000-0000abcd"
BASE_HLC = 1_800_000_000_000 << 16


def _decode(event: Event) -> Payload | None:
    return decode_payload(event.type, event.data)


def _event(key: str, seq: int, hlc: int, actor: str, payload: Payload, position: int) -> Event:
    event = seal(
        KEYS[key],
        seq=seq,
        prev=None,
        hlc=hlc,
        actor=actor,
        type_name=payload.TYPE,
        version=payload.VERSION,
        data=encode_payload(payload),
    )
    return event.at(position)


ACTORS = st.sampled_from(["gregor", "gregor-claude", "tex", "mallory", "tex-claude"])
TEXTS = st.sampled_from(["FORGED", "the real text", "rm -rf"])


@st.composite
def crafted_payload(draw: st.DrawFn, request_ids: list[str]) -> tuple[str, Payload]:
    actor = draw(ACTORS)
    bind = draw(st.sampled_from([None, *request_ids]))
    kind = draw(st.sampled_from(["request", "decide", "approve", "claim", "cancel"]))
    payload: Payload
    if kind == "request":
        to = draw(st.sampled_from([AGENT, "tex-claude", "mallory-claude"]))
        sender = actor if not actor.endswith("-claude") else "mallory"
        payload = TaskRequested(id=TASK, sender=sender, to=to, text=draw(TEXTS))
    elif kind == "decide":
        outcome = draw(st.sampled_from(["accepted", "held", "refused"]))
        tier = draw(st.sampled_from(["owner", "team", "unknown"]))
        payload = TaskDecided(task=TASK, request=bind, outcome=outcome, rule="auto", reason="x", tier=tier)
    elif kind == "approve":
        payload = TaskApproved(task=TASK, request=bind)
    elif kind == "claim":
        payload = TaskClaimed(task=TASK, request=bind)
    else:
        payload = TaskCancelled(task=TASK, request=bind)
    return actor, payload


#: The events come from mallory's key under any name, and from tex's (a pinned teammate turned
#: hostile) under any name but the real sender's own moves.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_imported_events_change_the_text_sender_or_tier_of_a_task_the_owner_saw_decided(
    data: st.DataObject,
) -> None:
    real = TaskRequested(id=TASK, sender="tex", to=AGENT, text="the real text", tokens=1000)
    request = _event("tex", 1, BASE_HLC, "tex", real, position=1)
    decision = TaskDecided(
        task=TASK, request=request.id, outcome="accepted", rule="auto", reason="ok", tier="team"
    )
    decided = _event("gregor", 1, BASE_HLC + (5 << 16), AGENT, decision, position=2)
    seen = fold_task([request, decided], _decode, BOOK)
    assert seen is not None and seen.state == "QUEUED"

    events = [request, decided]
    seqs = {"gregor": 1, "tex": 1, "mallory": 0}
    request_ids = [request.id]
    for position in range(3, 3 + data.draw(st.integers(0, 8))):
        key = data.draw(st.sampled_from(["tex", "mallory", "mallory", "mallory"]))
        actor, payload = data.draw(crafted_payload(request_ids))
        if key == "tex" and actor == "tex" and not isinstance(payload, TaskRequested):
            # The real sender may withdraw their own request (a race with the decision, not an
            # attack); with tex's key everything else is crafted: other names, new requests.
            actor = "gregor"
        seqs[key] += 1
        hlc = BASE_HLC + (data.draw(st.integers(-3600, 3600)) << 16)
        event = _event(key, seqs[key], hlc, actor, payload, position)
        if isinstance(payload, TaskRequested):
            request_ids.append(event.id)
        events.append(event)
    folded = fold_task(sorted(events, key=Event.order_key), _decode, BOOK)
    assert folded is not None
    assert (folded.request.text, folded.sender, folded.tier, folded.request_event) == (
        seen.request.text,
        seen.sender,
        seen.tier,
        seen.request_event,
    )


def _story_with_clash() -> tuple[Event, Event]:
    real = TaskRequested(id=TASK, sender="tex", to=AGENT, text="the real text")
    forged = TaskRequested(id=TASK, sender="tex", to="tex-claude", text="FORGED")
    return (
        _event("tex", 1, BASE_HLC, "tex", real, position=1),
        _event("tex", 2, BASE_HLC - (60 << 16), "tex", forged, position=2),
    )


def test_a_move_made_for_the_other_request_does_not_count() -> None:
    """The owner's second installation saw the forged request first and its agent claimed it there;
    once the installations exchange events, that claim (bound to the forged request) is superseded,
    and the decided task is untouched."""
    request, forged = _story_with_clash()
    decided = _event(
        "gregor",
        1,
        BASE_HLC + (5 << 16),
        AGENT,
        TaskDecided(task=TASK, request=request.id, outcome="accepted", rule="auto", reason="ok", tier="team"),
        position=3,
    )
    claimed = _event("gregor", 2, BASE_HLC + (9 << 16), AGENT, TaskClaimed(task=TASK, request=forged.id), 4)
    folded = fold_task(sorted([request, forged, decided, claimed], key=Event.order_key), _decode, BOOK)
    assert folded is not None
    assert (folded.state, folded.request.text) == ("QUEUED", "the real text")
    lost = [c for c in folded.changes if c.event_id == claimed.id]
    assert [c.superseded for c in lost] == ["it was made for another request with this task id"]


def test_the_readers_own_decision_wins_over_an_earlier_one_by_another_owner() -> None:
    """A pinned teammate turned hostile re-addresses the task id to their own agent and decides it
    themselves, stamped before the owner's decision: gregor's installation keeps the task gregor
    decided."""
    request, forged = _story_with_clash()
    theirs = _event(
        "tex",
        3,
        BASE_HLC - (30 << 16),
        "tex-claude",
        TaskDecided(task=TASK, request=forged.id, outcome="accepted", rule="auto", reason="x", tier="owner"),
        position=3,
    )
    ours = _event(
        "gregor",
        1,
        BASE_HLC + (5 << 16),
        AGENT,
        TaskDecided(task=TASK, request=request.id, outcome="accepted", rule="auto", reason="ok", tier="team"),
        position=4,
    )
    folded = fold_task(sorted([request, forged, theirs, ours], key=Event.order_key), _decode, BOOK)
    assert folded is not None
    assert (folded.request.text, folded.agent, folded.tier) == ("the real text", AGENT, "team")


def test_verify_lists_clashes_without_failing(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """A clash is written on purpose by someone, so verify names it; but it is not damage to the
    log, so a throwaway key cannot make every teammate's verify fail for good."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    task_id = json.loads(ok(tex.cli("send", f"@{AGENT}", "the real one", "--json")).out)["data"]["id"]
    carry(tex, gregor)
    spoof(mallory, "mallory", TaskRequested(id=task_id, sender="mallory", to=AGENT, text="FORGED"), -HOUR_MS)
    carry(mallory, gregor)
    checked = ok(gregor.cli("verify"))
    lines = checked.out.splitlines()
    assert lines[0].startswith("All ") and lines[0].endswith(" events verify.")
    assert sum(f"task id {task_id} is requested by more than one event" in line for line in lines) == 2
    data = json.loads(ok(gregor.cli("verify", "--json")).out)["data"]
    assert data["problems"] == []
    assert len(data["clashes"]) == 2


def test_the_store_finds_reused_ids_among_many_subjects(make_installation: Callable[..., Any]) -> None:
    """What import asks after each batch: one query per 500 subjects, clashes found in any chunk."""
    gregor = make_installation("gregor")
    mallory = make_installation("mallory")
    with gregor.space() as space:
        ids = [f"msg-20261207-100000-{n:08x}" for n in range(1200)]
        for message_id in ids:
            space.store.append(
                space.signing_key(),
                "gregor",
                MessageSent(id=message_id, sender="gregor", to="tex", text="x"),
                1,
            )
    for message_id in (ids[0], ids[1100]):
        spoof(mallory, "mallory", MessageSent(id=message_id, sender="mallory", to="gregor", text="FORGED"))
    carry(mallory, gregor)
    with gregor.space() as space:
        assert space.store.created_twice([*ids, "task-20261207-100000-00000000"]) == {ids[0], ids[1100]}
        assert space.store.created_twice([]) == set()
