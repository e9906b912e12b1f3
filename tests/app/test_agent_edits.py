"""Hand edits of the agent view: a keyword changed in the file becomes the task event it names.

Real installations, real files edited on disk the way a person in Emacs would (the heading's
keyword rewritten in place), then any command: the move is in the log, the view is rewritten, and a
copy is kept aside only when the edit held more than the recognised moves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

AGENT_FILE = "agents/gregor-claude.org"


def _task(gregor: Any, text: str = "look into the flaky test") -> str:
    result = gregor.cli("send", "@claude", text, "--tokens", "1000", "--json")
    assert result.code == 0, result.err
    return str(json.loads(result.out)["data"]["id"])


def _state(gregor: Any, task_id: str) -> dict[str, Any]:
    result = gregor.cli("task", "show", task_id, "--json")
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)["data"]
    return data


def _edit_keyword(gregor: Any, task_id: str, new: str) -> Path:
    path: Path = gregor.views / AGENT_FILE
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.endswith(task_id))
    heading = max(i for i in range(at) if lines[i].startswith("* "))
    lines[heading] = re.sub(r"^\* \S+ ", f"* {new} ", lines[heading])
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _asides(gregor: Any) -> list[str]:
    return sorted(p.name for p in (gregor.views / "agents").glob("*.edited-*"))


def _to_state(gregor: Any, task_id: str, state: str) -> None:
    steps = {
        "QUEUED": [],
        "WORKING": [("claim",)],
        "DONE": [("claim",), ("complete", "--tokens", "10")],
    }[state]
    for step in steps:
        assert gregor.cli("task", step[0], task_id, *step[1:]).code == 0


@pytest.mark.parametrize(
    ("start", "edited", "action", "end"),
    [
        ("QUEUED", "CANCELLED", "cancel", "CANCELLED"),
        ("QUEUED", "WORKING", "claim", "WORKING"),
        ("WORKING", "QUEUED", "retry", "QUEUED"),
        ("WORKING", "CANCELLED", "cancel", "CANCELLED"),
        ("DONE", "ARCHIVED", "archive", "ARCHIVED"),
        ("DONE", "QUEUED", "revise", "QUEUED"),
    ],
)
def test_a_keyword_edit_becomes_the_move_it_names(
    gregor: Any, start: str, edited: str, action: str, end: str
) -> None:
    task_id = _task(gregor)
    _to_state(gregor, task_id, start)
    _edit_keyword(gregor, task_id, edited)
    result = gregor.cli("tasks", "--all")
    assert result.code == 0, result.err
    assert "edited by hand" not in result.err
    state = _state(gregor, task_id)
    assert state["state"] == end
    last = state["history"][-1]
    assert (last["action"], last["to"], last["superseded"]) == (action, end, None)
    assert _asides(gregor) == []
    assert gregor.cli("rebuild", "--check").code == 0


def test_approving_a_waiting_task_in_the_file(gregor: Any, tex: Any) -> None:
    """tex is not pinned: his request is held (WAITING); gregor switches it to QUEUED in Emacs."""
    result = tex.cli("send", "@gregor-claude", "please review the RFC", "--json")
    assert result.code == 0, result.err
    task_id = json.loads(result.out)["data"]["id"]
    exported = tex.views.parent / "out.jsonl"
    assert tex.cli("export", str(exported)).code == 0
    assert gregor.cli("import", str(exported)).code == 0
    assert _state(gregor, task_id)["state"] == "WAITING"
    _edit_keyword(gregor, task_id, "QUEUED")
    assert gregor.cli("tasks").code == 0
    state = _state(gregor, task_id)
    assert state["state"] == "QUEUED"
    assert state["approval"] == "approved"
    approve = state["history"][-1]
    assert approve["actor"] == "gregor"
    assert approve["note"] == f"edited in {AGENT_FILE}"
    assert _asides(gregor) == []


def test_a_keyword_edit_with_other_changes_is_applied_and_the_copy_kept(gregor: Any) -> None:
    task_id = _task(gregor)
    path = _edit_keyword(gregor, task_id, "CANCELLED")
    path.write_text(path.read_text(encoding="utf-8") + "* TODO my own note\n", encoding="utf-8")
    result = gregor.cli("tasks")
    assert result.code == 0
    assert "edited by hand" in result.err
    assert _state(gregor, task_id)["state"] == "CANCELLED"
    asides = _asides(gregor)
    assert len(asides) == 1
    assert "my own note" in (gregor.views / "agents" / asides[0]).read_text(encoding="utf-8")
    assert "my own note" not in (gregor.views / AGENT_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize("edited", ["DONE", "ARCHIVED", "TODO", "WAITING"])
def test_a_move_with_no_meaning_or_not_allowed_appends_nothing(gregor: Any, edited: str) -> None:
    """QUEUED -> DONE needs the tokens used; QUEUED -> ARCHIVED, TODO or WAITING name no move."""
    task_id = _task(gregor)
    before = len(_state(gregor, task_id)["history"])
    _edit_keyword(gregor, task_id, edited)
    result = gregor.cli("tasks")
    assert result.code == 0
    assert "edited by hand" in result.err
    state = _state(gregor, task_id)
    assert state["state"] == "QUEUED"
    assert len(state["history"]) == before
    assert len(_asides(gregor)) == 1


def test_another_users_agent_file_is_never_read_as_moves(gregor: Any) -> None:
    """Only this user's own agent view is recognised; the inbox is kept aside as before."""
    task_id = _task(gregor)
    inbox = gregor.views / "inbox.org"
    inbox.write_text(
        inbox.read_text(encoding="utf-8")
        + f"* CANCELLED x\n  :PROPERTIES:\n  :ID:       {task_id}\n  :END:\n"
    )
    result = gregor.cli("tasks")
    assert "inbox.org was edited by hand" in result.err
    assert _state(gregor, task_id)["state"] == "QUEUED"
