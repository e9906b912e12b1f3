"""Lookalike names: an attacker's key, pinned nowhere, writes as ``tex.``, ``Tex`` and ``tex``.

gregor has tex pinned (tier team). mallory's installation signs messages and task requests with its
own throwaway key under names that read like tex's; gregor imports them, as he would a teammate's
file. Wherever gregor's installation shows such a sender — the org views (read back with orgparse),
``inbox``, ``show``, ``tasks``, ``task show`` (human and ``--json``) and the prompt hook run as Claude
Code runs it — the name is marked unverified, and ``tex.`` / ``Tex`` are flagged as looking like tex.
The real tex's messages and task are shown exactly as before. A message under the pinned name itself
from the wrong key is not shown at all; a task under it is shown, marked unverified.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orgparse
import pytest
import yaml

from datacore_msg.app.ids import new_message_id, new_task_id
from datacore_msg.eventlog.payloads import MessageSent, TaskRequested
from peers import carry, data, ok, spoof, wall_ms

AGENT = "gregor-claude"
LOOKALIKES = ("tex.", "Tex")
WRONG_KEY = "tex"
MARK = "(unverified; looks like tex)"


def nodes(path: Path) -> dict[str, Any]:
    return {node.properties["ID"]: node for node in orgparse.load(str(path))[1:]}


EMACS = shutil.which("emacs")
#: Per headline, as Emacs's org-element reads it: title, keyword, tags and the drawer's properties.
EMACS_HEADINGS = r"""
(require 'org)
(require 'org-element)
(require 'json)
(defun dm-headings (file out)
  (with-current-buffer (find-file-noselect file)
    (let ((heads (org-element-map (org-element-parse-buffer) 'headline
                   (lambda (h)
                     (list (cons "title" (org-element-property :raw-value h))
                           (cons "todo" (org-element-property :todo-keyword h))
                           (cons "tags" (vconcat (org-element-property :tags h)))
                           (cons "props" (org-element-map h 'node-property
                                           (lambda (p) (cons (org-element-property :key p)
                                                             (org-element-property :value p))))))))))
      (with-temp-file out (insert (json-encode (vconcat heads)))))))
"""


def emacs_headings(path: Path, tmp: Path) -> dict[str, dict[str, Any]]:
    assert EMACS is not None
    script, out = tmp / "headings.el", tmp / f"{path.name}.json"
    script.write_text(EMACS_HEADINGS, encoding="utf-8")
    form = f"(dm-headings {json.dumps(str(path))} {json.dumps(str(out))})"
    proc = subprocess.run(
        [EMACS, "--batch", "-Q", "-l", str(script), "--eval", form],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    heads = json.loads(out.read_text(encoding="utf-8"))
    return {head["props"]["ID"]: head for head in heads}


def hook(inst: Any, tmp_path: Path, session: str) -> str:
    """The prompt hook as Claude Code runs it: its own process, JSON on stdin, another folder."""
    env = inst.env()
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    cwd = tmp_path / "project"
    cwd.mkdir(exist_ok=True)
    stdin = json.dumps({"session_id": session, "hook_event_name": "UserPromptSubmit", "prompt": "next?"})
    proc = subprocess.run(
        [sys.executable, "-m", "datacore_msg", "hook", "prompt"],
        input=stdin.encode(),
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc
    text: str = json.loads(proc.stdout)["hookSpecificOutput"]["additionalContext"]
    return text


@attrs.frozen
class Scene:
    gregor: Any
    real_message: str
    real_task: str
    messages: dict[str, str]  # per name mallory wrote under, its message id
    tasks: dict[str, str]  # and its task id


@pytest.fixture
def scene(make_installation: Callable[..., Any], introduce: Callable[..., None]) -> Scene:
    """tex's message and task, and mallory's under each name, imported by gregor (who pins tex)."""
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    # Four requests from one unpinned key: more than the unpinned queue caps allow by default
    # (tests/security/test_queue_flood.py); here they are about names, so the caps are lifted.
    settings = gregor.root / ".datacore" / "settings.local.yaml"
    loaded = yaml.safe_load(settings.read_text(encoding="utf-8"))
    loaded["messaging"]["compute"] = {"unpinned_queue_per_key": 0, "unpinned_queue_total": 0}
    settings.write_text(yaml.safe_dump(loaded, sort_keys=False), encoding="utf-8")
    real_message = data(tex, "send", "@gregor", "real message")["id"]
    real_task = data(tex, "send", f"@{AGENT}", "real task")["id"]
    carry(tex, gregor)
    messages: dict[str, str] = {}
    tasks: dict[str, str] = {}
    for name in (*LOOKALIKES, WRONG_KEY):
        message_id = new_message_id(wall_ms())
        spoof(mallory, name, MessageSent(id=message_id, sender=name, to="gregor", text=f"message as {name}"))
        messages[name] = message_id
        task_id = new_task_id(wall_ms())
        spoof(mallory, name, TaskRequested(id=task_id, sender=name, to=AGENT, text=f"task as {name}"))
        tasks[name] = task_id
    carry(mallory, gregor)
    return Scene(gregor, real_message, real_task, messages, tasks)


def test_the_views_mark_them_and_read_back_with_orgparse(scene: Scene) -> None:
    gregor, messages, tasks = scene.gregor, scene.messages, scene.tasks
    inbox = nodes(gregor.views / "inbox.org")
    real = inbox[scene.real_message]
    assert real.properties["FROM"] == "tex"
    assert "VERIFIED" not in real.properties and "LOOKS_LIKE" not in real.properties
    assert real.shallow_tags == {"unread", "message"}
    assert "From" not in real.heading
    for name in LOOKALIKES:
        node = inbox[messages[name]]
        assert node.properties["FROM"] == name
        assert (node.properties["VERIFIED"], node.properties["LOOKS_LIKE"]) == ("no", "tex")
        assert node.heading.endswith(f"From {name} {MARK}"), node.heading
        assert node.shallow_tags == {"unread", "message", "unverified", "lookalike"}
        assert node.todo == "TODO"
    assert messages[WRONG_KEY] not in inbox  # the pinned name from another key: not shown at all

    agent = nodes(gregor.views / f"agents/{AGENT}.org")
    real = agent[scene.real_task]
    assert (real.heading, real.properties["FROM"]) == ("real task", "tex")
    assert real.properties["TRUST_TIER"] == "team"
    assert "VERIFIED" not in real.properties and not real.shallow_tags
    for name in LOOKALIKES:
        node = agent[tasks[name]]
        assert node.heading == f"From {name} {MARK}: task as {name}"
        assert (node.properties["FROM"], node.properties["TRUST_TIER"]) == (name, "unknown")
        assert (node.properties["VERIFIED"], node.properties["LOOKS_LIKE"]) == ("no", "tex")
        assert node.shallow_tags == {"unverified", "lookalike"}
    node = agent[tasks[WRONG_KEY]]
    assert node.heading == "From tex (unverified): task as tex"
    assert node.properties["VERIFIED"] == "no" and "LOOKS_LIKE" not in node.properties
    assert node.shallow_tags == {"unverified"}
    assert ok(gregor.cli("rebuild", "--check"))


def test_inbox_and_show_mark_them(scene: Scene) -> None:
    gregor, messages = scene.gregor, scene.messages
    lines = {line.split()[0]: line for line in ok(gregor.cli("inbox")).out.splitlines()}
    assert "unread   tex → gregor: real message" in lines[scene.real_message]
    for name in LOOKALIKES:
        assert f"unread   {name} {MARK} → gregor: message as {name}" in lines[messages[name]]
    assert messages[WRONG_KEY] not in lines
    listed = {item["id"]: item for item in data(gregor, "inbox")}
    assert "verified" not in listed[scene.real_message] and "looks_like" not in listed[scene.real_message]
    for name in LOOKALIKES:
        item = listed[messages[name]]
        assert (item["from"], item["verified"], item["looks_like"]) == (name, False, "tex")
    assert "  from:     tex\n" in ok(gregor.cli("show", scene.real_message)).out
    for name in LOOKALIKES:
        assert f"  from:     {name} {MARK}\n" in ok(gregor.cli("show", messages[name])).out
        shown = data(gregor, "show", messages[name])
        assert (shown["verified"], shown["looks_like"]) == (False, "tex")


def test_tasks_and_task_show_mark_them(scene: Scene) -> None:
    gregor, tasks = scene.gregor, scene.tasks
    lines = {line.split()[0]: line for line in ok(gregor.cli("tasks")).out.splitlines()}
    assert f"  tex (team) → {AGENT}: real task" in lines[scene.real_task]
    for name in LOOKALIKES:
        assert f"  {name} {MARK} (unknown) → {AGENT}: task as {name}" in lines[tasks[name]]
    assert f"  tex (unverified) (unknown) → {AGENT}: task as tex" in lines[tasks[WRONG_KEY]]
    listed = {item["id"]: item for item in data(gregor, "tasks")}
    assert "verified" not in listed[scene.real_task]
    for name in LOOKALIKES:
        assert (listed[tasks[name]]["verified"], listed[tasks[name]]["looks_like"]) == (False, "tex")
    assert (listed[tasks[WRONG_KEY]]["verified"], listed[tasks[WRONG_KEY]]["looks_like"]) == (False, None)
    assert "  from:         tex\n" in ok(gregor.cli("task", "show", scene.real_task)).out
    assert "  from:         tex (unverified)\n" in ok(gregor.cli("task", "show", tasks[WRONG_KEY])).out
    assert f"  from:         Tex {MARK}\n" in ok(gregor.cli("task", "show", tasks["Tex"])).out


def test_the_prompt_hook_marks_them(scene: Scene, tmp_path: Path) -> None:
    gregor, tasks = scene.gregor, scene.tasks
    first = hook(gregor, tmp_path, "session-1")
    assert f"gregor-claude has claimed task {scene.real_task}" in first
    assert "From: tex (trust tier team)." in first  # the real tex, as before
    for name in LOOKALIKES:
        assert f"{tasks[name]} from {name} {MARK}, trust tier unknown" in first
    # the hook's rows name a request under a pinned name from another key by its own budget account
    wrong = rf"{tasks[WRONG_KEY]} from tex~[0-9a-f]{{12}} \(unverified\), trust tier unknown"
    assert re.search(wrong, first), first
    assert f"1 from tex, 1 from tex. {MARK}, 1 from Tex {MARK}" in first
    # gregor lets the Tex request through; the hook hands it over, saying whose it is not
    ok(gregor.cli("task", "complete", scene.real_task, "--tokens", "10"))
    ok(gregor.cli("task", "approve", tasks["Tex"]))
    second = hook(gregor, tmp_path, "session-1")
    assert f"gregor-claude has claimed task {tasks['Tex']}" in second
    assert "From: Tex (unverified; looks like tex; trust tier unknown)." in second
    assert "No key pinned for the name Tex signed it: the name is not verified." in second
    assert "Tex is not tex; the name only looks like it." in second


def test_pinning_a_second_lookalike_name_points_out_both(
    make_installation: Callable[..., Any], introduce: Callable[..., None]
) -> None:
    """Pinning a key for ``Tex`` re-folds the views: its messages are verified, and since two pinned
    names now pass for each other, both are flagged."""
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    other = make_installation("Tex", label="other-tex")
    introduce(gregor, tex)
    real = data(tex, "send", "@gregor", "from tex")["id"]
    lookalike = data(other, "send", "@gregor", "from Tex")["id"]
    carry(tex, gregor)
    carry(other, gregor)
    inbox = nodes(gregor.views / "inbox.org")
    assert "VERIFIED" not in inbox[real].properties
    assert inbox[lookalike].properties["VERIFIED"] == "no"

    gregor.pin(other)
    inbox = nodes(gregor.views / "inbox.org")
    props = inbox[lookalike].properties
    assert (props["VERIFIED"], props["LOOKS_LIKE"]) == ("yes", "tex")
    assert inbox[lookalike].heading.endswith("From Tex (looks like tex)")
    assert (inbox[real].properties["VERIFIED"], inbox[real].properties["LOOKS_LIKE"]) == ("yes", "Tex")
    assert inbox[real].shallow_tags == {"unread", "message", "lookalike"}
    assert ok(gregor.cli("rebuild", "--check"))


@pytest.mark.emacs
@pytest.mark.skipif(EMACS is None, reason="emacs not installed")
def test_emacs_reads_the_marks_as_heading_text_tags_and_properties(
    make_installation: Callable[..., Any], introduce: Callable[..., None], tmp_path: Path
) -> None:
    gregor = make_installation("gregor")
    tex = make_installation("tex")
    mallory = make_installation("mallory")
    introduce(gregor, tex)
    real = data(tex, "send", "@gregor", "from tex")["id"]
    carry(tex, gregor)
    message_id, task_id = new_message_id(wall_ms()), new_task_id(wall_ms())
    spoof(mallory, "Tex", MessageSent(id=message_id, sender="Tex", to="gregor", text="hi"))
    spoof(mallory, "Tex", TaskRequested(id=task_id, sender="Tex", to=AGENT, text="do it", tags=("x",)))
    carry(mallory, gregor)

    inbox = emacs_headings(gregor.views / "inbox.org", tmp_path)
    assert inbox[real]["tags"] == ["unread", "message"]
    assert "VERIFIED" not in inbox[real]["props"]
    head = inbox[message_id]
    assert head["title"].endswith(f"From Tex {MARK}") and head["todo"] == "TODO"
    assert head["tags"] == ["unread", "message", "unverified", "lookalike"]
    props = head["props"]
    assert (props["FROM"], props["VERIFIED"], props["LOOKS_LIKE"]) == ("Tex", "no", "tex")
    head = emacs_headings(gregor.views / f"agents/{AGENT}.org", tmp_path)[task_id]
    assert (head["title"], head["todo"]) == (f"From Tex {MARK}: do it", "WAITING")
    assert head["tags"] == ["x", "unverified", "lookalike"]
    assert (head["props"]["VERIFIED"], head["props"]["LOOKS_LIKE"]) == ("no", "tex")
