"""Trust: a spoofed actor name never gets more than unknown treatment.

Real installations exchange events by ``export``/``import``. mallory's installation signs events with
its own key under names it does not own (``gregor``, the agent's owner; ``gregor-claude``, the agent;
``tex``, a pinned teammate) -- ``EventStore.append`` takes any actor name, only the key is mallory's.
At gregor's installation such requests are decided as tier ``unknown``; such transitions and marks
move nothing and show as superseded. The tiers of real, pinned keys come from ``contacts.yaml`` and
``messaging.trust_overrides``; pinning or removing a key re-folds the views.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orgparse
import pytest
import yaml

from datacore_msg.app.ids import new_message_id, new_task_id
from datacore_msg.eventlog.payloads import (
    MessageMarked,
    MessageSent,
    TaskApproved,
    TaskArchived,
    TaskCancelled,
    TaskClaimed,
    TaskCompleted,
    TaskDecided,
    TaskRequested,
)
from peers import carry, ok, spoof, wall_ms

AGENT = "gregor-claude"
AGENT_FILE = f"agents/{AGENT}.org"


def request(inst: Any, text: str, *extra: str, to: str = f"@{AGENT}") -> str:
    result = ok(inst.cli("send", to, text, "--json", *extra))
    return str(json.loads(result.out)["data"]["id"])


def task(inst: Any, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(inst.cli("task", "show", task_id, "--json")).out)["data"]
    return data


def move(inst: Any, action: str, task_id: str, *extra: str) -> None:
    ok(inst.cli("task", action, task_id, *extra))


def set_messaging(inst: Any, **values: Any) -> None:
    """Set keys under ``messaging`` in the installation's settings.local.yaml."""
    path = inst.root / ".datacore" / "settings.local.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["messaging"].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def no_cooldown(inst: Any) -> None:
    """Requests sent seconds apart are not refused for the cooldown (not what these tests are about)."""
    set_messaging(inst, compute={"cooldown_between_tasks": 0})


def contacts_file(inst: Any) -> Path:
    with inst.space() as space:
        return Path(space.paths.contacts_file)


def agent_nodes(inst: Any) -> dict[str, Any]:
    """Every task heading of the agent's views (live and archives), by ID, read with orgparse."""
    nodes = {}
    for path in [inst.views / AGENT_FILE, *sorted((inst.views / "archive").glob("agents-*.org_archive"))]:
        if path.exists():
            for node in orgparse.load(str(path))[1:]:
                nodes[node.properties["ID"]] = node
    return nodes


def agent_view_text(inst: Any) -> str:
    parts = [(inst.views / AGENT_FILE).read_text(encoding="utf-8")]
    parts += [p.read_text(encoding="utf-8") for p in sorted((inst.views / "archive").glob("agents-*"))]
    return "".join(parts)


# -- requests under other names --------------------------------------------------------------------


def test_spoofed_owner_and_teammate_requests_are_decided_as_unknown(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    no_cooldown(gregor)
    # The real ones first: tex (team) and gregor (owner), each with an effort of 5.
    real_tex = request(tex, "real tex", "--effort", "5")
    real_owner = request(gregor, "real owner", "--effort", "5", to="@claude")
    carry(tex, gregor)
    spoofed: dict[str, tuple[str, int | None]] = {}
    for actor in ("gregor", "tex"):
        for effort in (None, 5):
            task_id = new_task_id(wall_ms())
            payload = TaskRequested(id=task_id, sender=actor, to=AGENT, text=f"as {actor}", effort=effort)
            spoof(mallory, actor, payload)
            spoofed[task_id] = (actor, effort)
    carry(mallory, gregor)

    for task_id, tier in ((real_tex, "team"), (real_owner, "owner")):
        shown = task(gregor, task_id)
        assert (shown["state"], shown["tier"], shown["approval"]) == ("QUEUED", tier, "auto_accepted")
    nodes = agent_nodes(gregor)
    for task_id, (actor, effort) in spoofed.items():
        shown = task(gregor, task_id)
        assert shown["from"] == actor
        assert shown["tier"] == "unknown" == shown["decision"]["tier"]
        assert shown["approval"] != "auto_accepted"
        if effort is None:  # passes every check, but unknown senders wait for the owner
            assert (shown["state"], shown["decision"]["rule"]) == ("WAITING", "approval")
            assert shown["decision"]["reason"] == "Awaiting owner approval (tier unknown)"
        else:  # an owner has no effort limit and a teammate 8; unknown senders 3
            assert (shown["state"], shown["decision"]["rule"]) == ("CANCELLED", "effort")
            assert shown["decision"]["reason"] == "Effort 5 exceeds tier limit 3"
        assert nodes[task_id].properties["TRUST_TIER"] == "unknown"
        assert nodes[task_id].properties["FROM"] == actor
    assert ok(gregor.cli("rebuild", "--check"))


@pytest.mark.parametrize("name", ["gregor", AGENT])
def test_spoofed_transitions_move_nothing_and_show_as_superseded(
    make_installation: Callable[..., Any], introduce: Callable[..., None], name: str
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    no_cooldown(gregor)
    queued = request(tex, "tex's task")
    carry(tex, gregor)
    waiting = request(mallory, "mallory's own request")  # mallory as mallory: unknown, held
    carry(mallory, gregor)
    working = request(gregor, "started", to="@claude")
    move(gregor, "claim", working)
    done = request(gregor, "finished", to="@claude")
    move(gregor, "claim", done)
    move(gregor, "complete", done, "--tokens", "10")
    before = {t: task(gregor, t)["state"] for t in (queued, waiting, working, done)}
    assert before == {queued: "QUEUED", waiting: "WAITING", working: "WORKING", done: "DONE"}

    # Ordered after everything gregor did (a second ahead), so that only trust can stop them.
    later = 1_000
    fresh = new_task_id(wall_ms())
    spoofs = [
        (waiting, spoof(mallory, name, TaskApproved(task=waiting, reason="sure"), later), "approve"),
        (queued, spoof(mallory, name, TaskClaimed(task=queued), later), "claim"),
        (working, spoof(mallory, name, TaskCompleted(task=working, tokens=1), later), "complete"),
        (done, spoof(mallory, name, TaskArchived(task=done), later), "archive"),
        (queued, spoof(mallory, "tex", TaskCancelled(task=queued, reason="as tex"), later), "cancel"),
    ]
    spoof(mallory, "mallory", TaskRequested(id=fresh, sender="mallory", to=AGENT, text="decide me"), later)
    decided = spoof(
        mallory,
        name,
        TaskDecided(task=fresh, outcome="accepted", rule="auto_accept", reason="ok", tier="owner"),
        later,
    )
    carry(mallory, gregor)

    assert {t: task(gregor, t)["state"] for t in before} == before
    for task_id, event, action in spoofs:
        history = {h["event"]: h for h in task(gregor, task_id)["history"]}
        entry = history[event.id]
        assert entry["superseded"] is not None, entry
        # refused for who wrote it, not for the state the task was in
        assert f"{action}: only " in entry["superseded"], entry
        assert entry["to"] is None
    fresh_state = task(gregor, fresh)
    assert (fresh_state["state"], fresh_state["tier"]) == ("WAITING", "unknown")
    history = {h["event"]: h for h in fresh_state["history"]}
    assert history[decided.id]["superseded"] == "only the agent's owner decides its requests"
    assert fresh_state["decision"]["reason"] == "Awaiting owner approval (tier unknown)"

    view = agent_view_text(gregor)
    for action, actor in [
        ("approve", name),
        ("claim", name),
        ("complete", name),
        ("archive", name),
        ("cancel", "tex"),
        ("decide", name),
    ]:
        assert re.search(rf"^  - Superseded {action} by {re.escape(actor)} \[", view, re.M), action
    shown = ok(gregor.cli("task", "show", queued)).out
    assert "claim SUPERSEDED: claim: only the agent may claim" in shown
    assert "cancel SUPERSEDED: cancel: only the owner or the sender may cancel" in shown
    assert ok(gregor.cli("rebuild", "--check"))
    # tex's installation folds mallory's events the same way once it holds them
    carry(gregor, tex)
    assert task(tex, queued)["state"] == "QUEUED"

    def folded(inst: Any) -> list[tuple[Any, ...]]:
        return [(h["event"], h["to"], h["superseded"]) for h in task(inst, queued)["history"]]

    assert folded(tex) == folded(gregor)


def test_a_spoofed_archive_mark_does_not_change_the_owners_inbox(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    message_id = str(json.loads(ok(tex.cli("send", "@gregor", "for you", "--json")).out)["data"]["id"])
    carry(tex, gregor)
    inbox_before = gregor.read("inbox.org")
    assert message_id in inbox_before and ":unread:" in inbox_before
    spoof(mallory, "gregor", MessageMarked(message=message_id, mark="archive"), 1_000)
    spoof(mallory, "tex", MessageMarked(message=message_id, mark="read"), 1_000)
    carry(mallory, gregor)
    marks = json.loads(ok(gregor.cli("log", "--type", "message.marked", "--json")).out)["data"]
    assert sorted(m["actor"] for m in marks) == ["gregor", "tex"]  # kept in the log, counted nowhere
    assert gregor.read("inbox.org") == inbox_before
    assert not (gregor.views / "archive").exists() or not list((gregor.views / "archive").glob("inbox-*"))
    shown = json.loads(ok(gregor.cli("show", message_id, "--json")).out)["data"]
    assert shown["status"] == "unread"
    listed = json.loads(ok(gregor.cli("inbox", "--json")).out)["data"]
    assert [item["id"] for item in listed] == [message_id]
    # nor does tex's own view of the message take the mark mallory wrote under tex's name
    status_before = json.loads(ok(tex.cli("show", message_id, "--json")).out)["data"]["status"]
    outbox_before = tex.read("outbox.org")
    carry(mallory, tex)
    assert json.loads(ok(tex.cli("show", message_id, "--json")).out)["data"]["status"] == status_before
    assert tex.read("outbox.org") == outbox_before
    assert ok(gregor.cli("rebuild", "--check"))


# -- the tiers of real keys ------------------------------------------------------------------------


def test_a_teammate_pinned_as_trusted_is_trusted_and_waits_for_approval(
    make_installation: Callable[..., Any],
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    gregor.pin(tex, tier="trusted")
    tex.pin(gregor, tier="team")
    task_id = request(tex, "please")
    carry(tex, gregor)
    shown = task(gregor, task_id)
    assert (shown["state"], shown["tier"]) == ("WAITING", "trusted")
    assert shown["decision"]["reason"] == "Awaiting owner approval (tier trusted)"
    assert agent_nodes(gregor)[task_id].properties["TRUST_TIER"] == "trusted"
    move(gregor, "approve", task_id)
    assert task(gregor, task_id)["state"] == "QUEUED"


def test_trust_overrides_change_the_tier_of_backed_actors_only(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)  # tex: team in contacts.yaml
    set_messaging(
        gregor,
        compute={"cooldown_between_tasks": 0},
        trust_overrides={"tex": "trusted", "mallory": "team", "nobody": "owner"},
    )
    from_tex = request(tex, "real tex")
    carry(tex, gregor)
    own = request(mallory, "mallory under its own, unpinned name")
    as_tex = new_task_id(wall_ms())
    spoof(mallory, "tex", TaskRequested(id=as_tex, sender="tex", to=AGENT, text="spoofed tex"))
    carry(mallory, gregor)
    assert (task(gregor, from_tex)["tier"], task(gregor, from_tex)["state"]) == ("trusted", "WAITING")
    for task_id in (own, as_tex):
        shown = task(gregor, task_id)
        assert (shown["tier"], shown["state"]) == ("unknown", "WAITING"), shown
    listed = {c["id"]: c for c in json.loads(ok(gregor.cli("contacts", "list", "--json")).out)["data"]}
    assert listed["tex"]["tier"] == "trusted"


def test_a_contact_without_a_public_key_is_unknown(make_installation: Callable[..., Any]) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    tex.pin(gregor, tier="team")
    contacts_file(gregor).write_text(
        "actors:\n  - id: tex\n    name: Tex\n    trust_tier: team\n    added: 2026-11-01\n", encoding="utf-8"
    )
    listed = ok(gregor.cli("contacts", "list")).out
    assert "no key pinned (treated as unknown)" in listed
    task_id = request(tex, "no key, no team")
    carry(tex, gregor)
    shown = task(gregor, task_id)
    assert (shown["tier"], shown["state"]) == ("unknown", "WAITING")


def test_removing_a_contact_makes_later_requests_unknown(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    introduce(gregor, tex)
    no_cooldown(gregor)
    first = request(tex, "while pinned")
    carry(tex, gregor)
    assert task(gregor, first)["tier"] == "team"
    ok(gregor.cli("contacts", "remove", "tex"))
    second = request(tex, "after removal")
    carry(tex, gregor)
    shown = task(gregor, second)
    assert (shown["tier"], shown["state"]) == ("unknown", "WAITING")
    # a decision is never re-made: the first request keeps the tier it was decided with
    assert (task(gregor, first)["tier"], task(gregor, first)["state"]) == ("team", "QUEUED")
    assert agent_nodes(gregor)[first].properties["TRUST_TIER"] == "team"
    # tex may still withdraw his own request: the request's own key makes him its sender
    move(tex, "cancel", first, "--reason", "withdrawn")
    carry(tex, gregor)
    assert task(gregor, first)["state"] == "CANCELLED"
    assert ok(gregor.cli("rebuild", "--check"))


def _desktop_claim(make_installation: Callable[..., Any]) -> tuple[Any, Any, str]:
    """gregor's laptop has not pinned gregor's desktop; the desktop (which pinned the laptop) claims a
    task of tex's as the agent. The laptop holds the claim but it does not count there."""
    laptop = make_installation("gregor", tz="Europe/Ljubljana", label="laptop")
    desktop = make_installation("gregor", tz="Europe/Ljubljana", label="desktop")
    tex = make_installation("tex")
    for one, other in ((laptop, tex), (tex, laptop), (desktop, tex), (desktop, laptop)):
        one.pin(other, tier="team")
    task_id = request(tex, "who may claim me?")
    carry(tex, laptop)
    carry(laptop, desktop)
    move(desktop, "claim", task_id)
    carry(desktop, laptop)
    shown = task(laptop, task_id)
    assert shown["state"] == "QUEUED"
    assert "claim: only the agent may claim" in (shown["history"][-1]["superseded"] or "")
    assert f"  - Superseded claim by {AGENT} [" in laptop.read(AGENT_FILE)
    ok(laptop.cli("rebuild", "--check"))
    return laptop, desktop, task_id


def test_pinning_and_removing_a_key_refolds_the_views(make_installation: Callable[..., Any]) -> None:
    laptop, desktop, task_id = _desktop_claim(make_installation)
    ok(laptop.cli("contacts", "add", "gregor", desktop.public_key, "--tier", "owner"))
    shown = task(laptop, task_id)  # the next command re-folds with the new keys
    assert shown["state"] == "WORKING"
    assert [h["superseded"] for h in shown["history"]] == [None, None]
    live = laptop.read(AGENT_FILE)
    assert "* WORKING who may claim me?" in live and "Superseded" not in live
    ok(laptop.cli("rebuild", "--check"))
    assert (laptop.views / AGENT_FILE).read_bytes() == (desktop.views / AGENT_FILE).read_bytes()

    ok(laptop.cli("contacts", "remove", "gregor"))
    assert task(laptop, task_id)["state"] == "QUEUED"
    assert f"  - Superseded claim by {AGENT} [" in laptop.read(AGENT_FILE)
    ok(laptop.cli("rebuild", "--check"))


@pytest.mark.parametrize("change", ["add", "remove"])
def test_rebuild_check_passes_right_after_a_contacts_change(
    make_installation: Callable[..., Any], change: str
) -> None:
    laptop, desktop, _ = _desktop_claim(make_installation)
    if change == "remove":
        ok(laptop.cli("contacts", "add", "gregor", desktop.public_key, "--tier", "owner"))
        ok(laptop.cli("tasks"))
        ok(laptop.cli("contacts", "remove", "gregor"))
    else:
        ok(laptop.cli("contacts", "add", "gregor", desktop.public_key, "--tier", "owner"))
    check = laptop.cli("rebuild", "--check")
    assert check.code == 0, check


def test_whoami_prints_the_key_that_contacts_add_accepts(
    make_installation: Callable[..., Any],
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    shown = ok(tex.cli("whoami")).out
    key = re.search(r"^public key: ([0-9a-f]{64})$", shown, re.M)
    assert key is not None, shown
    assert key.group(1) == tex.public_key
    assert json.loads(ok(tex.cli("whoami", "--json")).out)["data"]["public_key"] == key.group(1)
    suggested = re.search(r"^  datacore-msg (contacts add .*)$", shown, re.M)
    assert suggested is not None, shown
    assert suggested.group(1) == f"contacts add tex {key.group(1)} --tier team"
    ok(gregor.cli(*suggested.group(1).split()))
    listed = json.loads(ok(gregor.cli("contacts", "list", "--json")).out)["data"]
    assert [(c["id"], c["tier"], c["public_keys"]) for c in listed] == [("tex", "team", [key.group(1)])]
    # and the pinned key is the one tex signs with
    tex.pin(gregor)
    task_id = request(tex, "signed by the key I printed")
    carry(tex, gregor)
    assert task(gregor, task_id)["tier"] == "team"


# -- found while writing these tests ---------------------------------------------------------------


def test_spoofed_requests_neither_use_up_nor_share_the_real_senders_limits(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """The governor's figures (cooldown, rate, tokens) of a request written under tex's name by
    another key go to a bucket of their own: the real tex is not held back by them, and a refusal
    is not sent to tex as if he had asked."""
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    as_tex = new_task_id(wall_ms())
    spoof(mallory, "tex", TaskRequested(id=as_tex, sender="tex", to=AGENT, text="spoofed", tokens=100))
    too_big = new_task_id(wall_ms() + 1)
    spoof(mallory, "tex", TaskRequested(id=too_big, sender="tex", to=AGENT, text="huge", tokens=20_000))
    carry(mallory, gregor)
    assert (task(gregor, as_tex)["tier"], task(gregor, as_tex)["state"]) == ("unknown", "WAITING")
    refused = task(gregor, too_big)["decision"]
    assert (refused["outcome"], refused["rule"]) == ("refused", "tier_daily_tokens")
    real = request(tex, "the real tex, within the cooldown of mallory's request")
    carry(tex, gregor)
    shown = task(gregor, real)
    assert (shown["state"], shown["tier"]) == ("QUEUED", "team"), shown["decision"]
    assert shown["decision"]["figures"]["sender_tokens_today"] == 0
    budget = json.loads(ok(gregor.cli("budget", "--json")).out)["data"]
    senders = {s["sender"]: s for s in budget["senders"]}
    assert senders["tex"]["tier"] == "team"
    spoofed_bucket = [name for name in senders if name.startswith("tex~")]
    assert len(spoofed_bucket) == 1 and senders[spoofed_bucket[0]]["tier"] == "unknown"
    carry(gregor, tex)
    assert json.loads(ok(tex.cli("inbox", "--json")).out)["data"] == []  # no refusal sent to tex


def test_a_spoofed_message_is_not_shown_as_from_the_named_sender(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    real = str(json.loads(ok(tex.cli("send", "@gregor", "real", "--json")).out)["data"]["id"])
    carry(tex, gregor)
    fake = new_message_id(wall_ms())
    spoof(mallory, "tex", MessageSent(id=fake, sender="tex", to="gregor", text="fake"))
    carry(mallory, gregor)
    nodes = {node.properties["ID"]: node for node in orgparse.load(str(gregor.views / "inbox.org"))[1:]}
    assert real in nodes
    assert fake not in nodes, "a message tex's pinned key did not sign is not shown as from tex"
    assert gregor.cli("show", fake).code == 4
