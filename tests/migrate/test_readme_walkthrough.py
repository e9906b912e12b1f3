"""The README's "Importing your old files" runs as written: a v0.2 root (its settings, its views
folder, a v0.1 inboxes folder), then every command of the section's sh blocks, as a user types it."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from datacore_msg.cli.main import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### Importing your old files")
    return text[start : text.index("\n### ", start + 1)]


def commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", section(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def shown_output() -> list[str]:
    (block,) = re.findall(r"```\n(Imported.*?)```", section(), re.S)
    return [line for line in block.splitlines() if "…" not in line]


def run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


def test_the_walkthrough_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gregor: Any
) -> None:
    root = tmp_path / "Data"
    (root / ".datacore").mkdir(parents=True)
    (root / ".datacore" / "settings.local.yaml").write_text(
        "identity:\n  name: tex\nmessaging:\n  default_space: 1-datafund\n", encoding="utf-8"
    )
    space = root / "1-datafund"
    shutil.copytree(FIXTURES / "v02", space)
    shutil.copytree(FIXTURES / "v01" / "org" / "inboxes", space / "org" / "inboxes")
    monkeypatch.setenv("DATACORE_ROOT", str(root))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DATACORE_MSG_STATE", raising=False)
    monkeypatch.chdir(tmp_path)
    key = gregor.public_key

    listed = commands()
    assert listed[0] == "datacore-msg init --name tex --force"
    assert "datacore-msg migrate from-org" in listed and "datacore-msg migrate from-org --dry-run" in listed
    outputs: dict[str, str] = {}
    for line in listed:
        argv = shlex.split(line.replace(" KEY ", f" {key} "))
        assert argv[0] == "datacore-msg"
        code, output = run(argv[1:])
        assert code == 0, (line, output)
        outputs[line] = output

    imported = outputs["datacore-msg migrate from-org"]
    assert re.search(r"\.edited-\d{8}T\d{6}Z", imported)
    for expected in shown_output():
        # each file set aside has its own stamp (a run may cross a second between two files)
        pattern = re.escape(expected).replace("20260401T093000Z", r"\d{8}T\d{6}Z")
        assert re.search(pattern, imported), expected
    assert "Would import 10 message(s)" in outputs["datacore-msg migrate from-org --dry-run"]
    assert "gregor (imported)" in outputs["datacore-msg inbox --all"]
    assert "no key pinned" in outputs["datacore-msg contacts list"]
    assert (root / ".datacore" / "settings.local.yaml.bak").exists()
    # init's warnings say what the kept-aside files are (v0.2's, never "edited by hand")
    init = outputs["datacore-msg init --name tex --force"]
    assert "edited by hand" not in init, init
    for name in ("inbox.org", "agents/tex-claude.org"):
        assert f"{name} was not written by datacore-msg" in init and "migrate from-org" in init
