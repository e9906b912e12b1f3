"""Attack: filling the owner's queue with requests under made-up names (issue 10, item 4).

An attacker's installation holds a throwaway key that nobody pinned. It signs task requests to
gregor's agent under invented names (``EventStore.append`` takes any actor name; only the key is
the attacker's), exports them, and gregor imports the file as he would any teammate's, with the CLI
in its own process. Each invented name is an account of its own, so neither the rate limit nor the
cooldown holds them back; what must hold is the unpinned queue: at most
``unpinned_queue_per_key`` outstanding per origin key and ``unpinned_queue_total`` for all such keys,
none of them counted in ``max_queue_depth``. A pinned teammate's next request is then decided as if
the flood had never come (``QUEUED`` for tier team, ``WAITING`` for tier trusted), and ``budget``
shows the unpinned queue and its caps.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from datacore_msg.app.governance import UNPINNED_REPLIES_PER_DAY
from datacore_msg.app.ids import new_task_id
from datacore_msg.eventlog.payloads import TaskRequested
from peers import carry_by_processes, ok, wall_ms

AGENT = "gregor-claude"
FLOOD = 25
PER_KEY, TOTAL, MAX_QUEUE = 2, 5, 20


def flood(attacker: Any, prefix: str, count: int = FLOOD) -> set[str]:
    """``count`` requests to gregor's agent, each under a new invented name, signed with the
    attacker's own (unpinned) key."""
    ids: set[str] = set()
    with attacker.space() as space:
        for n in range(count):
            name = f"{prefix}{n:02d}"
            task_id = new_task_id(wall_ms())
            payload = TaskRequested(id=task_id, sender=name, to=AGENT, text=f"urgent work {n}")
            space.store.append(space.signing_key(), name, payload, wall_ms())
            ids.add(task_id)
    return ids


def listed(inst: Any) -> dict[str, dict[str, Any]]:
    data = json.loads(ok(inst.cli("tasks", "--all", "--json")).out)["data"]
    return {task["id"]: task for task in data}


def request(inst: Any, text: str) -> str:
    result = ok(inst.cli("send", f"@{AGENT}", text, "--json"))
    return str(json.loads(result.out)["data"]["id"])


def test_made_up_names_from_one_key_cannot_fill_the_queue(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mia = make_installation("mia")
    mallory = make_installation("mallory", label="mallory-throwaway")
    introduce(gregor, tex)  # team
    introduce(gregor, mia, tier="trusted")

    flooded = flood(mallory, "helper")
    carry_by_processes(mallory, gregor)

    # the team member's next task is accepted, the trusted one's held: neither meets a full queue
    from_tex = request(tex, "the real work")
    carry_by_processes(tex, gregor)
    from_mia = request(mia, "a review, please")
    carry_by_processes(mia, gregor)
    tasks = listed(gregor)
    assert (tasks[from_tex]["state"], tasks[from_tex]["decision"]["reason"]) == (
        "QUEUED",
        "Auto-accepted (tier team)",
    )
    assert (tasks[from_mia]["state"], tasks[from_mia]["decision"]["reason"]) == (
        "WAITING",
        "Awaiting owner approval (tier trusted)",
    )
    shown = json.loads(ok(gregor.cli("task", "show", from_mia, "--json")).out)["data"]
    assert shown["decision"]["figures"]["queue_depth"] == 1  # tex's; the flood is not in it
    assert "unpinned_queue" not in shown["decision"]["figures"]

    # the flood: two held for the owner, the rest refused by the unpinned cap of their key
    assert flooded <= set(tasks)
    outcomes = Counter((tasks[t]["state"], tasks[t]["decision"]["rule"]) for t in flooded)
    assert outcomes == {
        ("WAITING", "approval"): PER_KEY,
        ("CANCELLED", "unpinned_queue_per_key"): FLOOD - PER_KEY,
    }
    refusal = f"Queue full for unpinned senders on key {mallory.public_key[:12]}: {PER_KEY}/{PER_KEY}"
    assert {tasks[t]["decision"]["reason"] for t in flooded if tasks[t]["state"] == "CANCELLED"} == {refusal}
    assert {tasks[t]["tier"] for t in flooded} == {"unknown"}

    # a second wave from the same key changes nothing: still two waiting
    again = flood(mallory, "agent")
    carry_by_processes(mallory, gregor)
    tasks = listed(gregor)
    assert {tasks[t]["decision"]["rule"] for t in again} == {"unpinned_queue_per_key"}

    budget = json.loads(ok(gregor.run("budget", "--json")).out)["data"]
    assert (budget["queue_depth"], budget["max_queue_depth"]) == (2, MAX_QUEUE)
    assert (budget["unpinned_queue"], budget["unpinned_queue_total"], budget["unpinned_queue_per_key"]) == (
        PER_KEY,
        TOTAL,
        PER_KEY,
    )
    assert budget["unpinned_keys"] == [{"key": mallory.public_key, "queued": PER_KEY}]
    text = ok(gregor.run("budget")).out.splitlines()
    assert text[2] == f"  queue:  2 / {MAX_QUEUE} waiting or queued, 0 working"
    assert text[3] == (
        f"  unpinned senders: {PER_KEY} / {TOTAL} waiting or queued, {PER_KEY} per key "
        "(not counted in the queue above)"
    )
    assert text[4] == f"    key {mallory.public_key[:12]}: {PER_KEY} / {PER_KEY}"


def test_many_throwaway_keys_share_one_small_queue(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    introduce(gregor, tex)
    attackers = [make_installation(f"throwaway{n}") for n in range(4)]
    flooded: set[str] = set()
    for n, attacker in enumerate(attackers):
        flooded |= flood(attacker, f"x{n}-", 10)
        carry_by_processes(attacker, gregor)

    tasks = listed(gregor)
    waiting = [t for t in flooded if tasks[t]["state"] == "WAITING"]
    assert len(waiting) == TOTAL
    rules = Counter(tasks[t]["decision"]["rule"] for t in flooded if tasks[t]["state"] == "CANCELLED")
    # two keys fill their share (2 + 2, the other 8 of each refused per key), the third gets the last
    # place and the rest of its 10 meet the total, as do all 10 of the fourth
    assert rules == {"unpinned_queue_per_key": 8 + 8, "unpinned_queue_total": 9 + 10}
    assert f"Queue full for unpinned senders: {TOTAL}/{TOTAL}" in {
        tasks[t]["decision"]["reason"] for t in flooded
    }

    from_tex = request(tex, "the real work")
    carry_by_processes(tex, gregor)
    assert listed(gregor)[from_tex]["state"] == "QUEUED"


def test_refusals_of_made_up_names_do_not_turn_the_owner_into_a_reflector(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """Every refusal used to send an automatic reply, signed with gregor's key, to the invented
    name: 300 requests from one throwaway key made 298 messages from gregor's agent (a 107 KB
    outbox), and an import of a million lines would make a million, exported to every teammate.
    Now one origin key pinned for none of the names it writes gets at most
    ``UNPINNED_REPLIES_PER_DAY`` automatic replies a day; the refusals themselves are still
    decided and recorded, and a pinned teammate still gets every reply."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = make_installation("mallory", label="mallory-throwaway")
    introduce(gregor, tex)
    flood(mallory, "helper", count=60)
    carry_by_processes(mallory, gregor)
    logged = json.loads(ok(gregor.cli("log", "--json")).out)["data"]
    decided = Counter(e["data"]["outcome"] for e in logged if e["type"] == "task.decided")
    assert decided == Counter(held=PER_KEY, refused=60 - PER_KEY)
    replies = [e for e in logged if e["type"] == "message.sent" and e["actor"] == AGENT]
    assert len(replies) == UNPINNED_REPLIES_PER_DAY
    assert gregor.read("outbox.org").count("was refused") == len(replies)

    # tex, pinned, still hears about each of his refusals
    for n in range(2):
        ok(tex.cli("send", f"@{AGENT}", f"too hard {n}", "--effort", "99"))
    carry_by_processes(tex, gregor)
    logged = json.loads(ok(gregor.cli("log", "--json")).out)["data"]
    to_tex = [e for e in logged if e["type"] == "message.sent" and e["data"]["to"] == "tex"]
    assert len(to_tex) == 2
