"""``log`` shows which events are kept but do not count (DESIGN.md: the loser of a race is kept and
shown as superseded, in ``log`` and in the task's LOGBOOK)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _carry(src: Any, dst: Any, tmp_path: Path) -> None:
    target = tmp_path / f"{src.name}-to-{dst.name}.jsonl"
    assert src.cli("export", str(target)).code == 0
    result = dst.cli("import", str(target))
    assert result.code == 0, result.err


def test_the_loser_of_a_race_is_marked_superseded_in_log(
    gregor: Any, tex: Any, introduce: Any, tmp_path: Path
) -> None:
    introduce(gregor, tex)
    sent = tex.cli("send", "@gregor-claude", "tidy the backlog", "--json")
    task_id = json.loads(sent.out)["data"]["id"]
    _carry(tex, gregor, tmp_path)
    _carry(gregor, tex, tmp_path)  # tex sees it QUEUED
    assert tex.cli("task", "cancel", task_id, "--reason", "not needed").code == 0
    assert gregor.cli("task", "claim", task_id).code == 0
    _carry(tex, gregor, tmp_path)
    _carry(gregor, tex, tmp_path)

    for inst in (gregor, tex):
        entries = json.loads(inst.cli("log", "--json").out)["data"]
        moves = {e["type"]: e for e in entries if e["type"] in ("task.cancelled", "task.claimed")}
        assert set(moves) == {"task.cancelled", "task.claimed"}
        first, second = sorted(moves.values(), key=lambda e: (e["physical_ms"], e["origin"], e["seq"]))
        assert first["superseded"] is None
        assert second["superseded"] is not None and "expected state" in second["superseded"]
        text = inst.cli("log").out
        assert sum("SUPERSEDED:" in line for line in text.splitlines()) == 1
        others = [e for e in entries if e["type"] not in ("task.cancelled", "task.claimed")]
        assert all(e["superseded"] is None for e in others)


def test_a_mark_after_an_archive_is_marked_superseded_in_log(
    gregor: Any, tex: Any, introduce: Any, tmp_path: Path
) -> None:
    introduce(gregor, tex)
    sent = tex.cli("send", "@gregor", "hello", "--json")
    message_id = json.loads(sent.out)["data"]["id"]
    _carry(tex, gregor, tmp_path)
    assert gregor.cli("mark", message_id, "archive").code == 0
    with gregor.space() as space:
        from datacore_msg.eventlog.payloads import MessageMarked

        space.store.append(
            space.signing_key(), "gregor", MessageMarked(message=message_id, mark="todo"), space.clock()
        )
    entries = json.loads(gregor.cli("log", "--json", "--type", "message.marked").out)["data"]
    assert [e["superseded"] for e in entries] == [None, "mark not applied"]
