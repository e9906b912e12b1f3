"""A root moved or restored to another path (its state folder is found from the root's path): every
command says what happened and how to re-link instead of opening a new empty log, ``init`` makes no
second identity without ``--force``, and ``init --relink`` finds the key and the log again. Real
folders, the default state location under a per-test ``XDG_STATE_HOME``, the CLI through ``main``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.conftest import Installation, Result

from datacore_msg.app.relocation import RECORD
from datacore_msg.cli.exit_codes import Exit


def cli(root: Path, *args: str) -> Result:
    return Installation(name="gregor", root=root, state=root.parent / "unused").cli(*args)


def state_base() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "datacore-msg"


def set_up(tmp_path: Path) -> tuple[Path, Path]:
    """gregor's root at ``a`` with two events, then moved to ``b``; returns (b, a's state folder)."""
    old = tmp_path / "a"
    assert cli(old, "init", "--name", "gregor").code == 0
    assert cli(old, "send", "@claude", "remember me").code == 0
    (state,) = state_base().iterdir()
    new = tmp_path / "b"
    shutil.move(old, new)
    return new, state


def test_a_moved_root_says_where_its_state_is_and_how_to_relink(tmp_path: Path) -> None:
    root, state = set_up(tmp_path)
    for command in (("verify",), ("inbox",), ("send", "@claude", "x"), ("log",)):
        result = cli(root, *command)
        assert result.code == Exit.CONFIG, (command, result)
        assert result.err.count("\n") == 1
        assert "root was probably moved or restored" in result.err
        assert f"its key and log are in {state}" in result.err
        assert "`datacore-msg init --relink`" in result.err
    assert sorted(p.name for p in state_base().iterdir()) == [state.name]  # nothing new created

    refused = cli(root, "init", "--name", "gregor")
    assert refused.code == Exit.CONFIG and "no second identity" in refused.err
    assert sorted(p.name for p in state_base().iterdir()) == [state.name]

    linked = cli(root, "init", "--relink")
    assert linked.code == 0, linked
    assert f"signing key: {state / 'signing.key'}" in linked.out
    assert cli(root, "verify").out == "All 2 events verify.\n"
    assert "remember me" in cli(root, "tasks").out
    record = json.loads((root / ".datacore" / RECORD).read_text(encoding="utf-8"))
    assert record["state_dir"] == str(state)


def test_a_restored_root_without_a_record_names_the_candidates(tmp_path: Path) -> None:
    """A root from before the record existed: it has views but no state; the state folders of a root
    of the same name are named, and ``--relink --state-dir`` takes one."""
    old = tmp_path / "same"
    assert cli(old, "init", "--name", "gregor").code == 0
    assert cli(old, "send", "@claude", "old work").code == 0
    (state,) = state_base().iterdir()
    (old / ".datacore" / RECORD).unlink()
    restored = tmp_path / "restored" / "same"
    shutil.copytree(old, restored)
    result = cli(restored, "inbox")
    assert result.code == Exit.CONFIG
    assert f"state folders of a root of that name: {state}" in result.err
    assert "`datacore-msg init --relink --state-dir DIR`" in result.err
    assert cli(restored, "init", "--relink").code == Exit.CONFIG  # no record: the folder is needed
    linked = cli(restored, "init", "--relink", "--state-dir", str(state))
    assert linked.code == 0, linked
    assert "old work" in cli(restored, "tasks").out


def test_a_recorded_state_folder_that_is_gone_says_so(tmp_path: Path) -> None:
    root, state = set_up(tmp_path)
    shutil.rmtree(state)
    result = cli(root, "verify")
    assert result.code == Exit.CONFIG
    assert f"they were in {state}, which has no signing key now" in result.err


def test_init_force_starts_a_new_identity_on_purpose(tmp_path: Path) -> None:
    root, _ = set_up(tmp_path)
    forced = cli(root, "init", "--name", "gregor", "--force")
    assert forced.code == 0, forced
    assert "(new)" in forced.out
    assert len(list(state_base().iterdir())) == 2
    assert cli(root, "verify").code == 0


def test_a_root_that_stayed_put_reports_a_lost_key_as_a_lost_key(tmp_path: Path) -> None:
    root = tmp_path / "here"
    assert cli(root, "init", "--name", "gregor").code == 0
    (state,) = state_base().iterdir()
    (state / "signing.key").unlink()
    result = cli(root, "send", "@claude", "x")
    assert result.code == Exit.KEY, result
