"""Attack: a task title that Emacs's agenda and local-variables scanner misread.

Task bodies break the tokens that consumers find anywhere in a line (``CLOSED:``, ``CLOCK:``,
``- State "``, ``Local Variables:``), but the heading's title did not: mallory's request titled
``CLOSED: [2026-01-01 Thu 10:00] ...`` made the owner's agenda log view list the task as closed on
that day, ``CLOCK: [..]--[..]`` as an hour clocked, and ``Local Variables: x`` set off Emacs's
file-local-variables scanner ("Local variables list is not properly terminated"). mallory sends
the requests from an installation of its own; gregor imports the export, as real processes. The
agent views are read back with orgparse (titles are the safe titles, no token in any heading
line) and, where Emacs is installed, with Emacs's agenda log view and file visit.
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

from datacore_msg.projections.orgtext import safe_title
from peers import ok

AGENT = "gregor-claude"
FORGED_DAY = "2026-01-01"
HOSTILE_TITLES = [
    f"CLOSED: [{FORGED_DAY} Thu 10:00] shipped already, nothing to do",
    f"CLOCK: [{FORGED_DAY} Thu 10:00]--[{FORGED_DAY} Thu 11:00] =>  1:00",
    f'- State "DONE"       from "TODO"       [{FORGED_DAY} Thu 10:00]',
    "Local Variables: x",
    "local variables: lower case too",
    f"see CLOSED: [{FORGED_DAY} Thu 10:00] in the middle",
]
#: What the consumers search heading lines for (Emacs: any case; agenda and orgparse: as written).
TOKEN = re.compile(r"(?i:local variables):|CLOCK:|CLOSED:|-\s+State\s+\"")


def agent_files(inst: Any) -> list[Path]:
    live = inst.views / "agents" / f"{AGENT}.org"
    return [live, *sorted((inst.views / "archive").glob(f"agents-{AGENT}-*.org_archive"))]


@pytest.fixture
def attacked(make_installation: Callable[..., Any], tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """gregor, after importing mallory's hostile requests; and task id -> text."""
    gregor = make_installation("gregor")
    mallory = make_installation("mallory")
    texts: dict[str, str] = {}
    for title in HOSTILE_TITLES:
        text = f"{title}\nthe body"
        sent = ok(mallory.run("send", "@gregor-claude", "--json", "--", text))
        texts[json.loads(sent.out)["data"]["id"]] = text
    export = tmp_path / "mallory.jsonl"
    ok(mallory.run("export", str(export)))
    ok(gregor.run("import", str(export)))
    return gregor, texts


def test_orgparse_reads_titles_without_tokens(attacked: tuple[Any, dict[str, str]]) -> None:
    gregor, texts = attacked
    seen = set()
    for path in agent_files(gregor):
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.startswith("*"):
                assert TOKEN.search(line) is None, line
        for node in orgparse.load(str(path))[1:]:
            task_id = node.properties["ID"]
            seen.add(task_id)
            # mallory is pinned nowhere: the title starts with the unverified sender's label
            assert node.heading == "From mallory (unverified): " + safe_title(texts[task_id])
            assert not node.clock
            assert not node.closed or str(node.closed.start.date()) != FORGED_DAY  # a real CLOSED only
    assert seen == set(texts)


AGENDA_SCRIPT = r""";;; -*- lexical-binding: t -*-
(require 'org)
(require 'org-agenda)
(setq enable-local-variables :all enable-local-eval t)
(let* ((args command-line-args-left)
       (out (car args))
       (day (cadr args))
       (files (cddr args))
       (visits nil))
  (setq command-line-args-left nil)
  (dolist (file files)
    (with-current-buffer (find-file-noselect file)
      (push (list :mode (symbol-name major-mode)
                  :local-variables (format "%S" file-local-variables-alist))
            visits)))
  (setq org-agenda-files files
        org-agenda-show-log t
        org-agenda-log-mode-items '(closed clock state)
        org-agenda-start-with-log-mode t)
  (org-agenda-list nil day 'day)
  (let ((agenda (buffer-substring-no-properties (point-min) (point-max)))
        (messages (with-current-buffer "*Messages*" (buffer-string)))
        (coding-system-for-write 'utf-8-unix))
    (write-region (json-encode (list :visits (vconcat (nreverse visits))
                                     :agenda agenda
                                     :messages messages))
                  nil out nil 'silent)))
"""


@pytest.mark.emacs
def test_emacs_agenda_and_local_variables_ignore_titles(
    attacked: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not on PATH (install emacs-nox to run the org-mode checks)")
    gregor, _ = attacked
    files = [str(path) for path in agent_files(gregor) if path.exists()]
    script = tmp_path / "agenda.el"
    script.write_text(AGENDA_SCRIPT, encoding="utf-8")
    out = tmp_path / "agenda.json"
    proc = subprocess.run(
        [emacs, "--batch", "-Q", "-l", str(script), str(out), FORGED_DAY, *files],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(tmp_path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    for visit in report["visits"]:
        assert visit["mode"] == "org-mode"
        assert visit["local-variables"] in ("nil", "((mode . org))")
    assert "Local variables" not in report["messages"] + proc.stderr
    agenda = report["agenda"]
    for logged in ("Closed:", "Clocked:", "State:"):
        assert logged not in agenda, agenda
