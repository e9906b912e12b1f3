"""Golden tests of the prompt hook: recorded stdin payloads -> exact stdout and exit status.

Each case runs the hook in this process (``hooks.prompt.prompt``, what the console script calls) on a
fresh scene: tex (a pinned teammate, tier team) asked gregor's agent for work 12 minutes ago and
sent gregor a message; both reached gregor's installation by import. The expected outputs are in
``golden/*.stdout`` with ``{TASK}``, ``{MSG}`` and ``{LOG}`` standing for the ids and the log path of
the run. ``UPDATE_GOLDEN=1`` rewrites them (review the diff before committing).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.app import tasks as app_tasks
from datacore_msg.hooks.prompt import Args, prompt

GOLDEN = Path(__file__).parent / "golden"
MINUTE = 60_000
TEXT = "Research competitor pricing for the Pro plan.\nSummarise in a table: vendor, price, seats."

CASES = [
    ("typical.stdin.json", "claimed.stdout"),
    ("extra-fields.stdin.json", "claimed.stdout"),
    ("empty.stdin", "empty.stdout"),
    ("garbage.stdin", "garbage.stdout"),
    ("array.stdin.json", "array.stdout"),
    ("no-session.stdin.json", "no-session.stdout"),
]


def carry(src: Any, dst: Any) -> None:
    exported = src.cli("export", "-")
    assert exported.code == 0, exported
    imported = dst.cli("import", "-", stdin=exported.out.encode("utf-8"))
    assert imported.code == 0, imported


@pytest.fixture
def scene(gregor: Any, tex: Any, introduce: Callable[..., None], tmp_path: Path) -> dict[str, Any]:
    introduce(gregor, tex)
    now = time.time_ns() // 1_000_000
    with tex.space(clock=lambda: now - 12 * MINUTE) as space:
        task = app_tasks.request(
            space, "gregor-claude", TEXT, tags=("research", "pricing"), effort=3, tokens=20_000, priority="A"
        ).task_id
    sent = tex.cli("send", "@gregor", "Lunch at noon?", "--json")
    assert sent.code == 0, sent
    message = json.loads(sent.out)["data"]["id"]
    carry(tex, gregor)
    env = {
        **os.environ,
        "DATACORE_ROOT": str(gregor.root),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
    }
    log = tmp_path / "xdg-state" / "datacore-msg" / "hook.log"
    return {"env": env, "now": now, "TASK": task, "MSG": message, "LOG": str(log)}


def expected(name: str, scene: dict[str, Any]) -> str:
    text = (GOLDEN / name).read_text(encoding="utf-8").rstrip("\n")
    for key in ("TASK", "MSG", "LOG"):
        text = text.replace("{" + key + "}", scene[key])
    return text


def generalised(output: str, scene: dict[str, Any]) -> str:
    for key in ("TASK", "MSG", "LOG"):
        output = output.replace(scene[key], "{" + key + "}")
    return output


@pytest.mark.parametrize(("stdin", "stdout"), CASES)
def test_recorded_payload_gives_the_recorded_output(stdin: str, stdout: str, scene: dict[str, Any]) -> None:
    raw = (GOLDEN / stdin).read_bytes()
    outcome = prompt(Args(), raw, scene["env"], scene["now"], "datacore-msg")
    if os.environ.get("UPDATE_GOLDEN"):
        (GOLDEN / stdout).write_text(generalised(outcome.stdout, scene) + "\n", encoding="utf-8")
    assert outcome.exit_code == 0
    assert outcome.stdout == expected(stdout, scene)
    assert len(outcome.stdout) < 10_000
    json.loads(outcome.stdout)


def test_the_second_prompt_of_a_session_prints_nothing(scene: dict[str, Any]) -> None:
    raw = (GOLDEN / "typical.stdin.json").read_bytes()
    first = prompt(Args(), raw, scene["env"], scene["now"], "datacore-msg")
    assert "has claimed task" in first.stdout
    second = prompt(Args(), raw, scene["env"], scene["now"] + MINUTE, "datacore-msg")
    assert second == (("", 0))


def test_a_failure_notice_is_shown_once_per_session(scene: dict[str, Any]) -> None:
    env = {**scene["env"], "DATACORE_ROOT": str(Path(scene["LOG"]).parent / "no-such-root")}
    raw = (GOLDEN / "typical.stdin.json").read_bytes()
    first = prompt(Args(), raw, env, scene["now"], "datacore-msg")
    assert json.loads(first.stdout)["systemMessage"].startswith("datacore-msg hook: ")
    assert "not set up" in first.stdout and first.exit_code == 0
    assert prompt(Args(), raw, env, scene["now"], "datacore-msg") == ("", 0)
    assert "not set up" in Path(scene["LOG"]).read_text(encoding="utf-8")
