"""Attack: flood the user's terminal (or a script's JSON) through the error a hostile event gives.

A peer signs events with its own key whose payload holds 64 KiB of text, or a number of 5,000
digits, in a field that refuses it, or whose envelope names a 64 KiB actor or field. ``import``
rejects each line, and the reason is shown on the one error line: it echoed the refused value in
full (65 KiB of error for one line, twice that in ``--json``), and a number too long to print gave
Python's own complaint instead of the field's name. Now the value is cut short and the field named.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.eventlog.canonical import canonical_text
from datacore_msg.eventlog.envelope import seal
from datacore_msg.eventlog.signing import SigningKey

BIG = "x" * 65_536
TASK = "task-20250101-000000-00000001"
MSG = "msg-20250101-000000-00000001"
SENT = {"id": MSG, "from": "mallory", "to": "gregor", "text": "hi"}


def forged_line(type_name: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """One event signed with a throwaway key, as an export line's JSON object."""
    now = time.time_ns() // 1_000_000 - 60_000
    event = seal(
        SigningKey.generate(),
        seq=1,
        prev=None,
        hlc=now << 16,
        actor="mallory",
        type_name=type_name,
        version=version,
        data=data,
    )
    return event.to_json()


def import_line(inst: Any, path: Path, obj: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    path.write_text(canonical_text(obj) + "\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "datacore_msg", "import", str(path), *extra],
        capture_output=True,
        text=True,
        env=inst.env(),
        timeout=60,
        check=False,
    )


CASES = [
    ("message.sent", 2, {**SENT, "to": BIG}, "message.sent: invalid payload: to: 'xxx"),
    ("message.sent", 2, {**SENT, "id": BIG}, "message.sent: invalid payload: id: 'xxx"),
    (
        "message.sent",
        1,
        {**SENT, "body": "hi", "reply_to": BIG},
        "message.sent: invalid payload: reply_to: 'xxx",
    ),
    ("message.marked", 1, {"message": MSG, "mark": BIG}, "message.marked: invalid payload: mark: 'xxx"),
    (
        "task.requested",
        1,
        {"id": TASK, "from": "mallory", "to": "gregor-claude", "text": "t", "tags": [BIG]},
        "task.requested: invalid payload: tags: 'xxx",
    ),
    (
        "task.decided",
        2,
        {"task": TASK, "outcome": "held", "rule": BIG, "reason": "r", "tier": "team"},
        "task.decided: invalid payload: rule: 'xxx",
    ),
    (
        "task.completed",
        2,
        {"task": TASK, "tokens": 1, "result": BIG + "\n"},
        "task.completed: invalid payload: result: 'xxx",
    ),
    (
        "task.imported",
        1,
        {
            "id": TASK,
            "original": "x",
            "from": "mallory",
            "to": "gregor-claude",
            "text": "t",
            "state": "WAITING",
            "properties": {BIG: "x"},
        },
        "task.imported: invalid payload: properties: 'xxx",
    ),
]


@pytest.mark.parametrize(("type_name", "version", "data", "named"), CASES, ids=[c[0] for c in CASES])
def test_a_huge_refused_payload_value_gives_a_short_error_naming_the_field(
    make_installation: Callable[..., Any],
    tmp_path: Path,
    type_name: str,
    version: int,
    data: dict[str, Any],
    named: str,
) -> None:
    gregor = make_installation("gregor")
    obj = forged_line(type_name, version, data)
    result = import_line(gregor, tmp_path / "hostile.jsonl", obj)
    assert result.returncode == 11, result.stderr[:2000]
    assert result.stderr.count("\n") == 1, result.stderr[:2000]
    assert len(result.stderr) < 1000, result.stderr[:2000]
    assert "1 rejected: line 1: " + named in result.stderr
    as_json = import_line(gregor, tmp_path / "hostile.jsonl", obj, "--json")
    assert as_json.returncode == 11
    assert len(as_json.stdout) < 2000, as_json.stdout[:2000]
    assert named in json.loads(as_json.stdout)["error"]["message"]


def test_a_number_too_long_to_print_is_refused_naming_its_field(
    make_installation: Callable[..., Any], tmp_path: Path
) -> None:
    """JSON caps a number at 4,300 digits; a number of 200 digits was still printed in full."""
    gregor = make_installation("gregor")
    obj = forged_line("task.completed", 2, {"task": TASK, "tokens": 10**1000})
    result = import_line(gregor, tmp_path / "hostile.jsonl", obj)
    assert result.returncode == 11, result.stderr[:2000]
    assert (
        "line 1: task.completed: invalid payload: tokens: a number of 3322 bits is not a whole"
        in result.stderr
    )
    assert len(result.stderr) < 500


@pytest.mark.parametrize("where", ["actor", "field"])
def test_a_huge_actor_or_field_name_in_the_envelope_gives_a_short_error(
    make_installation: Callable[..., Any], tmp_path: Path, where: str
) -> None:
    gregor = make_installation("gregor")
    obj = forged_line("message.sent", 2, SENT)
    if where == "actor":
        obj["actor"] = BIG
    else:
        obj["\x1b[2J\n" + BIG] = 1
    result = import_line(gregor, tmp_path / "hostile.jsonl", obj)
    assert result.returncode == 11, result.stderr[:2000]
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 600, result.stderr[:2000]
    expected = "line 1: actor 'xxx" if where == "actor" else "line 1: unknown field(s): '\\x1b[2J\\nxxx"
    assert expected in result.stderr
