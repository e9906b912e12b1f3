"""The agent view as users and tools read it: hostile task texts, tags and reasons, sent through the
real CLI of real installations, read back with orgparse and with Emacs org-mode.

Every task must be exactly one heading whose title is the safe title of its text, whose tags are
exactly the request's tags and whose properties are the ones written (reasons as one safe line); the
LOGBOOK drawer is a closed drawer holding only the history; the body decodes to the exact text. No
text may add a heading, drawer, property, keyword, clock line or state note, change the file's TODO
keywords, or take Emacs over through file-local variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orgparse
import pytest
import yaml

from datacore_msg.projections.orgtext import decode_body, safe_line, safe_title
from datacore_msg.projections.render import FILE_HEADER

AGENT = "gregor-claude"
AGENT_FILE = f"agents/{AGENT}.org"
TODO_KEYS = ["TODO", "WAITING", "QUEUED", "WORKING"]
DONE_KEYS = ["DONE", "CANCELLED", "ARCHIVED"]
KEYWORD_OF = {"REQUESTED": "WAITING"}  # an undecided request shows as WAITING

LOCAL_VARIABLES = "Local Variables:\nmode: fundamental\ncoding: latin-1\neval: (setq datacore-pwned t)\nEnd:"
SIXTY_FOUR_KIB = ("0123456789abcdef" * 64 + "\n") * 63 + "z" * (64 * 1024 - 63 * 1025)
assert len(SIXTY_FOUR_KIB.encode("utf-8")) == 64 * 1024

#: (text, tags) of the owner's own requests (``@claude``). The Local Variables one is sent last, so
#: that it ends the live file, where Emacs looks for such a block.
OWN_TASKS: list[tuple[str, tuple[str, ...]]] = [
    ("first line\nsecond line\n", ("urgent",)),
    ("* TODO injected heading :evil:\n** sub heading\n*** deeper", ("a_b", "x@y")),
    ("*** stars only", ()),
    ("subject with tags :tag1:tag2:", ("real",)),
    (":END:\n:PROPERTIES:\n:ID: fake-id\n:FROM: mallory\n:END:", ("drawer",)),
    ("#+TODO: PWNED | GONE\n#+STARTUP: showeverything\n#+SETUPFILE: https://example.com/x.org", ()),
    ("CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00", ("clock",)),
    ('- State "DONE"       from "TODO"       [2026-01-01 Thu 10:00]', ()),
    (":LOGBOOK:\n- Note taken on [2026-01-01 Thu 10:00] \\\\\n  fake\n:END:", ("logbook",)),
    ("line\u2028separator\u2029paragraph", ()),
    ("nul\x00byte and esc \x1b[31m", ("ctl",)),
    ("TODO [#A] looks like a keyword", ()),
    ("COMMENT secret", ()),
    ("\n\n   \n  leading blank lines\n\n", ()),
    ("CLOSED: [2026-01-01 Thu 10:00]\nSCHEDULED: <2026-01-02 Fri>", ()),
    (SIXTY_FOUR_KIB, ("big",)),
    (LOCAL_VARIABLES, ("lv",)),
]

HOSTILE_REASONS = {
    "retry": "#+TODO: A | B\nCLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00",
    "revise": ':end:\n- State "DONE" from "TODO" [2026-01-01 Thu 10:00]\n* heading',
    "cancel": "gone\u2028for good\x00:END:",
    "approve": ":END:\n* TODO x :tag:",
    "reject": "no\n:END:\n:PROPERTIES:\n:ID: x\n:END:",
}

TIMESTAMP = re.compile(r"\[\d{4}-\d{2}-\d{2} [A-Z][a-z]{2} \d{2}:\d{2}\]")
TIMESTAMP_KEYS = ("SUBMITTED", "CREATED", "STARTED", "COMPLETED")


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def send_task(inst: Any, text: str, tags: tuple[str, ...], to: str = "@claude") -> str:
    tag_args = [arg for tag in tags for arg in ("--tag", tag)]
    if "\x00" in text or len(text) > 1000:  # through standard input; the rest as an argument
        result = inst.cli("send", to, "-", *tag_args, "--json", stdin=text.encode("utf-8"))
    else:
        result = inst.cli("send", to, *tag_args, "--json", "--", text)
    return str(json.loads(ok(result).out)["data"]["id"])


def carry(src: Any, dst: Any) -> None:
    exported = ok(src.cli("export", "-"))
    ok(dst.cli("import", "-", stdin=exported.out.encode("utf-8")))


def show(inst: Any, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(inst.cli("task", "show", task_id, "--json")).out)["data"]
    return data


def relax_governor(inst: Any) -> None:
    path = inst.root / ".datacore" / "settings.local.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["messaging"]["compute"] = {"cooldown_between_tasks": 0, "max_queue_depth": 0}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def expected_properties(task: dict[str, Any]) -> dict[str, str | None]:
    """The properties of a task's heading: the exact value, or None for a timestamp."""
    props: dict[str, str | None] = {"ID": task["id"], "FROM": task["from"]}
    if task["tier"] is not None:
        props["TRUST_TIER"] = task["tier"]
    props["SUBMITTED"] = None
    if task["state"] == "REQUESTED":
        props["AWAITING"] = "governor"
    elif task["state"] == "WAITING":
        props["AWAITING"] = "owner-approval"
    if task["approval"] is not None:
        props["APPROVAL"] = task["approval"]
    if task["effort"] is not None:
        props["EFFORT"] = str(task["effort"])
    if task["estimated_tokens"] is not None:
        props["ESTIMATED_TOKENS"] = str(task["estimated_tokens"])
        props["ESTIMATED_COST"] = None
    props["CREATED"] = None
    if task["started"] is not None:
        props["STARTED"] = None
    if task["completed"] is not None:
        props["COMPLETED"] = None
        props["TOKENS_USED"] = str(task["tokens_used"])
        props["COST"] = task["cost"]
        if task["result"] is not None:
            props["RESULT_PATH"] = safe_line(task["result"], 200)
        if task["quality"] is not None:
            props["QUALITY_SCORE"] = task["quality"]
    if task["retry_count"]:
        props["RETRY_COUNT"] = str(task["retry_count"])
    for name, key in (
        ("RETRY_REASON", "retry_reason"),
        ("REVISION_FEEDBACK", "revision_feedback"),
        ("REJECTION_REASON", "rejection_reason"),
        ("CANCELLATION_REASON", "cancellation_reason"),
    ):
        if task[key] is not None:
            props[name] = safe_line(task[key])
    return props


def check_properties(actual: dict[str, Any], task: dict[str, Any], ordered: bool = True) -> None:
    """``actual`` holds exactly the expected properties (in the written order, if ``ordered``)."""
    expected = expected_properties(task)
    if ordered:
        assert list(actual) == list(expected), (task["id"], actual)
    else:
        assert sorted(actual) == sorted(expected), (task["id"], actual)
    for name, value in expected.items():
        if name in TIMESTAMP_KEYS:
            assert TIMESTAMP.fullmatch(actual[name]), (name, actual[name])
        elif value is not None:
            assert actual[name] == value, (task["id"], name, actual[name], value)


def logbook_lines(task: dict[str, Any]) -> int:
    return 2 * len(task["history"])


# -- the scenario ------------------------------------------------------------------------------


@pytest.fixture
def scenario(make_installation: Callable[..., Any]) -> dict[str, Any]:
    """gregor's own hostile requests and tex's (pinned as trusted, so they wait for approval), moved
    through their life cycle with hostile reasons, all through the CLI."""
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    tex = make_installation("tex")
    gregor.pin(tex, tier="trusted")
    tex.pin(gregor, tier="team")
    relax_governor(gregor)
    own = [send_task(gregor, text, tags) for text, tags in OWN_TASKS[:-1]]
    to_approve = send_task(tex, "tex: * please :x:\n:END:", ("from_tex",), to=f"@{AGENT}")
    to_reject = send_task(tex, "tex: reject me\n#+TODO: X", (), to=f"@{AGENT}")
    waiting = send_task(tex, "tex: still waiting", ("w",), to=f"@{AGENT}")
    carry(tex, gregor)
    ok(gregor.cli("task", "approve", to_approve, "--reason", HOSTILE_REASONS["approve"]))
    ok(gregor.cli("task", "reject", to_reject, "--reason", HOSTILE_REASONS["reject"]))
    # retry, then complete and revise, one task; another cancelled; another done
    ok(gregor.cli("task", "claim", own[0]))
    ok(gregor.cli("task", "retry", own[0], "--reason", HOSTILE_REASONS["retry"]))
    ok(gregor.cli("task", "claim", own[0]))
    ok(gregor.cli("task", "complete", own[0], "--tokens", "1234", "--result", "out/r.md", "--quality", "0.5"))
    ok(gregor.cli("task", "revise", own[0], "--reason", HOSTILE_REASONS["revise"]))
    ok(gregor.cli("task", "cancel", own[1], "--reason", HOSTILE_REASONS["cancel"]))
    ok(gregor.cli("task", "claim", own[4]))
    ok(gregor.cli("task", "complete", own[4], "--tokens", "7"))
    ok(gregor.cli("task", "claim", own[8]))
    own.append(send_task(gregor, *OWN_TASKS[-1]))
    texts = {task_id: text for task_id, (text, _) in zip(own, OWN_TASKS, strict=True)}
    tags = {task_id: tags for task_id, (_, tags) in zip(own, OWN_TASKS, strict=True)}
    texts |= {
        to_approve: "tex: * please :x:\n:END:",
        to_reject: "tex: reject me\n#+TODO: X",
        waiting: "tex: still waiting",
    }
    tags |= {to_approve: ("from_tex",), to_reject: (), waiting: ("w",)}
    tasks = {task_id: show(gregor, task_id) for task_id in texts}
    for task_id, text in texts.items():
        assert tasks[task_id]["text"] == text
        assert tuple(tasks[task_id]["tags"]) == tags[task_id]
    states = {tasks[t]["state"] for t in texts}
    assert states == {"QUEUED", "WORKING", "DONE", "WAITING", "CANCELLED"}
    files = [gregor.views / AGENT_FILE, *sorted((gregor.views / "archive").glob("agents-*.org_archive"))]
    assert len(files) == 2  # the live view and one month's archive (the cancelled and rejected)
    ok(gregor.cli("rebuild", "--check"))
    return {"inst": gregor, "texts": texts, "tags": tags, "tasks": tasks, "files": files}


def body_after_drawers(lines: list[str]) -> tuple[list[str], list[str] | None]:
    """Split an entry's lines (after the heading) into its LOGBOOK's lines (None without one) and
    its body lines, checking the drawers on the way: planning, properties, then the LOGBOOK."""
    at = 0
    if lines and lines[0].startswith("  CLOSED: "):
        at = 1
    assert lines[at] == "  :PROPERTIES:"
    at = lines.index("  :END:", at) + 1
    logbook = None
    if at < len(lines) and lines[at] == "  :LOGBOOK:":
        end = lines.index("  :END:", at)
        logbook = lines[at + 1 : end]
        at = end + 1
    return lines[at:], logbook


LOGBOOK_LINE = re.compile(
    r'  - (State "[A-Z]+" +from "[A-Z]+" +|Superseded [a-z]+ by \S+ )\[[^\]]+\] \\\\'
    r"|    \S.*"
)


def check_logbook(logbook: list[str] | None, task: dict[str, Any]) -> None:
    history = task["history"]
    if not history:
        assert logbook is None
        return
    assert logbook is not None and len(logbook) == logbook_lines(task)
    for line in logbook:
        assert LOGBOOK_LINE.fullmatch(line), line
    for change, (head, detail) in zip(history, zip(logbook[::2], logbook[1::2], strict=True), strict=True):
        if change["superseded"] is None:
            assert head.startswith(f'  - State "{change["to"]}"'), head
            assert detail.startswith(f"    {change['actor']} ({change['action']})"), detail
            if change["note"] is not None:
                assert detail.endswith(": " + safe_line(change["note"], 160)), detail
        else:
            assert head.startswith(f"  - Superseded {change['action']} by {change['actor']} "), head


def test_orgparse_reads_back_every_task(scenario: dict[str, Any]) -> None:
    texts, tags, tasks = scenario["texts"], scenario["tags"], scenario["tasks"]
    seen: dict[str, str] = {}
    for path in scenario["files"]:
        raw = path.read_bytes()
        assert b"\r" not in raw and b"\x00" not in raw
        root = orgparse.load(str(path))
        assert root.env.todo_keys == TODO_KEYS
        assert root.env.done_keys == DONE_KEYS
        assert root.get_file_property_list("TODO") == [FILE_HEADER.removeprefix("#+TODO: ").strip()]
        # exactly the task headings: every "* " line of the file is one of ours
        headings = [line for line in raw.decode("utf-8").split("\n") if line.startswith("*")]
        assert len(headings) == len(list(root[1:])) == len(root.children)
        for node in root[1:]:
            task_id = node.properties["ID"]
            assert task_id not in seen, task_id
            seen[task_id] = path.name
            task, text = tasks[task_id], texts[task_id]
            assert node.level == 1
            assert node.children == []
            assert node.todo == KEYWORD_OF.get(task["state"], task["state"])
            assert node.heading == safe_title(text)
            assert node.shallow_tags == set(tags[task_id])
            assert node.priority is None
            check_properties(node.properties, task)
            assert node.clock == []
            applied = [c for c in task["history"] if c["superseded"] is None]
            assert len(node.repeated_tasks) == len(applied)  # the LOGBOOK's own state notes, no more
            assert bool(node.closed) == (task["state"] in ("CANCELLED", "ARCHIVED"))
            assert not node.scheduled and not node.deadline
            lines = str(node).split("\n")[1:]
            body, logbook = body_after_drawers(lines)
            check_logbook(logbook, task)
            if body and body[-1] == "" and not text.endswith("\n"):
                body = body[:-1]  # the file's last line end
            assert decode_body(body) == text, task_id
    assert set(seen) == set(texts)
    cancelled = {t for t, task in tasks.items() if task["state"] == "CANCELLED"}
    assert {t for t, name in seen.items() if name.endswith(".org_archive")} == cancelled


# -- Emacs ---------------------------------------------------------------------------------------

EMACS_SCRIPT = r""";;; -*- lexical-binding: t -*-
(require 'org)
(require 'org-element)
(require 'json)
(require 'seq)

;; Should the escaping ever fail, hostile file-local variables take effect instead of being asked about.
(setq enable-local-variables :all
      enable-local-eval t)

(defconst dc-types
  '(headline inlinetask keyword babel-call clock planning drawer property-drawer node-property
    src-block example-block export-block comment-block special-block quote-block verse-block
    center-block dynamic-block comment diary-sexp footnote-definition fixed-width))

(defun dc-entry ()
  (let* ((hl (org-element-at-point))
         (block (org-get-property-block))
         (props (seq-remove (lambda (p) (equal (car p) "CATEGORY"))
                            (org-entry-properties nil 'standard)))
         (logbook nil)
         (body-start nil))
    (when block
      (save-excursion
        (goto-char (cdr block))
        (forward-line 1)
        (let ((el (org-element-at-point)))
          (when (and (eq (org-element-type el) 'drawer)
                     (equal (org-element-property :drawer-name el) "LOGBOOK"))
            (setq logbook (buffer-substring-no-properties
                           (org-element-property :contents-begin el)
                           (org-element-property :contents-end el)))
            (goto-char (org-element-property :contents-end el))
            (forward-line 1)))
        (setq body-start (point))))
    (list :title (org-element-property :raw-value hl)
          :level (org-element-property :level hl)
          :todo (org-get-todo-state)
          :tags (vconcat (org-get-tags nil t))
          :priority (org-element-property :priority hl)
          :commented (if (org-element-property :commentedp hl) t :json-false)
          :closed (org-entry-get nil "CLOSED")
          :scheduled (org-entry-get nil "SCHEDULED")
          :deadline (org-entry-get nil "DEADLINE")
          :properties (vconcat (mapcar (lambda (p) (vector (car p) (cdr p))) props))
          :logbook logbook
          :body (and body-start
                     (buffer-substring-no-properties body-start (org-entry-end-position))))))

(defun dc-report (path)
  (with-current-buffer (find-file-noselect path)
    (let ((visit (list :coding (symbol-name buffer-file-coding-system)
                       :mode (symbol-name major-mode)
                       :local-variables (format "%S" file-local-variables-alist)
                       :pwned (if (boundp 'datacore-pwned) t :json-false)
                       :text (buffer-substring-no-properties (point-min) (point-max)))))
      (if (not (derived-mode-p 'org-mode))
          visit
        (let ((tree (org-element-parse-buffer)))
          (append
           visit
           (list :todo-keywords (vconcat org-todo-keywords-1)
                 :counts (apply #'append
                                (mapcar (lambda (type)
                                          (list (intern (format ":%s" type))
                                                (length (org-element-map tree type #'identity))))
                                        dc-types))
                 :drawers (vconcat (org-element-map tree 'drawer
                                     (lambda (d) (org-element-property :drawer-name d))))
                 :entries (vconcat (org-map-entries #'dc-entry)))))))))

(let* ((out (car command-line-args-left))
       (files (cdr command-line-args-left))
       (reports (mapcar #'dc-report files)))
  (setq command-line-args-left nil)
  (let ((coding-system-for-write 'utf-8-unix))
    (write-region (json-encode (vconcat reports)) nil out nil 'silent)))
"""


@pytest.fixture
def emacs() -> str:
    path = shutil.which("emacs")
    if path is None:
        pytest.skip("emacs is not on PATH (install emacs-nox to run the org-mode checks)")
    return path


def emacs_read(emacs: str, files: list[Path], tmp: Path) -> list[dict[str, Any]]:
    script = tmp / "report.el"
    script.write_text(EMACS_SCRIPT, encoding="utf-8")
    out = tmp / "report.json"
    proc = subprocess.run(
        [emacs, "--batch", "-Q", "-l", str(script), str(out), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env={**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(tmp)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
    return reports


@pytest.mark.emacs
def test_emacs_reads_back_every_task(emacs: str, scenario: dict[str, Any], tmp_path: Path) -> None:
    texts, tags, tasks = scenario["texts"], scenario["tags"], scenario["tasks"]
    reports = emacs_read(emacs, scenario["files"], tmp_path)
    seen: set[str] = set()
    for path, report in zip(scenario["files"], reports, strict=True):
        ascii_only = path.read_bytes().isascii()
        assert report["coding"] in (("undecided-unix", "us-ascii-unix") if ascii_only else ("utf-8-unix",))
        assert report["mode"] == "org-mode"
        assert report["local-variables"] in ("nil", "((mode . org))")
        assert report["pwned"] is False
        assert report["text"] == path.read_text(encoding="utf-8")  # decoded exactly as written
        assert report["todo-keywords"] == TODO_KEYS + DONE_KEYS
        entries = report["entries"]
        n = len(entries)
        with_history = sum(1 for e in entries if tasks[dict(e["properties"])["ID"]]["history"])
        closed = sum(1 for e in entries if e["closed"] is not None)
        counts = report["counts"]
        expected = dict.fromkeys(counts, 0)
        expected.update(
            headline=n,
            keyword=1,
            **{"property-drawer": n, "node-property": sum(len(e["properties"]) for e in entries)},
            drawer=with_history,
            planning=closed,
            comment=1 if path.suffix == ".org_archive" else 0,  # the archive's "-*- mode: org -*-" line
        )
        assert counts == expected
        assert report["drawers"] == ["LOGBOOK"] * with_history
        for entry in entries:
            props = dict(entry["properties"])
            task_id = props["ID"]
            seen.add(task_id)
            task, text = tasks[task_id], texts[task_id]
            assert entry["level"] == 1
            assert entry["todo"] == KEYWORD_OF.get(task["state"], task["state"])
            assert entry["title"] == safe_title(text)
            assert entry["tags"] == list(tags[task_id])
            assert entry["priority"] is None
            assert entry["commented"] is False
            assert entry["scheduled"] is None and entry["deadline"] is None
            assert (entry["closed"] is not None) == (task["state"] in ("CANCELLED", "ARCHIVED"))
            check_properties(props, task, ordered=False)  # org-entry-properties has its own order
            if task["history"]:
                assert entry["logbook"] is not None, task_id  # a drawer, closed where it should be
                check_logbook(entry["logbook"].removesuffix("\n").split("\n"), task)
            else:
                assert entry["logbook"] is None
            region: str = entry["body"]
            lines = region.removesuffix("\n").split("\n") if region else []
            assert decode_body(lines) == text, task_id
    assert seen == set(texts)


# -- found while writing these tests ---------------------------------------------------------------


def test_reasons_quoting_clock_lines_and_state_notes_stay_data(make_installation: Callable[..., Any]) -> None:
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    clock_line = "CLOCK: [2026-01-01 Thu 10:00]--[2026-01-01 Thu 11:00] =>  1:00"
    state_note = 'see - State "DONE"       from "TODO"       [2026-01-01 Thu 10:00]'
    task_id = send_task(gregor, "quoting in reasons", ())
    ok(gregor.cli("task", "claim", task_id))
    ok(gregor.cli("task", "retry", task_id, "--reason", clock_line))
    ok(gregor.cli("task", "claim", task_id))
    ok(gregor.cli("task", "complete", task_id, "--tokens", "1"))
    ok(gregor.cli("task", "revise", task_id, "--reason", state_note))
    task = show(gregor, task_id)
    (node,) = orgparse.load(str(gregor.views / AGENT_FILE))[1:]
    problems = []
    if node.properties.get("RETRY_REASON") != safe_line(clock_line):
        problems.append(f"RETRY_REASON read as {node.properties.get('RETRY_REASON')!r}")
    if node.clock:
        problems.append(f"clock entries {node.clock}")
    applied = [c for c in task["history"] if c["superseded"] is None]
    if len(node.repeated_tasks) != len(applied):
        problems.append(f"{len(node.repeated_tasks)} state changes read, {len(applied)} made")
    assert problems == []


@pytest.mark.parametrize("tag", ["#hash", "50%"])
def test_tags_orgparse_cannot_read_are_refused(make_installation: Callable[..., Any], tag: str) -> None:
    """Emacs takes ``#`` and ``%`` in tags, orgparse does not (``[\\w@]+``): such a tag would stay in
    the heading for one reader and lose the tags before it, so ``--tag`` refuses it."""
    gregor = make_installation("gregor", tz="Europe/Ljubljana")
    result = gregor.cli("send", "@claude", "tagged", "--tag", tag, "--tag", "ok")
    assert result.code == 3
    assert f"--tag {tag!r}" in result.err
    task_id = send_task(gregor, "tagged", ("under_score", "at@home", "ok"))
    (node,) = orgparse.load(str(gregor.views / AGENT_FILE))[1:]
    assert (node.heading, node.shallow_tags) == ("tagged", {"under_score", "at@home", "ok"})
    assert show(gregor, task_id)["tags"] == ["under_score", "at@home", "ok"]
